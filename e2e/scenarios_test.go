package e2e

// Ports of duroxide's tests/scenarios: toygres.rs (continue-as-new chains, the
// instance actor pattern, the timer regression) and single_thread.rs (everything on
// one OS thread: GOMAXPROCS 1).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

type chainState struct {
	Iteration int      `json:"iteration"`
	Results   []string `json:"results"`
}

func registerChains(t *testing.T, reg *duroxide.Registry) {
	must(t, duroxide.RegisterActivity(reg, "ChainStep", func(_ *duroxide.ActivityContext, n int) (string, error) {
		return fmt.Sprintf("step-%d", n), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Chain", func(ctx *duroxide.OrchestrationContext, s chainState) (string, error) {
		if s.Iteration == 4 {
			return fmt.Sprintf("completed at %d", s.Iteration), nil
		}
		return "", ctx.ContinueAsNew(chainState{Iteration: s.Iteration + 1})
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ChainWithActivities", func(ctx *duroxide.OrchestrationContext, s chainState) (chainState, error) {
		r, err := duroxide.Await[string](ctx.ScheduleActivity("ChainStep", s.Iteration))
		if err != nil {
			return s, err
		}
		s.Results = append(s.Results, r)
		if s.Iteration == 4 {
			return s, nil
		}
		s.Iteration++
		return s, ctx.ContinueAsNew(s)
	}))
}

// toygres.rs continue_as_new_chain_5_iterations, continue_as_new_chain_with_activities,
// concurrent_continue_as_new_chains.
func TestScenarioContinueAsNewChains(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerChains(t, reg)
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "chain-5", "Chain", chainState{}))
	must(t, c.StartOrchestration(ctx, "chain-acts", "ChainWithActivities", chainState{}))
	for i := 0; i < 5; i++ {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("chain-concurrent-%d", i), "Chain", chainState{}))
	}
	for _, id := range []string{"chain-5", "chain-concurrent-0", "chain-concurrent-1", "chain-concurrent-2", "chain-concurrent-3", "chain-concurrent-4"} {
		st := waitDone(t, c, id, sampleWait)
		if out := sampleOutput[string](t, st); out != "completed at 4" || st.ExecutionID != 5 {
			t.Fatalf("%s: output %q after %d executions", id, out, st.ExecutionID)
		}
	}
	s := sampleOutput[chainState](t, waitDone(t, c, "chain-acts", sampleWait))
	if strings.Join(s.Results, ",") != "step-0,step-1,step-2,step-3,step-4" {
		t.Fatalf("chain with activities: %+v", s)
	}
	execs, err := c.ListExecutions(ctx, "chain-acts")
	must(t, err)
	if len(execs) != 5 {
		t.Fatalf("executions %v, want 5", execs)
	}
}

type actorState struct {
	Execution int    `json:"execution"`
	ConnStr   string `json:"conn_str"`
}

// toygres.rs instance_actor_pattern_stress_test: three instance actors, each living
// five executions; every cycle checks health through four activities and sleeps on
// a timer, then continues as new.
func TestScenarioInstanceActorPattern(t *testing.T) {
	reg := duroxide.NewRegistry()
	for _, name := range []string{"CheckConnection", "CheckDiskSpace", "CheckReplication", "RecordHealth"} {
		must(t, duroxide.RegisterActivity(reg, name, func(_ *duroxide.ActivityContext, conn string) (string, error) {
			if !strings.HasPrefix(conn, "postgresql://") {
				return "", fmt.Errorf("%s: bad connection string %q", name, conn)
			}
			return name + ":ok", nil
		}))
	}
	must(t, duroxide.RegisterOrchestration(reg, "InstanceActor", func(ctx *duroxide.OrchestrationContext, s actorState) (string, error) {
		for _, name := range []string{"CheckConnection", "CheckDiskSpace", "CheckReplication", "RecordHealth"} {
			if _, err := duroxide.Await[string](ctx.ScheduleActivity(name, s.ConnStr)); err != nil {
				return "", err
			}
		}
		if err := ctx.ScheduleTimer(20 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		if s.Execution+1 >= 5 {
			return fmt.Sprintf("completed after %d executions", s.Execution+1), nil
		}
		s.Execution++
		return "", ctx.ContinueAsNew(s)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("actor-%d", i), "InstanceActor",
			actorState{ConnStr: fmt.Sprintf("postgresql://user:pass@host-%d:5432/db", i)}))
	}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("actor-%d", i)
		st := waitDone(t, c, id, sampleWait)
		if out := sampleOutput[string](t, st); out != "completed after 5 executions" || st.ExecutionID != 5 {
			t.Fatalf("%s: output %q execution %d", id, out, st.ExecutionID)
		}
	}
}

// toygres.rs timer_fires_at_correct_time_regression: a timer scheduled after a slow
// activity must count from when it is scheduled, not from the start of the turn
// that came before: after a first timer, a ≥2 s activity, then a 1 s timer that
// races a quick activity. The quick activity wins, and the second timer (awaited
// afterwards) fires at least 1 s after the slow activity completed. A timer counted
// from an earlier event would have fired at once.
func TestScenarioTimerFiresAtCorrectTimeRegression(t *testing.T) {
	const slow = 2 * time.Second
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Quick", func(*duroxide.ActivityContext, string) (string, error) {
		return "activity_done", nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Slow", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		select {
		case <-time.After(slow):
			return "slow_done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TimerRegression", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if err := ctx.ScheduleTimer(100 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("Slow", "")); err != nil {
			return "", err
		}
		long := ctx.ScheduleTimer(time.Second)
		act := ctx.ScheduleActivity("Quick", "")
		if ctx.Select(long, act) == 0 {
			return "timer_won", nil
		}
		if err := long.Get(nil); err != nil {
			return "", err
		}
		return duroxide.Await[string](act)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "timer-regression", "TimerRegression", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "timer-regression", sampleWait)); out != "activity_done" {
		t.Fatalf("output %q", out)
	}
	evs := mustHistory(t, c, "timer-regression")
	var slowDone, second, secondFired *history.Event
	var slowID uint64
	for i := range evs {
		ev := &evs[i]
		switch {
		case ev.Type == history.ActivityScheduled && ev.Name == "Slow":
			slowID = ev.EventID
		case ev.Type == history.ActivityCompleted && slowID != 0 && ev.SourceEventID == slowID:
			slowDone = ev
		case ev.Type == history.TimerCreated && slowDone != nil && second == nil:
			second = ev
		case ev.Type == history.TimerFired && second != nil && ev.SourceEventID == second.EventID:
			secondFired = ev
		}
	}
	if slowDone == nil || second == nil || secondFired == nil {
		t.Fatalf("history lacks the slow activity's completion or the second timer and its firing: %+v", evs)
	}
	if second.FireAtMs < slowDone.TimestampMs+1000 {
		t.Fatalf("the second timer is due at %d, %d ms after the slow activity completed (%d); want ≥ 1000 ms",
			second.FireAtMs, second.FireAtMs-slowDone.TimestampMs, slowDone.TimestampMs)
	}
	if secondFired.TimestampMs < slowDone.TimestampMs+1000 {
		t.Fatalf("the second timer fired %d ms after the slow activity completed; want ≥ 1000 ms",
			secondFired.TimestampMs-slowDone.TimestampMs)
	}
}

// single_thread.rs: the whole runtime on one OS thread (GOMAXPROCS 1, restored at
// the end), with one orchestration slot and one activity slot.
func TestScenarioSingleThread(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	reg := duroxide.NewRegistry()
	registerChains(t, reg)
	cooperative := make(chan error, 1)
	runawayStarted, cooperativeStarted := make(chan struct{}, 1), make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "echo: " + in, nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Inc", func(_ *duroxide.ActivityContext, n int) (int, error) { return n + 1, nil }))
	must(t, duroxide.RegisterActivity(reg, "Cooperative", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		cooperativeStarted <- struct{}{}
		<-ctx.Done()
		cooperative <- context.Cause(ctx)
		return "", ctx.Err()
	}))
	must(t, duroxide.RegisterActivity(reg, "Runaway", func(*duroxide.ActivityContext, string) (string, error) {
		runawayStarted <- struct{}{}
		<-release
		return "late", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Basic", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Echo", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Sequential", func(ctx *duroxide.OrchestrationContext, _ string) (int, error) {
		n := 0
		for i := 0; i < 3; i++ {
			var err error
			if n, err = duroxide.Await[int](ctx.ScheduleActivity("Inc", n)); err != nil {
				return 0, err
			}
		}
		return n, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TimerST", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return "timer_done", ctx.ScheduleTimer(20 * time.Millisecond).Get(nil)
	}))
	must(t, duroxide.RegisterOrchestration(reg, "CanST", func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
		if n < 3 {
			return "", ctx.ContinueAsNew(n + 1)
		}
		return fmt.Sprintf("done:%d", n), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Process", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		s, err := duroxide.Await[string](ctx.ScheduleActivity("Echo", in))
		return "processed:" + strings.TrimPrefix(s, "echo: "), err
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Cancellable", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Cooperative", ""))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RunawayST", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Runaway", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{OrchestrationConcurrency: 1, ActivityConcurrency: 1,
		ActivityCancellationGracePeriod: 200 * time.Millisecond}).Client()
	ctx := context.Background()

	check := func(id, name string, in any, want any) {
		t.Helper()
		must(t, c.StartOrchestration(ctx, id, name, in))
		st := waitDone(t, c, id, sampleWait)
		if got := sampleOutput[any](t, st); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: output %v, want %v", id, got, want)
		}
	}
	check("st-basic", "Basic", "hello", "echo: hello")
	check("st-sequential", "Sequential", "", 3)
	check("st-timer", "TimerST", "", "timer_done")
	check("st-can", "CanST", 0, "done:3")
	for i := 0; i < 3; i++ {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("st-concurrent-%d", i), "Process", fmt.Sprint(i)))
	}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("st-concurrent-%d", i)
		if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != fmt.Sprintf("processed:%d", i) {
			t.Fatalf("%s: %q", id, out)
		}
	}

	// single_thread_1x1_cooperative_activity_cancellation
	must(t, c.StartOrchestration(ctx, "st-cancel", "Cancellable", ""))
	recv(t, cooperativeStarted, "the cooperative activity to start")
	must(t, c.CancelInstance(ctx, "st-cancel", "stop"))
	if st := waitDone(t, c, "st-cancel", sampleWait); st.State != duroxide.StateFailed || st.Failure.Kind != history.KindCancelled {
		t.Fatalf("st-cancel: %s %+v", st.State, st.Failure)
	}
	if cause := recv(t, cooperative, "the activity to see the cancellation"); !errors.Is(cause, duroxide.ErrActivityCancelled) {
		t.Fatalf("cause %v", cause)
	}

	// single_thread_1x1_runaway_activity_aborted: the only activity slot is freed
	// after the grace period, so the next instance's activity runs.
	must(t, c.StartOrchestration(ctx, "st-runaway", "RunawayST", ""))
	recv(t, runawayStarted, "the runaway to start")
	must(t, c.CancelInstance(ctx, "st-runaway", "abort"))
	waitDone(t, c, "st-runaway", sampleWait)
	check("st-after-runaway", "Basic", "still alive", "echo: still alive")
	for _, ev := range mustHistory(t, c, "st-runaway") {
		if ev.Type == history.ActivityCompleted {
			t.Fatalf("the runaway's result reached history")
		}
	}
}
