package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/testknobs"
	"github.com/duroxide-go/duroxide/jetstream"
)

// durableRegistry registers the orchestrations the durability tests restart:
// one waiting on an activity, one on a timer, one on an external event. release
// decides when the activity may return (it never returns while release is nil).
func durableRegistry(t *testing.T, release <-chan struct{}, runs *atomic.Int32) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Slow", func(ctx *duroxide.ActivityContext, in string) (string, error) {
		runs.Add(1)
		select {
		case <-release:
			return "slow:" + in, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}))
	must(t, duroxide.RegisterOrchestration(reg, "OnActivity", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Slow", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "OnTimer", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if err := ctx.ScheduleTimer(1500 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		return "timer-fired", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "OnEvent", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		v, err := duroxide.Await[string](ctx.WaitForEvent("go"))
		return "event:" + v, err
	}))
	return reg
}

// countEvents counts the events of each type in an instance's latest execution.
func countEvents(t *testing.T, c *duroxide.Client, id string) map[history.EventType]int {
	t.Helper()
	evs, err := c.ReadHistory(context.Background(), id, 0)
	must(t, err)
	n := map[history.EventType]int{}
	for i, e := range evs {
		n[e.Type]++
		if e.EventID != uint64(i+1) {
			t.Fatalf("%s: event %d has id %d; history must be contiguous", id, i, e.EventID)
		}
	}
	return n
}

// TestRestartResumesWaitingInstances stops a runtime while instances wait on an
// activity (running at the time), a timer and an external event, starts a new runtime
// on the same data directory, and checks that each completes once.
func TestRestartResumesWaitingInstances(t *testing.T) {
	dir := t.TempDir()
	var runs atomic.Int32
	block := make(chan struct{}) // never closed: the first runtime's activity hangs
	opts := duroxide.Options{DataDir: dir}
	rt1, err := duroxide.Start(context.Background(), durableRegistry(t, block, &runs), opts)
	must(t, err)
	c1 := rt1.Client()
	ctx := context.Background()
	must(t, c1.StartOrchestration(ctx, "r-act", "OnActivity", "x"))
	must(t, c1.StartOrchestration(ctx, "r-timer", "OnTimer", nil))
	must(t, c1.StartOrchestration(ctx, "r-event", "OnEvent", nil))
	waitFor(t, "activity running", func() bool { return runs.Load() == 1 })
	waitFor(t, "all three started", func() bool {
		for _, id := range []string{"r-act", "r-timer", "r-event"} {
			if st, err := c1.GetStatus(ctx, id); err != nil || st.State != duroxide.StateRunning {
				return false
			}
		}
		return true
	})
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = rt1.Shutdown(sctx) // the activity does not finish: it is cancelled and handed back
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown of a runtime with a hanging activity: %v, want deadline exceeded", err)
	}

	open := make(chan struct{})
	close(open)
	rt2 := startRuntime(t, durableRegistry(t, open, &runs), opts)
	c2 := rt2.Client()
	must(t, c2.RaiseEvent(ctx, "r-event", "go", "now"))
	for id, want := range map[string]string{"r-act": "slow:x", "r-timer": "timer-fired", "r-event": "event:now"} {
		st := waitDone(t, c2, id, 20*time.Second)
		var out string
		must(t, st.Decode(&out))
		if out != want {
			t.Errorf("%s: output %q, want %q", id, out, want)
		}
	}
	n := countEvents(t, c2, "r-act")
	if n[history.ActivityScheduled] != 1 || n[history.ActivityCompleted] != 1 {
		t.Errorf("r-act history: %v, want exactly one ActivityScheduled and one ActivityCompleted", n)
	}
	if n := countEvents(t, c2, "r-timer"); n[history.TimerFired] != 1 {
		t.Errorf("r-timer history: %v, want exactly one TimerFired", n)
	}
}

// TestCrashBetweenCommitAndDispatch stops the store right after a turn's history
// record is durable and before its activity is dispatched or its start message acked.
// A new runtime on the same data must still run the activity, exactly once in history.
func TestCrashBetweenCommitAndDispatch(t *testing.T) {
	dir := t.TempDir()
	var runs atomic.Int32
	open := make(chan struct{})
	close(open)
	crashed := make(chan struct{})
	var fired atomic.Bool
	hooks := jetstream.Hooks{AfterCommit: func(instance string) error {
		if instance == "crash-1" && fired.CompareAndSwap(false, true) {
			close(crashed)
			return jetstream.ErrHookStop
		}
		return nil
	}}
	opts := duroxide.Options{DataDir: dir, InboxAckWait: time.Second, ActivityConcurrency: -1}
	rt1, err := duroxide.Start(testknobs.With(context.Background(), testknobs.Knobs{StoreHooks: hooks}),
		durableRegistry(t, open, &runs), opts)
	must(t, err)
	must(t, rt1.Client().StartOrchestration(context.Background(), "crash-1", "OnActivity", "y"))
	select {
	case <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("the commit hook never ran")
	}
	// The first turn is in history, but nothing after it happened.
	if n := countEvents(t, rt1.Client(), "crash-1"); n[history.ActivityScheduled] != 1 {
		t.Fatalf("history after the crash point: %v, want the committed ActivityScheduled", n)
	}
	must(t, rt1.Shutdown(context.Background()))
	if runs.Load() != 0 {
		t.Fatalf("activity ran %d times before restart; the crash point is before dispatch", runs.Load())
	}

	rt2 := startRuntime(t, durableRegistry(t, open, &runs), duroxide.Options{DataDir: dir, InboxAckWait: time.Second})
	st := waitDone(t, rt2.Client(), "crash-1", 20*time.Second)
	var out string
	must(t, st.Decode(&out))
	if out != "slow:y" {
		t.Fatalf("output %q", out)
	}
	n := countEvents(t, rt2.Client(), "crash-1")
	if n[history.ActivityScheduled] != 1 || n[history.ActivityCompleted] != 1 || n[history.OrchestrationStarted] != 1 {
		t.Fatalf("history %v: want one start, one schedule, one completion", n)
	}
	if r := runs.Load(); r != 1 {
		t.Fatalf("activity ran %d times, want 1", r)
	}
}

// TestReplayAfterCacheEviction runs more concurrent instances than the engine cache
// holds, so turns alternate between resuming cached engines and replaying history.
func TestReplayAfterCacheEviction(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Inc", func(ctx *duroxide.ActivityContext, n int) (int, error) { return n + 1, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "Counter", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		for i := 0; i < 5; i++ {
			v, err := duroxide.Await[int](ctx.ScheduleActivity("Inc", n))
			if err != nil {
				return 0, err
			}
			n = v
			if err := ctx.ScheduleTimer(time.Millisecond).Get(nil); err != nil {
				return 0, err
			}
		}
		return n, nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{MaxCachedInstances: 1})
	c := rt.Client()
	for i := 0; i < 6; i++ {
		must(t, c.StartOrchestration(context.Background(), fmt.Sprintf("evict-%d", i), "Counter", i*10))
	}
	for i := 0; i < 6; i++ {
		st := waitDone(t, c, fmt.Sprintf("evict-%d", i), 20*time.Second)
		var out int
		must(t, st.Decode(&out))
		if out != i*10+5 {
			t.Errorf("evict-%d: %d, want %d", i, out, i*10+5)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
