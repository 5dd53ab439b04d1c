package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// idleConfig is node bench --idle's workload: Instances instances of
// [demo.BenchIdle] started InFlight at a time on an embedded node, each waiting
// for an event; then Sample raises, before and (with Restart) after restarting the
// node on the same data directory.
type idleConfig struct {
	Instances  int
	InFlight   int
	Partitions int
	Sample     int
	Restart    bool
	// Settle is how long to wait with every instance waiting before measuring the
	// memory again (cached engines are dropped after CachedInstanceIdleTimeout).
	Settle     time.Duration
	Timeout    time.Duration
	DataDir    string
	Namespace  string
	MemProfile string
	JSON       bool
}

// memSample is the process's memory as the operating system and the Go runtime see
// it. The node and its embedded NATS server share the process, so RSS counts both.
type memSample struct {
	// RSSBytes and RSSPeakBytes are VmRSS and VmHWM of /proc/self/status (0
	// where there is no /proc).
	RSSBytes     int64 `json:"rss_bytes"`
	RSSPeakBytes int64 `json:"rss_peak_bytes"`
	// HeapInuseBytes is the Go heap in use after a collection (runtime.MemStats).
	HeapInuseBytes uint64 `json:"heap_inuse_bytes"`
	Goroutines     int    `json:"goroutines"`
}

// raiseSample is the time from RaiseEvent to WaitForOrchestration's Completed result
// for randomly chosen waiting instances, one after the other.
type raiseSample struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	MaxMs float64 `json:"max_ms"`
}

// streamSize is one stream's size as the server reports it.
type streamSize struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	Subjects uint64 `json:"subjects"`
}

// streamSizes lists the sizes of the streams on nc's server.
func streamSizes(ctx context.Context, nc *nats.Conn) ([]streamSize, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []streamSize
	lister := js.ListStreams(ctx)
	for si := range lister.Info() {
		out = append(out, streamSize{Name: si.Config.Name, Messages: si.State.Msgs, Bytes: si.State.Bytes, Subjects: si.State.NumSubjects})
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	slices.SortFunc(out, func(a, b streamSize) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// restartSummary is what --restart measured: the node shut down and started again
// on the same data directory.
type restartSummary struct {
	ShutdownSec float64 `json:"shutdown_s"`
	// StartSec is how long duroxide.Start took; AllPartitionsSec is from calling
	// Start until the node owned every inbox partition.
	StartSec         float64     `json:"start_s"`
	AllPartitionsSec float64     `json:"all_partitions_s"`
	Raise            raiseSample `json:"raise"`
	Memory           memSample   `json:"memory"`
}

// idleSummary is node bench --idle's summary; --json prints it as is.
type idleSummary struct {
	Target     string `json:"target"`
	Instances  int    `json:"instances"`
	InFlight   int    `json:"inflight"`
	Partitions int    `json:"partitions"`
	// Waiting counts the instances seen Running and waiting for their event.
	Waiting    int     `json:"waiting"`
	Failed     int     `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
	CreateSec  float64 `json:"create_s"`
	CreatePerS float64 `json:"create_per_s"`
	// Loaded is the memory with every instance waiting; Raise the raises then.
	Loaded    memSample `json:"loaded"`
	DiskBytes int64     `json:"disk_bytes"`
	// SettleSec and Settled are the wait of --settle and the memory after it.
	SettleSec float64    `json:"settle_s,omitempty"`
	Settled   *memSample `json:"settled,omitempty"`
	// Streams are the namespace's streams then: the embedded server keeps an
	// in-memory index entry per subject of each.
	Streams []streamSize    `json:"streams"`
	Raise   raiseSample     `json:"raise"`
	Restart *restartSummary `json:"restart,omitempty"`
	CPUSec  float64         `json:"cpu_s"`
}

// runBenchIdle runs node bench --idle.
func runBenchIdle(ctx context.Context, cfg idleConfig, stdout, stderr io.Writer) (err error) {
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "duroxide-bench-idle-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		return err
	}
	opts := duroxide.Options{DataDir: dir, Namespace: cfg.Namespace, Partitions: cfg.Partitions,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	rt, err := duroxide.Start(ctx, reg, opts)
	if err != nil {
		return err
	}
	defer func() {
		if rt == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := rt.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}()
	sum := idleSummary{Target: "embedded node, file storage, default options", Instances: cfg.Instances,
		InFlight: cfg.InFlight, Partitions: cfg.Partitions}
	fmt.Fprintf(stderr, "node bench --idle: %d instances of %s waiting for event %q, %d started at once, %s\n",
		cfg.Instances, demo.BenchIdle, demo.BenchIdleEvent, cfg.InFlight, sum.Target)

	prefix := fmt.Sprintf("idle-%d-", time.Now().UnixNano())
	id := func(i int) string { return fmt.Sprintf("%s%d", prefix, i) }
	waiting, failed, elapsed, firstErr := loadIdle(ctx, rt.Client(), cfg, id, stderr)
	sum.Waiting, sum.Failed, sum.CreateSec = waiting, failed, elapsed.Seconds()
	if firstErr != nil {
		sum.FirstError = oneLine(firstErr.Error())
	}
	if elapsed > 0 {
		sum.CreatePerS = float64(waiting) / elapsed.Seconds()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	sum.Loaded = sampleMemory()
	if cfg.MemProfile != "" {
		if err := writeHeapProfile(cfg.MemProfile); err != nil {
			return err
		}
	}
	if sum.DiskBytes, err = dirBytes(dir); err != nil {
		return err
	}
	if sum.Streams, err = streamSizes(ctx, rt.Conn()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "loaded: %d waiting, RSS %.1f MiB, heap %.1f MiB, %d goroutines, %.1f MiB on disk\n",
		waiting, mib(sum.Loaded.RSSBytes), mib(int64(sum.Loaded.HeapInuseBytes)), sum.Loaded.Goroutines, mib(sum.DiskBytes))

	if cfg.Settle > 0 {
		fmt.Fprintf(stderr, "settling for %s\n", cfg.Settle)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Settle):
		}
		m := sampleMemory()
		sum.SettleSec, sum.Settled = cfg.Settle.Seconds(), &m
		if cfg.MemProfile != "" {
			if err := writeHeapProfile(cfg.MemProfile + ".settled"); err != nil {
				return err
			}
		}
		fmt.Fprintf(stderr, "settled: RSS %.1f MiB, heap %.1f MiB, %d goroutines\n", mib(m.RSSBytes), mib(int64(m.HeapInuseBytes)), m.Goroutines)
	}
	// Disjoint random samples before and after the restart: a raised instance
	// completes and is no longer waiting.
	perm := rand.Perm(cfg.Instances)
	sample := func() []string {
		n := min(cfg.Sample, len(perm))
		ids := make([]string, n)
		for i := range ids {
			ids[i] = id(perm[i])
		}
		perm = perm[n:]
		return ids
	}
	if sum.Raise, err = raiseEach(ctx, rt.Client(), sample(), cfg.Timeout); err != nil {
		return err
	}
	if cfg.Restart {
		t0 := time.Now()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		serr := rt.Shutdown(sctx)
		cancel()
		rt = nil
		if serr != nil {
			return fmt.Errorf("shutdown before the restart: %w", serr)
		}
		rs := &restartSummary{ShutdownSec: time.Since(t0).Seconds()}
		t1 := time.Now()
		if rt, err = duroxide.Start(ctx, reg, opts); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		rs.StartSec = time.Since(t1).Seconds()
		if err := waitAllPartitions(ctx, rt, cfg.Partitions, cfg.Timeout); err != nil {
			return err
		}
		rs.AllPartitionsSec = time.Since(t1).Seconds()
		fmt.Fprintf(stderr, "restarted: Start %.2f s, all %d partitions served after %.2f s\n", rs.StartSec, cfg.Partitions, rs.AllPartitionsSec)
		if rs.Raise, err = raiseEach(ctx, rt.Client(), sample(), cfg.Timeout); err != nil {
			return err
		}
		rs.Memory = sampleMemory()
		sum.Restart = rs
		if cfg.MemProfile != "" {
			if err := writeHeapProfile(cfg.MemProfile + ".restarted"); err != nil {
				return err
			}
		}
	}
	user, system := cpuSeconds()
	sum.CPUSec = user + system
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		sum.print(stdout)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d instances did not start waiting; first: %s", sum.Failed, sum.Instances, sum.FirstError)
	}
	return nil
}

// loadIdle starts cfg.Instances instances of demo.BenchIdle, cfg.InFlight at a
// time, each counted when its first turn is committed (its custom status says it
// waits). It prints a progress line a second on stderr.
func loadIdle(ctx context.Context, c *duroxide.Client, cfg idleConfig, id func(int) string, stderr io.Writer) (waiting, failed int, elapsed time.Duration, firstErr error) {
	var (
		next, done, nfailed atomic.Int64
		mu                  sync.Mutex
	)
	begin := time.Now()
	var workers sync.WaitGroup
	for range cfg.InFlight {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Instances || ctx.Err() != nil {
					return
				}
				if err := startIdle(ctx, c, id(i), cfg.Timeout); err != nil {
					if ctx.Err() != nil {
						return
					}
					nfailed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				done.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	var reporter sync.WaitGroup
	reporter.Add(1)
	go func() {
		defer reporter.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastAt := int64(0), begin
		for {
			select {
			case <-finished:
				return
			case now := <-tick.C:
				d := done.Load()
				rss, _ := procRSS()
				fmt.Fprintf(stderr, "%5.0fs %9d waiting %8.1f/s  RSS %7.1f MiB  %6d goroutines\n",
					now.Sub(begin).Seconds(), d, float64(d-last)/now.Sub(lastAt).Seconds(), mib(rss), runtime.NumGoroutine())
				last, lastAt = d, now
			}
		}
	}()
	workers.Wait()
	elapsed = time.Since(begin)
	close(finished)
	reporter.Wait()
	return int(done.Load()), int(nfailed.Load()), elapsed, firstErr
}

// startIdle starts one BenchIdle instance and returns once it waits for its event.
func startIdle(ctx context.Context, c *duroxide.Client, id string, timeout time.Duration) error {
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.StartOrchestration(ictx, id, demo.BenchIdle, nil); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	st, err := c.WaitForStatusChange(ictx, id, 0)
	if err != nil {
		return fmt.Errorf("wait for %s to run: %w", id, err)
	}
	if st.State != duroxide.StateRunning || st.CustomStatus == nil || *st.CustomStatus != demo.BenchIdleWaiting {
		return fmt.Errorf("instance %s is %s, not Running and waiting", id, st.State)
	}
	return nil
}

// raiseEach raises BenchIdleEvent for each instance, one after the other, and times
// each from the raise to its Completed result.
func raiseEach(ctx context.Context, c *duroxide.Client, ids []string, timeout time.Duration) (raiseSample, error) {
	lat := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		ictx, cancel := context.WithTimeout(ctx, timeout)
		t0 := time.Now()
		err := c.RaiseEvent(ictx, id, demo.BenchIdleEvent, "go")
		var st *duroxide.Status
		if err == nil {
			st, err = c.WaitForOrchestration(ictx, id)
		}
		d := time.Since(t0)
		cancel()
		if err != nil {
			return raiseSample{}, fmt.Errorf("raise %s: %w", id, err)
		}
		if st.State != duroxide.StateCompleted {
			return raiseSample{}, fmt.Errorf("raised %s, which ended %s, not Completed", id, st.State)
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s := raiseSample{Count: len(lat)}
	if n := len(lat); n > 0 {
		s.P50Ms, s.MaxMs = ms(lat[(n+1)/2-1]), ms(lat[n-1])
	}
	return s, nil
}

// waitAllPartitions waits until rt owns all n inbox partitions.
func waitAllPartitions(ctx context.Context, rt *duroxide.Runtime, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(rt.Partitions()) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("after the restart the node serves %d of %d partitions after %s", len(rt.Partitions()), n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// sampleMemory collects garbage and reads the process's memory.
func sampleMemory() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := procRSS()
	return memSample{RSSBytes: rss, RSSPeakBytes: hwm, HeapInuseBytes: ms.HeapInuse, Goroutines: runtime.NumGoroutine()}
}

// procRSS returns VmRSS and VmHWM of /proc/self/status in bytes (0, 0 without it).
func procRSS() (rss, hwm int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	return parseProcStatus(b)
}

// parseProcStatus reads VmRSS and VmHWM (in kB) from a /proc/PID/status text.
func parseProcStatus(b []byte) (rss, hwm int64) {
	for len(b) > 0 {
		line := b
		if i := slices.Index(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		var kb int64
		if n, _ := fmt.Sscanf(string(line), "VmRSS: %d kB", &kb); n == 1 {
			rss = kb << 10
		} else if n, _ := fmt.Sscanf(string(line), "VmHWM: %d kB", &kb); n == 1 {
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return f.Close()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// print writes the idle summary table.
func (s *idleSummary) print(w io.Writer) {
	const row = "%-30s %s\n"
	mem := func(m memSample) string {
		return fmt.Sprintf("RSS %.1f MiB (peak %.1f), heap in use %.1f MiB, %d goroutines",
			mib(m.RSSBytes), mib(m.RSSPeakBytes), mib(int64(m.HeapInuseBytes)), m.Goroutines)
	}
	raise := func(r raiseSample) string {
		return fmt.Sprintf("%d raises one at a time: p50 %.1f ms, max %.1f ms", r.Count, r.P50Ms, r.MaxMs)
	}
	fmt.Fprintf(w, row, "target", s.Target)
	fmt.Fprintf(w, row, "workload", fmt.Sprintf("%d instances of %s waiting for an event, %d started at once, %d partitions",
		s.Instances, demo.BenchIdle, s.InFlight, s.Partitions))
	fmt.Fprintf(w, row, "waiting", fmt.Sprintf("%d in %.1f s, %.1f/s (%d failed)", s.Waiting, s.CreateSec, s.CreatePerS, s.Failed))
	fmt.Fprintf(w, row, "memory, all waiting", mem(s.Loaded))
	if s.Settled != nil {
		fmt.Fprintf(w, row, fmt.Sprintf("memory, %.0f s later", s.SettleSec), mem(*s.Settled))
	}
	fmt.Fprintf(w, row, "data on disk", fmt.Sprintf("%.1f MiB", mib(s.DiskBytes)))
	for _, st := range s.Streams {
		fmt.Fprintf(w, row, "stream "+st.Name, fmt.Sprintf("%d messages, %.1f MiB, %d subjects", st.Messages, mib(int64(st.Bytes)), st.Subjects))
	}
	fmt.Fprintf(w, row, "raise to result", raise(s.Raise))
	if r := s.Restart; r != nil {
		fmt.Fprintf(w, row, "restart", fmt.Sprintf("shutdown %.2f s, Start %.2f s, all partitions served %.2f s after Start", r.ShutdownSec, r.StartSec, r.AllPartitionsSec))
		fmt.Fprintf(w, row, "raise to result, restarted", raise(r.Raise))
		fmt.Fprintf(w, row, "memory, restarted", mem(r.Memory))
	}
	fmt.Fprintf(w, row, "CPU (this process)", fmt.Sprintf("%.1f s", s.CPUSec))
}

var errIdleFlags = errors.New("--idle runs on an embedded node and takes only --inflight, --timeout, --data-dir, --namespace, --restart, --sample, --partitions, --memprofile and --json")
