package e2e

// Behaviours of duroxide's tests/timer.rs: zero and parallel timers fire once each,
// a shorter timer wins a Select against a longer one, and a timer survives a
// restart of the only node.

import (
	"context"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

func TestTimersFireOnce(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Timers", func(ctx *duroxide.OrchestrationContext, _ string) (int, error) {
		if err := ctx.ScheduleTimer(0).Get(nil); err != nil {
			return 0, err
		}
		ts := []*duroxide.Future{ctx.ScheduleTimer(30 * time.Millisecond), ctx.ScheduleTimer(10 * time.Millisecond), ctx.ScheduleTimer(20 * time.Millisecond)}
		ctx.Join(ts...)
		short := ctx.ScheduleTimer(10 * time.Millisecond)
		long := ctx.ScheduleTimer(time.Hour)
		return ctx.Select(long, short), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "timers", "Timers", ""))
	if won := sampleOutput[int](t, waitDone(t, c, "timers", sampleWait)); won != 1 {
		t.Fatalf("Select returned %d, want 1 (the short timer)", won)
	}
	evs := mustHistory(t, c, "timers")
	if cr, f := countType(evs, history.TimerCreated), countType(evs, history.TimerFired); cr != 6 || f != 5 {
		t.Fatalf("%d timers created and %d fired, want 6 and 5", cr, f)
	}
}

func TestTimerSurvivesRestart(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Sleeper", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return "woke", ctx.ScheduleTimer(300 * time.Millisecond).Get(nil)
	}))
	dir := t.TempDir()
	ctx := context.Background()
	rt1, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir})
	must(t, err)
	c := rt1.Client()
	must(t, c.StartOrchestration(ctx, "sleeper", "Sleeper", ""))
	waitHistory(t, c, "sleeper", "the timer to be created", func(evs []history.Event) bool {
		return hasEvent(evs, history.TimerCreated, "")
	})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	must(t, rt1.Shutdown(sctx))
	cancel()
	c = startRuntime(t, reg, duroxide.Options{DataDir: dir}).Client()
	if out := sampleOutput[string](t, waitDone(t, c, "sleeper", sampleWait)); out != "woke" {
		t.Fatalf("output %q", out)
	}
	if n := countType(mustHistory(t, c, "sleeper"), history.TimerFired); n != 1 {
		t.Fatalf("%d TimerFired, want 1", n)
	}
}
