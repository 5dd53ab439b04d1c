package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/benchload"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// benchSummary is node bench's summary; --json prints it as is. Times are in
// milliseconds or seconds as their names say.
type benchSummary struct {
	Target         string  `json:"target"`
	Activities     int     `json:"activities_per_orchestration"`
	WorkMs         int64   `json:"activity_ms"`
	InFlight       int     `json:"inflight"`
	Orchestrations int     `json:"orchestrations"`
	Failed         int     `json:"failed"`
	FirstError     string  `json:"first_error,omitempty"`
	ActivitiesDone int     `json:"activities"`
	ElapsedSec     float64 `json:"elapsed_s"`
	OrchPerSec     float64 `json:"orchestrations_per_s"`
	ActPerSec      float64 `json:"activities_per_s"`
	P50Ms          float64 `json:"p50_ms"`
	P95Ms          float64 `json:"p95_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	// LagRecords and LagSec are how far the management views were behind the
	// history stream right after the last result; LagError says why they are
	// missing.
	LagRecords uint64  `json:"projector_lag_records"`
	AppliedSeq uint64  `json:"projector_applied_seq"`
	LastSeq    uint64  `json:"history_last_seq"`
	LagSec     float64 `json:"projector_lag_s"`
	LagError   string  `json:"projector_lag_error,omitempty"`
	// CPUSec is this process's user+system CPU time (with --nats-url: the client
	// side only).
	CPUSec    float64 `json:"cpu_s"`
	CPUUser   float64 `json:"cpu_user_s"`
	CPUSystem float64 `json:"cpu_system_s"`
	// DiskBytes is the size of the embedded node's data directory (0 with
	// --nats-url: the server's disk is not ours to read).
	DiskBytes int64 `json:"disk_bytes"`
}

// runBench runs the reference workload (internal/benchload) against a throwaway
// embedded node or, with --nats-url, against running nodes, and prints a summary.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("bench", "bench [--activities N] [--work D] [--inflight C] [--duration T | --count K] [--json] [--nats-url URL | --cluster N] [--cpuprofile FILE]\n       node bench --idle N [--restart] [--sample K] [--settle D] [--inflight C] [--json] [--memprofile FILE]", stdout)
	activities := fs.Int("activities", 5, "activities each orchestration runs in parallel")
	work := fs.Duration("work", 10*time.Millisecond, "how long each activity takes (whole milliseconds)")
	inflight := fs.Int("inflight", 20, "orchestrations in flight at once")
	duration := fs.Duration("duration", 20*time.Second, "how long to start new orchestrations (the running ones then finish)")
	count := fs.Int("count", 0, "run this many orchestrations instead of for --duration")
	timeout := fs.Duration("timeout", benchload.DefaultTimeout, "how long one orchestration may take before it counts as failed")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	dataDir := fs.String("data-dir", "", "embedded node's data `directory` (default: a temporary one, removed on exit)")
	natsURL := fs.String("nats-url", "", "drive running nodes at this NATS `URL` instead of an embedded node")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (node, embedded server and client) to `file`")
	cluster := fs.Int("cluster", 1, "run `N` in-process nodes whose embedded servers form one cluster (streams of min(N, 3) replicas) instead of one")
	idle := fs.Int("idle", 0, "instead of the fan-out: start `N` instances that wait for an event and report memory (embedded node only)")
	restart := fs.Bool("restart", false, "with --idle: restart the node on its data directory and time it")
	sample := fs.Int("sample", 100, "with --idle: how many random waiting instances to raise, before and after --restart")
	settle := fs.Duration("settle", 0, "with --idle: wait this long with every instance waiting, then measure the memory again")
	partitions := fs.Int("partitions", 16, "with --idle: the embedded node's inbox partitions")
	memProfile := fs.String("memprofile", "", "with --idle: write a heap profile to `FILE` once every instance waits (and to FILE.settled after --settle, FILE.restarted after --restart)")
	var conn connFlags
	conn.register(fs.FlagSet)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if fs.isSet("idle") {
		for _, f := range []string{"activities", "work", "duration", "count", "nats-url", "cluster", "cpuprofile"} {
			if fs.isSet(f) {
				return usageErrorf("--%s does not apply to --idle: %v", f, errIdleFlags)
			}
		}
		switch {
		case *idle < 1:
			return usageErrorf("--idle must be at least 1, got %d", *idle)
		case *inflight < 1:
			return usageErrorf("--inflight must be at least 1, got %d", *inflight)
		case *sample < 0:
			return usageErrorf("--sample must not be negative, got %d", *sample)
		case *partitions < 1:
			return usageErrorf("--partitions must be at least 1, got %d", *partitions)
		case *settle < 0:
			return usageErrorf("--settle must not be negative, got %s", *settle)
		case *timeout <= 0:
			return usageErrorf("--timeout must be positive, got %s", *timeout)
		}
		return runBenchIdle(ctx, idleConfig{Instances: *idle, InFlight: *inflight, Partitions: *partitions, Sample: *sample,
			Restart: *restart, Settle: *settle, Timeout: *timeout, DataDir: *dataDir, Namespace: conn.namespace, MemProfile: *memProfile, JSON: *asJSON},
			stdout, stderr)
	}
	for _, f := range []string{"restart", "sample", "partitions", "memprofile", "settle"} {
		if fs.isSet(f) {
			return usageErrorf("--%s applies only to --idle", f)
		}
	}
	cfg := benchload.Config{Activities: *activities, Work: *work, InFlight: *inflight, Count: *count, Timeout: *timeout,
		IDPrefix: fmt.Sprintf("bench-%d-", time.Now().UnixNano())}
	if *count == 0 {
		cfg.Duration = *duration
	}
	if *count > 0 && fs.isSet("duration") {
		return usageErrorf("give --duration or --count, not both")
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	if *natsURL != "" && *dataDir != "" {
		return usageErrorf("--data-dir is for the embedded node; with --nats-url the nodes keep their own data")
	}
	if *cluster < 1 || *cluster > maxBenchCluster {
		return usageErrorf("--cluster must be from 1 to %d, got %d", maxBenchCluster, *cluster)
	}
	if *natsURL != "" && fs.isSet("cluster") {
		return usageErrorf("--cluster starts nodes of its own; with --nats-url the nodes are already running")
	}

	var c *duroxide.Client
	sum := benchSummary{Activities: cfg.Activities, WorkMs: work.Milliseconds(), InFlight: cfg.InFlight}
	dir := *dataDir
	if *natsURL != "" {
		nc, err := conn.connect(*natsURL, "duroxide-node-bench")
		if err != nil {
			return err
		}
		defer nc.Close()
		if c, err = duroxide.NewClient(ctx, nc, duroxide.ClientOptions{Namespace: conn.namespace}); err != nil {
			return fmt.Errorf("open duroxide client on %s: %w", *natsURL, err)
		}
		sum.Target = "nodes at " + *natsURL
	} else {
		if dir == "" {
			if dir, err = os.MkdirTemp("", "duroxide-bench-"); err != nil {
				return err
			}
			defer os.RemoveAll(dir)
		}
		reg := duroxide.NewRegistry()
		if err := demo.Register(reg); err != nil {
			return err
		}
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		var shutdown func(context.Context) error
		if *cluster > 1 {
			rts, stop, err := startBenchCluster(ctx, reg, *cluster, dir, conn.namespace, logger)
			if err != nil {
				return err
			}
			c, shutdown = rts[0].Client(), stop
			sum.Target = fmt.Sprintf("%d in-process nodes, clustered embedded servers, R%d file storage, default options", *cluster, min(*cluster, 3))
		} else {
			rt, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir, Logger: logger, Namespace: conn.namespace})
			if err != nil {
				return err
			}
			c, shutdown = rt.Client(), rt.Shutdown
			sum.Target = "embedded node, file storage, default options"
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if serr := shutdown(sctx); serr != nil && err == nil {
				err = fmt.Errorf("shutdown: %w", serr)
			}
		}()
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	what := fmt.Sprintf("for %s", cfg.Duration)
	if cfg.Count > 0 {
		what = fmt.Sprintf("%d orchestrations", cfg.Count)
	}
	fmt.Fprintf(stderr, "node bench: %s of %d activities x %s, %d in flight, %s, %s\n",
		demo.BenchFanOut, cfg.Activities, cfg.Work, cfg.InFlight, what, sum.Target)
	cfg.Progress = func(p benchload.Progress) {
		views := "views: lag unknown"
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		if lag, err := c.ProjectorLag(lctx); err == nil {
			views = fmt.Sprintf("views %d records, %.1fs behind", lag.Records, lag.Behind.Seconds())
		}
		cancel()
		fmt.Fprintf(stderr, "%4.0fs %8d done %8.1f/s %5d in flight  median %-8s  %s\n",
			p.Elapsed.Seconds(), p.Completed, p.Rate, p.InFlight, p.Median.Round(100*time.Microsecond), views)
	}
	res, runErr := benchload.Run(ctx, c, cfg)
	if res == nil {
		return runErr
	}
	sum.fill(res)
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if lag, err := c.ProjectorLag(lctx); err != nil {
		sum.LagError = oneLine(err.Error())
	} else {
		sum.LagRecords, sum.LagSec = lag.Records, lag.Behind.Seconds()
		sum.AppliedSeq, sum.LastSeq = lag.AppliedSeq, lag.LastSeq
	}
	sum.CPUUser, sum.CPUSystem = cpuSeconds()
	sum.CPUSec = sum.CPUUser + sum.CPUSystem
	if *natsURL == "" {
		if sum.DiskBytes, err = dirBytes(dir); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		sum.print(stdout)
	}
	if runErr != nil {
		return runErr
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d orchestrations failed; first: %s", sum.Failed, sum.Orchestrations, sum.FirstError)
	}
	return nil
}

func (s *benchSummary) fill(r *benchload.Result) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.Orchestrations, s.Failed, s.ActivitiesDone = r.Orchestrations, r.Failed, r.Activities
	if r.FirstError != nil {
		s.FirstError = oneLine(r.FirstError.Error())
	}
	s.ElapsedSec, s.OrchPerSec, s.ActPerSec = r.Elapsed.Seconds(), r.OrchestrationsPerSec, r.ActivitiesPerSec
	s.P50Ms, s.P95Ms, s.P99Ms, s.MaxMs = ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max)
}

// print writes the summary table.
func (s *benchSummary) print(w io.Writer) {
	const row = "%-22s %s\n"
	fmt.Fprintf(w, row, "target", s.Target)
	fmt.Fprintf(w, row, "workload", fmt.Sprintf("%s: %d activities x %d ms, %d in flight", demo.BenchFanOut, s.Activities, s.WorkMs, s.InFlight))
	fmt.Fprintf(w, row, "orchestrations", fmt.Sprintf("%d in %.1f s (%d failed)", s.Orchestrations, s.ElapsedSec, s.Failed))
	fmt.Fprintf(w, row, "orchestrations/s", fmt.Sprintf("%.1f", s.OrchPerSec))
	fmt.Fprintf(w, row, "activities/s", fmt.Sprintf("%.1f", s.ActPerSec))
	fmt.Fprintf(w, row, "start-to-result", fmt.Sprintf("p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms", s.P50Ms, s.P95Ms, s.P99Ms, s.MaxMs))
	lag := fmt.Sprintf("%d of %d history records, %.2f s behind", s.LagRecords, s.LastSeq, s.LagSec)
	if s.LagError != "" {
		lag = "unknown: " + s.LagError
	}
	fmt.Fprintf(w, row, "projector lag at end", lag)
	fmt.Fprintf(w, row, "CPU (this process)", fmt.Sprintf("%.1f s (user %.1f, system %.1f)", s.CPUSec, s.CPUUser, s.CPUSystem))
	disk := "n/a (nodes at --nats-url)"
	if s.DiskBytes > 0 {
		disk = fmt.Sprintf("%.1f MiB", float64(s.DiskBytes)/(1<<20))
	}
	fmt.Fprintf(w, row, "data on disk", disk)
}

// startCPUProfile starts writing a CPU profile to path; stop ends it and closes
// the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// cpuSeconds returns this process's user and system CPU time so far.
func cpuSeconds() (user, system float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime), tv(ru.Stime)
}

// dirBytes returns the total size of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a compacted block)
			}
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return n, nil
}
