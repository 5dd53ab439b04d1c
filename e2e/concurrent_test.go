package e2e

// Deterministic concurrency inside an orchestration: retried activities and ctx.Go
// functions run in parallel, replay the same way after a restart, and are cancelled
// as Select losers and when the execution ends.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

const (
	parallelChains  = 10
	parallelBackoff = 200 * time.Millisecond
)

// parallelRetryRegistry registers "FailsTwice" (each input fails its first two
// attempts, then returns "ok:<input>") and "ParallelRetries", which runs
// parallelChains retried calls of it with a fixed backoff and joins them.
func parallelRetryRegistry(t *testing.T, mu *sync.Mutex, calls map[string]int) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "FailsTwice", func(_ *duroxide.ActivityContext, in string) (string, error) {
		mu.Lock()
		calls[in]++
		n := calls[in]
		mu.Unlock()
		if n <= 2 {
			return "", fmt.Errorf("%s: attempt %d fails", in, n)
		}
		return "ok:" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ParallelRetries", func(ctx *duroxide.OrchestrationContext, in string) ([]string, error) {
		policy := duroxide.RetryPolicy{MaxAttempts: 3, Backoff: duroxide.FixedBackoff(parallelBackoff)}
		fs := make([]*duroxide.Future, parallelChains)
		for i := range fs {
			fs[i] = ctx.ScheduleActivityWithRetry("FailsTwice", fmt.Sprintf("%s-%d", in, i), policy)
		}
		ctx.Join(fs...)
		out := make([]string, len(fs))
		for i, f := range fs {
			if err := f.Get(&out[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}))
	return reg
}

// checkParallelRetries checks an instance's result and that its history is that of
// parallel chains: every first attempt is in flight before any completes, and the
// backoff timers overlap (run one after another, at most one activity and one timer
// would ever be outstanding).
func checkParallelRetries(t *testing.T, c *duroxide.Client, id string) {
	t.Helper()
	out := sampleOutput[[]string](t, waitDone(t, c, id, sampleWait))
	for i := range parallelChains {
		if want := fmt.Sprintf("ok:%s-%d", id, i); i >= len(out) || out[i] != want {
			t.Fatalf("%s: output %v, want ok:%s-0 .. ok:%s-%d", id, out, id, id, parallelChains-1)
		}
	}
	evs := mustHistory(t, c, id)
	if s, f, tm := countType(evs, history.ActivityScheduled), countType(evs, history.ActivityFailed), countType(evs, history.TimerCreated); s != 3*parallelChains || f != 2*parallelChains || tm != 2*parallelChains {
		t.Fatalf("%s: %d attempts, %d failures, %d backoff timers; want %d, %d, %d", id, s, f, tm,
			3*parallelChains, 2*parallelChains, 2*parallelChains)
	}
	acts, timers := maxOutstanding(evs)
	if acts != parallelChains {
		t.Errorf("%s: at most %d attempts were in flight at once, want %d (all first attempts together)", id, acts, parallelChains)
	}
	if timers < 2 {
		t.Errorf("%s: at most %d backoff timer was pending at once: the chains ran one after another", id, timers)
	}
}

// maxOutstanding returns the most activities and timers scheduled and not yet
// answered at any point of a history.
func maxOutstanding(evs []history.Event) (acts, timers int) {
	open := map[uint64]history.EventType{}
	nActs, nTimers := 0, 0
	for _, ev := range evs {
		switch ev.Type {
		case history.ActivityScheduled:
			open[ev.EventID] = ev.Type
			nActs++
		case history.TimerCreated:
			open[ev.EventID] = ev.Type
			nTimers++
		default:
			if typ, ok := open[ev.SourceEventID]; ok && ev.SourceEventID != 0 {
				delete(open, ev.SourceEventID)
				if typ == history.ActivityScheduled {
					nActs--
				} else {
					nTimers--
				}
			}
		}
		acts, timers = max(acts, nActs), max(timers, nTimers)
	}
	return acts, timers
}

// TestParallelRetriesJoin: ten retried activities, each failing twice before it
// succeeds with a 200 ms backoff, joined: they run at once (all first attempts in
// flight together, backoff timers overlapping), so the orchestration takes about one
// chain's time, not ten.
func TestParallelRetriesJoin(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	c := startRuntime(t, parallelRetryRegistry(t, &mu, calls), duroxide.Options{}).Client()
	start := time.Now()
	must(t, c.StartOrchestration(context.Background(), "par", "ParallelRetries", "par"))
	checkParallelRetries(t, c, "par")
	elapsed := time.Since(start)
	serial := time.Duration(parallelChains) * 2 * parallelBackoff // the backoffs alone, one chain after another
	// The proof of parallelism is the history's structure (checkParallelRetries); the
	// time is logged, not asserted, so a loaded CI machine cannot make it flaky.
	t.Logf("%d chains of 3 attempts and 2 backoffs of %v: %v (run one after another, the backoffs alone take %v)",
		parallelChains, parallelBackoff, elapsed.Round(time.Millisecond), serial)
}

// TestParallelRetriesReplayAfterRestart: the same, with the only node restarted while
// the chains wait in their backoffs; the new node replays the history (the same
// interleaving of ten coroutines) and finishes. A second instance and a one-entry
// engine cache make most turns replay as well.
func TestParallelRetriesReplayAfterRestart(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	reg := parallelRetryRegistry(t, &mu, calls)
	dir := t.TempDir()
	ctx := context.Background()
	opts := duroxide.Options{DataDir: dir, MaxCachedInstances: 1}
	rt1, err := duroxide.Start(ctx, reg, opts)
	must(t, err)
	ids := []string{"par-r1", "par-r2"}
	for _, id := range ids {
		must(t, rt1.Client().StartOrchestration(ctx, id, "ParallelRetries", id))
	}
	waitHistory(t, rt1.Client(), ids[0], "backoff timers to be created", func(evs []history.Event) bool {
		return countType(evs, history.TimerCreated) >= parallelChains/2
	})
	if evs := mustHistory(t, rt1.Client(), ids[0]); countType(evs, history.OrchestrationCompleted) != 0 {
		t.Fatal("the instance finished before the restart; the test restarts nothing")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	must(t, rt1.Shutdown(sctx))
	cancel()

	c := startRuntime(t, reg, opts).Client()
	for _, id := range ids {
		checkParallelRetries(t, c, id)
	}
}

// TestSelectRetryAgainstTimer: a retried activity loses a Select to a timer. Its
// pending attempt is cancelled (the activity sees its context cancelled, history
// records dropped_future), its timeout timer is forgotten, no further attempt runs,
// and Get on its future returns ErrFutureCancelled. A second retried call, waiting in
// a one-hour backoff when it loses, schedules nothing more either.
func TestSelectRetryAgainstTimer(t *testing.T) {
	reg := duroxide.NewRegistry()
	sawCancel := make(chan error, 1)
	must(t, duroxide.RegisterActivity(reg, "Hangs", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		<-ctx.Done()
		sawCancel <- context.Cause(ctx)
		return "", ctx.Err()
	}))
	must(t, duroxide.RegisterActivity(reg, "Fails", func(*duroxide.ActivityContext, string) (string, error) {
		return "", errors.New("fails")
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RetryLoses", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		hangs := ctx.ScheduleActivityWithRetry("Hangs", "", duroxide.RetryPolicy{MaxAttempts: 3, Timeout: time.Hour})
		if won := ctx.Select(hangs, ctx.ScheduleTimer(time.Second)); won != 1 {
			return "", fmt.Errorf("Select returned %d, want the timer (1)", won)
		}
		backingOff := ctx.ScheduleActivityWithRetry("Fails", "", duroxide.RetryPolicy{MaxAttempts: 3, Backoff: duroxide.FixedBackoff(time.Hour)})
		wake := ctx.ScheduleTimer(time.Hour)
		// The first attempt fails at once and the retry waits in its backoff; a
		// positional event ends the Select.
		if won := ctx.Select(backingOff, wake, ctx.WaitForEvent("stop")); won != 2 {
			return "", fmt.Errorf("second Select returned %d, want the event (2)", won)
		}
		var errs []string
		for _, f := range []*duroxide.Future{hangs, backingOff} {
			if err := f.Get(nil); !errors.Is(err, duroxide.ErrFutureCancelled) {
				return "", fmt.Errorf("Get on a dropped retry: %v, want ErrFutureCancelled", err)
			} else {
				errs = append(errs, err.Error())
			}
		}
		// Outlive the dropped timers' would-be retries: nothing more is scheduled.
		if err := ctx.ScheduleTimer(500 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		return strings.Join(errs, "; "), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{ActivityCancellationGracePeriod: 100 * time.Millisecond}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "retry-loses", "RetryLoses", ""))
	waitHistory(t, c, "retry-loses", "the second retry to back off", func(evs []history.Event) bool {
		return hasEvent(evs, history.ActivityFailed, "") && hasEvent(evs, history.ExternalSubscribed, "stop")
	})
	must(t, c.RaiseEvent(ctx, "retry-loses", "stop", nil))
	st := waitDone(t, c, "retry-loses", sampleWait)
	if st.State != duroxide.StateCompleted {
		t.Fatalf("state %s (%v), want Completed", st.State, st.Failure)
	}
	evs := mustHistory(t, c, "retry-loses")
	var hangsID uint64
	for _, ev := range evs {
		if ev.Type == history.ActivityScheduled && ev.Name == "Hangs" {
			hangsID = ev.EventID
		}
	}
	var reasons []string
	for _, ev := range evs {
		if ev.Type == history.ActivityCancelRequested {
			if ev.SourceEventID != hangsID {
				t.Errorf("ActivityCancelRequested for event %d, want only the pending attempt %d", ev.SourceEventID, hangsID)
			}
			reasons = append(reasons, ev.Reason)
		}
	}
	if len(reasons) != 1 || reasons[0] != duroxide.ReasonDroppedFuture {
		t.Fatalf("cancel reasons %v, want one %q for the pending attempt", reasons, duroxide.ReasonDroppedFuture)
	}
	if s := countType(evs, history.ActivityScheduled); s != 2 {
		t.Fatalf("%d attempts scheduled, want 2 (one per retried call; the losers retry no more)", s)
	}
	if tm, fired := countType(evs, history.TimerCreated), countType(evs, history.TimerFired); tm != 5 || fired != 2 {
		t.Fatalf("%d timers created, %d fired; want 5 (timeout, Select timer, backoff, wake, 500 ms) and 2", tm, fired)
	}
	select {
	case cause := <-sawCancel:
		if !errors.Is(cause, duroxide.ErrActivityCancelled) {
			t.Fatalf("activity context cause %v, want ErrActivityCancelled", cause)
		}
	case <-time.After(sampleWait):
		t.Fatal("the dropped attempt was never cancelled")
	}
}

var errOutOfStock = errors.New("out of stock")

// TestGoSequencesRunConcurrently: two ctx.Go sequences (activity, timer, activity)
// run at once and join; a Go function's error reaches the caller as returned
// (errors.Is), a result that cannot be encoded is ErrInvalidInput, and a panic in a
// Go function fails the orchestration.
func TestGoSequencesRunConcurrently(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, in string) (string, error) { return in, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "TwoSequences", func(ctx *duroxide.OrchestrationContext, _ string) ([]string, error) {
		seq := func(name string) *duroxide.Future {
			return ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
				a, err := duroxide.Await[string](ctx.ScheduleActivity("Echo", name+"-1"))
				if err != nil {
					return nil, err
				}
				if err := ctx.ScheduleTimer(100 * time.Millisecond).Get(nil); err != nil {
					return nil, err
				}
				b, err := duroxide.Await[string](ctx.ScheduleActivity("Echo", name+"-2"))
				return a + "+" + b, err
			})
		}
		failing := ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
			if err := ctx.ScheduleActivity("Echo", "x").Get(nil); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("reserve: %w", errOutOfStock)
		})
		fa, fb := seq("a"), seq("b")
		own := ctx.ScheduleActivity("Echo", "main")
		ctx.Join(fa, fb, failing, own)
		if err := failing.Get(nil); !errors.Is(err, errOutOfStock) {
			return nil, fmt.Errorf("the failing Go function's error: %v, want errOutOfStock", err)
		}
		unencodable := ctx.Go(func(*duroxide.OrchestrationContext) (any, error) { return make(chan int), nil })
		if err := unencodable.Get(nil); !errors.Is(err, duroxide.ErrInvalidInput) {
			return nil, fmt.Errorf("an unencodable result: %v, want ErrInvalidInput", err)
		}
		a, err := duroxide.Await[string](fa)
		if err != nil {
			return nil, err
		}
		b, err := duroxide.Await[string](fb)
		return []string{a, b}, err
	}))
	must(t, duroxide.RegisterOrchestration(reg, "GoPanics", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		f := ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
			if err := ctx.ScheduleTimer(0).Get(nil); err != nil {
				return nil, err
			}
			panic("go function exploded")
		})
		return "", f.Get(nil)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "two-seq", "TwoSequences", ""))
	must(t, c.StartOrchestration(ctx, "go-panics", "GoPanics", ""))
	if out := sampleOutput[[]string](t, waitDone(t, c, "two-seq", sampleWait)); len(out) != 2 || out[0] != "a-1+a-2" || out[1] != "b-1+b-2" {
		t.Fatalf("output %v", out)
	}
	evs := mustHistory(t, c, "two-seq")
	if acts, _ := maxOutstanding(evs); acts < 4 {
		t.Fatalf("at most %d activities pending at once, want at least 4 (the sequences overlap)", acts)
	}
	// Each Go function runs until it first waits when it starts, before Go returns:
	// the failing function's activity first, then a's and b's, then the one the
	// orchestration function scheduled after starting them.
	var order []string
	for _, ev := range evs {
		if ev.Type == history.ActivityScheduled {
			order = append(order, ev.Input)
		}
	}
	if got := strings.Join(order[:4], " "); got != `"x" "a-1" "b-1" "main"` {
		t.Fatalf("activities scheduled in order %s", got)
	}
	st := waitDone(t, c, "go-panics", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindPanicked || !strings.Contains(st.Failure.Message, "go function exploded") {
		t.Fatalf("go-panics: %s %+v, want a panic failure", st.State, st.Failure)
	}
}

// TestGoCancellation: a Go function that loses a Select is cancelled with the Go
// function it started (the inner one's activity gets dropped_future), and one still
// running when the orchestration returns is ended with the execution (its activity
// gets orchestration_terminal_completed). Both activities see their contexts
// cancelled, and history holds no event of the Go functions themselves.
func TestGoCancellation(t *testing.T) {
	reg := duroxide.NewRegistry()
	cancelled := make(chan string, 2)
	must(t, duroxide.RegisterActivity(reg, "Hangs", func(ctx *duroxide.ActivityContext, in string) (string, error) {
		<-ctx.Done()
		cancelled <- in
		return "", ctx.Err()
	}))
	must(t, duroxide.RegisterOrchestration(reg, "GoCancel", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		var deferred []string
		outer := ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
			defer func() { deferred = append(deferred, "outer") }()
			inner := ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
				defer func() { deferred = append(deferred, "inner") }()
				hangs := ctx.ScheduleActivity("Hangs", "inner")
				// Many settled futures beside the pending one: the engine forgets
				// settled ones as the function's list of futures grows, and must still
				// cancel the pending one.
				timers := make([]*duroxide.Future, 31)
				for i := range timers {
					timers[i] = ctx.ScheduleTimer(0)
				}
				ctx.Join(timers...)
				ctx.ScheduleTimer(0)
				return duroxide.Await[string](hangs)
			})
			return duroxide.Await[string](inner)
		})
		if won := ctx.Select(outer, ctx.ScheduleTimer(time.Second)); won != 1 {
			return "", fmt.Errorf("Select returned %d, want the timer", won)
		}
		if err := outer.Get(nil); !errors.Is(err, duroxide.ErrFutureCancelled) {
			return "", fmt.Errorf("Get on the dropped Go future: %v", err)
		}
		ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
			return duroxide.Await[string](ctx.ScheduleActivity("Hangs", "left running"))
		})
		// Give the second activity time to start, so its cancellation is observable
		// (the first had the Select timer's second).
		if err := ctx.ScheduleTimer(time.Second).Get(nil); err != nil {
			return "", err
		}
		return strings.Join(deferred, ","), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{ActivityCancellationGracePeriod: 100 * time.Millisecond}).Client()
	must(t, c.StartOrchestration(context.Background(), "go-cancel", "GoCancel", ""))
	st := waitDone(t, c, "go-cancel", sampleWait)
	if out := sampleOutput[string](t, st); out != "outer,inner" {
		t.Fatalf("deferred calls ran %q, want outer,inner (unwound where they waited, in creation order)", out)
	}
	evs := mustHistory(t, c, "go-cancel")
	want := map[string]string{`"inner"`: duroxide.ReasonDroppedFuture, `"left running"`: "orchestration_terminal_completed"}
	ids := map[uint64]string{}
	for _, ev := range evs {
		switch ev.Type {
		case history.ActivityScheduled:
			ids[ev.EventID] = ev.Input
		case history.ActivityCancelRequested:
			in := ids[ev.SourceEventID]
			if want[in] != ev.Reason {
				t.Errorf("activity %s cancelled with %q, want %q", in, ev.Reason, want[in])
			}
			delete(want, in)
		case history.OrchestrationStarted, history.TimerCreated, history.TimerFired,
			history.OrchestrationCompleted:
		default:
			t.Errorf("unexpected event %s in history", ev.Type)
		}
	}
	if len(want) != 0 {
		t.Fatalf("activities never cancelled: %v", want)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case in := <-cancelled:
			got[in] = true
		case <-time.After(sampleWait):
			t.Fatalf("activities that saw their cancellation: %v, want both", got)
		}
	}
}

// TestGoNondeterminismNamesEvent: code whose Go function schedules a different
// activity on replay fails with the nondeterminism error naming the event, as code
// without Go does.
func TestGoNondeterminismNamesEvent(t *testing.T) {
	dir := t.TempDir()
	build := func(activity string) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		for _, a := range []string{"A", "B", "C"} {
			name := a
			must(t, duroxide.RegisterActivity(reg, name, func(*duroxide.ActivityContext, string) (string, error) { return name, nil }))
		}
		must(t, duroxide.RegisterOrchestration(reg, "GoFlow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			f := ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
				if err := ctx.ScheduleActivity("C", "first").Get(nil); err != nil {
					return nil, err
				}
				return duroxide.Await[string](ctx.ScheduleActivity(activity, "second"))
			})
			ctx.Join(f, ctx.WaitForEvent("next"))
			return duroxide.Await[string](f)
		}))
		return reg
	}
	ctx := context.Background()
	rt1, err := duroxide.Start(ctx, build("A"), duroxide.Options{DataDir: dir})
	must(t, err)
	must(t, rt1.Client().StartOrchestration(ctx, "go-nd", "GoFlow", nil))
	waitHistory(t, rt1.Client(), "go-nd", "the Go function's second activity to complete", func(evs []history.Event) bool {
		return countType(evs, history.ActivityCompleted) == 2
	})
	must(t, rt1.Shutdown(ctx))
	rt2 := startRuntime(t, build("B"), duroxide.Options{DataDir: dir})
	must(t, rt2.Client().RaiseEvent(ctx, "go-nd", "next", "x"))
	st := waitDone(t, rt2.Client(), "go-nd", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindNondeterminism {
		t.Fatalf("state %s %+v, want a nondeterminism failure", st.State, st.Failure)
	}
	for _, want := range []string{"event 5", `name="A"`, `name="B"`} {
		if !strings.Contains(st.Failure.Message, want) {
			t.Errorf("message %q does not name %s", st.Failure.Message, want)
		}
	}
}

// TestGoAwaitingDroppedFuture: a Go function waiting on a future that another
// Select dropped gets ErrFutureCancelled instead of waiting forever, and Join counts
// the dropped future as settled.
func TestGoAwaitingDroppedFuture(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Hangs", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}))
	must(t, duroxide.RegisterOrchestration(reg, "SharedFuture", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		slow := ctx.ScheduleActivity("Hangs", "")
		waiter := ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
			err := slow.Get(nil)
			return fmt.Sprint(errors.Is(err, duroxide.ErrFutureCancelled)), nil
		})
		if won := ctx.Select(slow, ctx.ScheduleTimer(100*time.Millisecond)); won != 1 {
			return "", fmt.Errorf("Select returned %d, want the timer", won)
		}
		ctx.Join(waiter, slow)
		return duroxide.Await[string](waiter)
	}))
	c := startRuntime(t, reg, duroxide.Options{ActivityCancellationGracePeriod: 100 * time.Millisecond}).Client()
	must(t, c.StartOrchestration(context.Background(), "shared", "SharedFuture", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "shared", sampleWait)); out != "true" {
		t.Fatalf("the waiting Go function saw ErrFutureCancelled: %s, want true", out)
	}
}
