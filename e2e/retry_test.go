package e2e

// Behaviours of duroxide's tests/schedule_with_retry.rs: retries until success,
// exhaustion returns the last error, backoff timers are durable history, a
// per-attempt timeout fails at once without retrying, and the backoff formulas.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

func countType(evs []history.Event, typ history.EventType) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	reg := duroxide.NewRegistry()
	var calls atomic.Int32
	must(t, duroxide.RegisterActivity(reg, "Flaky", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if n := calls.Add(1); n < 3 {
			return "", fmt.Errorf("attempt %d failed", n)
		}
		return "ok:" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RetryOK", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivityWithRetry("Flaky", in,
			duroxide.RetryPolicy{MaxAttempts: 3, Backoff: duroxide.FixedBackoff(10 * time.Millisecond)}))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "retry-ok", "RetryOK", "x"))
	if out := sampleOutput[string](t, waitDone(t, c, "retry-ok", sampleWait)); out != "ok:x" {
		t.Fatalf("output %q", out)
	}
	evs := mustHistory(t, c, "retry-ok")
	if s, f, tm := countType(evs, history.ActivityScheduled), countType(evs, history.ActivityFailed), countType(evs, history.TimerCreated); s != 3 || f != 2 || tm != 2 {
		t.Fatalf("history has %d scheduled, %d failed, %d backoff timers; want 3, 2, 2", s, f, tm)
	}
}

func TestRetryExhaustedReturnsLastError(t *testing.T) {
	reg := duroxide.NewRegistry()
	var calls atomic.Int32
	must(t, duroxide.RegisterActivity(reg, "AlwaysFails", func(*duroxide.ActivityContext, string) (string, error) {
		return "", fmt.Errorf("attempt %d failed", calls.Add(1))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RetryExhausted", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		_, err := duroxide.Await[string](ctx.ScheduleActivityWithRetry("AlwaysFails", in,
			duroxide.RetryPolicy{MaxAttempts: 3, Backoff: duroxide.NoBackoff()}))
		var te *duroxide.TaskError
		if !errors.As(err, &te) {
			return "", fmt.Errorf("want a TaskError, got %v", err)
		}
		if errors.Is(err, duroxide.ErrActivityTimeout) {
			return "", fmt.Errorf("an exhausted retry matches ErrActivityTimeout: %v", err)
		}
		return "", err
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "retry-exhausted", "RetryExhausted", ""))
	st := waitDone(t, c, "retry-exhausted", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.DisplayMessage() != "attempt 3 failed" {
		t.Fatalf("%s %+v, want Failed with the last attempt's error", st.State, st.Failure)
	}
	evs := mustHistory(t, c, "retry-exhausted")
	if s, tm := countType(evs, history.ActivityScheduled), countType(evs, history.TimerCreated); s != 3 || tm != 0 {
		t.Fatalf("history has %d scheduled and %d timers; want 3 and 0 (no backoff)", s, tm)
	}
}

func TestRetryTimeoutFailsWithoutRetry(t *testing.T) {
	reg := duroxide.NewRegistry()
	var started atomic.Int32
	sawCancel := make(chan error, 1)
	must(t, duroxide.RegisterActivity(reg, "Hangs", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		started.Add(1)
		<-ctx.Done()
		sawCancel <- context.Cause(ctx)
		return "", ctx.Err()
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RetryTimeout", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		_, err := duroxide.Await[string](ctx.ScheduleActivityWithRetry("Hangs", "",
			duroxide.RetryPolicy{MaxAttempts: 5, Timeout: 100 * time.Millisecond, Backoff: duroxide.FixedBackoff(time.Millisecond)}))
		if !errors.Is(err, duroxide.ErrActivityTimeout) {
			return "", fmt.Errorf("want ErrActivityTimeout, got %v", err)
		}
		return err.Error(), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{ActivityCancellationGracePeriod: 100 * time.Millisecond}).Client()
	must(t, c.StartOrchestration(context.Background(), "retry-timeout", "RetryTimeout", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "retry-timeout", sampleWait)); out != duroxide.ActivityTimeoutMessage {
		t.Fatalf("output %q, want %q", out, duroxide.ActivityTimeoutMessage)
	}
	evs := mustHistory(t, c, "retry-timeout")
	if n := countType(evs, history.ActivityScheduled); n != 1 {
		t.Fatalf("%d attempts, want 1 (a timeout is not retried)", n)
	}
	if n := countType(evs, history.ActivityCancelRequested); n != 1 {
		t.Fatalf("%d ActivityCancelRequested, want 1 for the timed-out attempt", n)
	}
	select {
	case cause := <-sawCancel:
		if !errors.Is(cause, duroxide.ErrActivityCancelled) {
			t.Fatalf("activity context cause %v, want ErrActivityCancelled", cause)
		}
	case <-time.After(sampleWait):
		t.Fatal("the timed-out activity was never cancelled")
	}
}

func TestRetryInvalidPolicy(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Noop", func(*duroxide.ActivityContext, string) (string, error) { return "", nil }))
	must(t, duroxide.RegisterOrchestration(reg, "BadPolicy", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		err := ctx.ScheduleActivityWithRetry("Noop", "", duroxide.RetryPolicy{MaxAttempts: 0}).Get(nil)
		if !errors.Is(err, duroxide.ErrInvalidInput) || !strings.Contains(err.Error(), "MaxAttempts") {
			return "", fmt.Errorf("want ErrInvalidInput naming MaxAttempts, got %v", err)
		}
		return "rejected", nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "retry-bad", "BadPolicy", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "retry-bad", sampleWait)); out != "rejected" {
		t.Fatalf("output %q", out)
	}
}

func TestRetryBackoffFormulas(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name string
		b    duroxide.Backoff
		want []time.Duration // delays after attempts 1, 2, 3, 4
	}{
		{"none", duroxide.NoBackoff(), []time.Duration{0, 0, 0, 0}},
		{"fixed", duroxide.FixedBackoff(50 * ms), []time.Duration{50 * ms, 50 * ms, 50 * ms, 50 * ms}},
		{"linear", duroxide.LinearBackoff(100*ms, 250*ms), []time.Duration{100 * ms, 200 * ms, 250 * ms, 250 * ms}},
		{"exponential", duroxide.ExponentialBackoff(100*ms, 2, 500*ms), []time.Duration{100 * ms, 200 * ms, 400 * ms, 500 * ms}},
	}
	for _, tc := range cases {
		for i, want := range tc.want {
			if got := tc.b.Delay(i + 1); got != want {
				t.Errorf("%s: delay after attempt %d = %v, want %v", tc.name, i+1, got, want)
			}
		}
	}
	def := duroxide.DefaultRetryPolicy()
	if def.MaxAttempts != 3 || def.Timeout != 0 || def.Backoff.Delay(1) != 100*ms || def.Backoff.Delay(2) != 200*ms || def.Backoff.Delay(20) != 30*time.Second {
		t.Errorf("default policy %+v: want 3 attempts, exponential 100ms x2 capped at 30s", def)
	}
}

// With a timeout, an attempt that fails fast is retried and one that succeeds in
// time returns its result; the retry loop replays deterministically from history
// (the engine cache holds one instance, two run).
func TestRetryWithTimeoutRetriesFailuresAndReplays(t *testing.T) {
	reg := duroxide.NewRegistry()
	var calls atomic.Int32
	must(t, duroxide.RegisterActivity(reg, "FailsOnce", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if calls.Add(1)%2 == 1 {
			return "", errors.New("first try fails")
		}
		return "ok:" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RetryTimeoutOK", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		policy := duroxide.RetryPolicy{MaxAttempts: 3, Timeout: 10 * time.Second, Backoff: duroxide.LinearBackoff(5*time.Millisecond, 20*time.Millisecond)}
		out, err := duroxide.Await[string](ctx.ScheduleActivityWithRetry("FailsOnce", in, policy))
		if err != nil {
			return "", err
		}
		if err := ctx.WaitForEvent("go").Get(nil); err != nil {
			return "", err
		}
		return out, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{MaxCachedInstances: 1, OrchestrationConcurrency: 1, ActivityConcurrency: 1}).Client()
	ctx := context.Background()
	ids := []string{"retry-replay-a", "retry-replay-b"}
	for _, id := range ids {
		must(t, c.StartOrchestration(ctx, id, "RetryTimeoutOK", id))
		sampleWaitSubscribed(t, c, id, "go", sampleWait)
	}
	for _, id := range ids {
		must(t, c.RaiseEvent(ctx, id, "go", nil))
	}
	for _, id := range ids {
		if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "ok:"+id {
			t.Fatalf("%s: output %q", id, out)
		}
		evs := mustHistory(t, c, id)
		if s, f := countType(evs, history.ActivityScheduled), countType(evs, history.ActivityFailed); s != 2 || f != 1 {
			t.Fatalf("%s: %d attempts, %d failures; want 2 and 1", id, s, f)
		}
	}
}
