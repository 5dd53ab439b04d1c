// Package benchload is the reference workload that node bench and BenchmarkFanOut
// share: instances of [demo.BenchFanOut] (a fan-out of N activities of D each), C of
// them in flight at once, for a duration or a count, with the start-to-result
// latency of each.
package benchload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// Config is a workload. Exactly one of Duration and Count is set.
type Config struct {
	// Activities is how many activities each orchestration runs in parallel.
	Activities int
	// Work is how long each activity takes.
	Work time.Duration
	// InFlight is how many instances run at once.
	InFlight int
	// Duration is how long new instances are started (the ones then running still
	// finish and count).
	Duration time.Duration
	// Count is how many instances to run in all.
	Count int
	// IDPrefix starts every instance id; ids are IDPrefix followed by a number.
	IDPrefix string
	// Run runs one instance to its end. Nil means [ClientRunner] of the client
	// given to [Run], with Timeout.
	Run RunFunc
	// Timeout bounds one instance under the default Run (0: [DefaultTimeout]).
	Timeout time.Duration
	// Progress, if set, is called about once a second while the workload runs,
	// from one goroutine.
	Progress func(Progress)
}

// RunFunc starts the instance id of [demo.BenchFanOut] with in and returns when it
// has finished; an error means it failed or could not be run.
type RunFunc func(ctx context.Context, id string, in demo.BenchFanOutInput) error

// Progress is the state of a running workload.
type Progress struct {
	Elapsed time.Duration
	// Completed counts the instances finished so far (failed ones included).
	Completed int
	// Rate is the instances finished per second over the last interval.
	Rate     float64
	InFlight int
	// Median is the median start-to-result latency so far.
	Median time.Duration
}

// Result is a finished workload's measurements.
type Result struct {
	// Orchestrations counts the instances that finished (completed or failed).
	Orchestrations int
	// Failed counts the instances that failed; FirstError is the first failure.
	Failed     int
	FirstError error
	// Activities is Orchestrations × the configured activities.
	Activities int
	// Elapsed is from the first start to the last result.
	Elapsed time.Duration
	// OrchestrationsPerSec and ActivitiesPerSec are over Elapsed.
	OrchestrationsPerSec, ActivitiesPerSec float64
	// P50, P95, P99 and Max are start-to-result latencies (nearest rank).
	P50, P95, P99, Max time.Duration
}

// DefaultTimeout is how long [ClientRunner] lets one instance take when given none.
const DefaultTimeout = time.Minute

// ClientRunner runs an instance as a user would: StartOrchestration, then
// WaitForOrchestration; the instance must complete with every activity done
// within timeout (0: [DefaultTimeout]).
func ClientRunner(c *duroxide.Client, timeout time.Duration) RunFunc {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return func(ctx context.Context, id string, in demo.BenchFanOutInput) error {
		ictx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := c.StartOrchestration(ictx, id, demo.BenchFanOut, in); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		st, err := c.WaitForOrchestration(ictx, id)
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("instance %s did not finish within %s (do the nodes serve %s? node serve does): %w",
				id, timeout, demo.BenchFanOut, err)
		}
		if err != nil {
			return fmt.Errorf("wait for %s: %w", id, err)
		}
		var done int
		if err := st.Decode(&done); err != nil {
			return err
		}
		if done != in.Activities {
			return fmt.Errorf("instance %s returned %d, want %d activities done", id, done, in.Activities)
		}
		return nil
	}
}

// Validate checks cfg and names the first wrong field.
func (cfg *Config) Validate() error {
	switch {
	case cfg.Activities < 0:
		return fmt.Errorf("benchload: activities must not be negative, got %d", cfg.Activities)
	case cfg.Activities > demo.MaxFan:
		return fmt.Errorf("benchload: activities must be at most %d (the workload's limit), got %d", demo.MaxFan, cfg.Activities)
	case cfg.Work < 0:
		return fmt.Errorf("benchload: activity duration must not be negative, got %s", cfg.Work)
	case cfg.Work%time.Millisecond != 0:
		return fmt.Errorf("benchload: activity duration must be whole milliseconds, got %s", cfg.Work)
	case cfg.InFlight < 1:
		return fmt.Errorf("benchload: in-flight count must be at least 1, got %d", cfg.InFlight)
	case cfg.Count < 0:
		return fmt.Errorf("benchload: count must not be negative, got %d", cfg.Count)
	case cfg.Timeout < 0:
		return fmt.Errorf("benchload: timeout must not be negative, got %s", cfg.Timeout)
	case cfg.Duration < 0:
		return fmt.Errorf("benchload: duration must not be negative, got %s", cfg.Duration)
	case (cfg.Count == 0) == (cfg.Duration == 0):
		return errors.New("benchload: give either a count or a duration")
	}
	return nil
}

// Run runs the workload through c (or cfg.Run) and returns its measurements. It
// returns early, with what was measured and ctx's error, when ctx ends. Failed
// instances are counted in the result, not returned as an error.
func Run(ctx context.Context, c *duroxide.Client, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	run := cfg.Run
	if run == nil {
		if c == nil {
			return nil, errors.New("benchload: no client and no Run function")
		}
		run = ClientRunner(c, cfg.Timeout)
	}
	in := demo.BenchFanOutInput{Activities: cfg.Activities, WorkMs: int(cfg.Work / time.Millisecond)}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    int
		firstErr  error
		next      atomic.Int64
		inFlight  atomic.Int64
	)
	begin := time.Now()
	deadline := begin.Add(cfg.Duration)
	take := func() (int64, bool) {
		if ctx.Err() != nil {
			return 0, false
		}
		if cfg.Count > 0 {
			i := next.Add(1) - 1
			return i, i < int64(cfg.Count)
		}
		return next.Add(1) - 1, time.Now().Before(deadline)
	}
	var workers sync.WaitGroup
	for range cfg.InFlight {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				inFlight.Add(1)
				t0 := time.Now()
				err := run(ctx, fmt.Sprintf("%s%d", cfg.IDPrefix, i), in)
				d := time.Since(t0)
				inFlight.Add(-1)
				if err != nil && ctx.Err() != nil {
					return // interrupted, not failed
				}
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
			}
		}()
	}

	finished := make(chan struct{})
	var reporter sync.WaitGroup
	if cfg.Progress != nil {
		reporter.Add(1)
		go func() {
			defer reporter.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			last, lastAt := 0, begin
			for {
				select {
				case <-finished:
					return
				case now := <-tick.C:
					mu.Lock()
					done := len(latencies)
					sorted := slices.Clone(latencies)
					mu.Unlock()
					slices.Sort(sorted)
					cfg.Progress(Progress{Elapsed: now.Sub(begin), Completed: done,
						Rate: float64(done-last) / now.Sub(lastAt).Seconds(), InFlight: int(inFlight.Load()),
						Median: percentile(sorted, 0.50)})
					last, lastAt = done, now
				}
			}
		}()
	}
	workers.Wait()
	elapsed := time.Since(begin)
	close(finished)
	reporter.Wait()

	slices.Sort(latencies)
	res := &Result{Orchestrations: len(latencies), Failed: failed, FirstError: firstErr,
		Activities: len(latencies) * cfg.Activities, Elapsed: elapsed,
		P50: percentile(latencies, 0.50), P95: percentile(latencies, 0.95), P99: percentile(latencies, 0.99)}
	if n := len(latencies); n > 0 {
		res.Max = latencies[n-1]
	}
	if s := elapsed.Seconds(); s > 0 {
		res.OrchestrationsPerSec = float64(res.Orchestrations) / s
		res.ActivitiesPerSec = float64(res.Activities) / s
	}
	return res, ctx.Err()
}

// percentile returns the nearest-rank p-quantile of sorted, 0 when it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
