package duroxidetest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Run runs until nothing can run and nothing is due (see the package comment):
// every instance has finished or waits for an event nobody scheduled. Reaching
// MaxSteps fails the test.
func (e *Env) Run() {
	e.t.Helper()
	e.run(nil)
}

// RunUntil runs until cond holds (checked before every step) and reports true, or
// until nothing can run and nothing is due with cond still false, and reports
// false. Reaching MaxSteps fails the test.
func (e *Env) RunUntil(cond func() bool) bool {
	e.t.Helper()
	return e.run(cond)
}

func (e *Env) run(cond func() bool) bool {
	e.t.Helper()
	for steps := 0; ; {
		if cond != nil && cond() {
			return true
		}
		if e.step() {
			steps++
			if steps >= e.cfg.maxSteps {
				e.t.Fatalf("duroxidetest: %d steps without settling at virtual time %v (an orchestration that never ends? see MaxSteps)",
					steps, e.Now().Format(time.RFC3339))
			}
			continue
		}
		if !e.advance() {
			return cond == nil
		}
	}
}

// step runs one turn (the instance of the oldest visible message) or, when no
// orchestration item is visible, one activity (the oldest visible work item). It
// reports whether it ran anything.
func (e *Env) step() bool {
	e.t.Helper()
	ctx := context.Background()
	item, err := e.ms.FetchOrchestrationItem(ctx, lockTimeout, 0, nil)
	if err != nil {
		e.t.Fatalf("duroxidetest: fetch an orchestration item: %v", err)
	}
	if item != nil {
		e.drv.Turn(item)
		e.checkEngineFailure(item.Instance)
		return true
	}
	lease, err := e.ms.FetchWorkItem(ctx, lockTimeout, 0)
	if err != nil {
		e.t.Fatalf("duroxidetest: fetch a work item: %v", err)
	}
	if lease != nil {
		e.drv.Activity(lease)
		return true
	}
	return false
}

// advance moves the clock to the next due time (the store's or a scheduled
// callback's), runs the callbacks due by then in order, and wakes the store. It
// reports false when nothing is due.
func (e *Env) advance() bool {
	next, ok := e.ms.NextDue()
	e.mu.Lock()
	if len(e.at) > 0 && (!ok || e.at[0].when.Before(next)) {
		next, ok = e.at[0].when, true
	}
	e.mu.Unlock()
	if !ok {
		return false
	}
	e.clock.set(next)
	e.runDue()
	e.ms.Wake()
	return true
}

// runDue runs the scheduled callbacks due at the current virtual time, in order.
func (e *Env) runDue() {
	now := e.Now()
	for {
		e.mu.Lock()
		if len(e.at) == 0 || e.at[0].when.After(now) {
			e.mu.Unlock()
			return
		}
		s := e.at[0]
		e.at = e.at[1:]
		e.mu.Unlock()
		s.fn()
	}
}

// At runs fn (on the test's goroutine, from Run) when the virtual clock reaches t,
// after every turn and activity runnable before then; fn may raise events, cancel
// instances or start new ones through [Env.Client]. A time not after now runs fn
// at the next step of Run. Callbacks due at the same time run in the order they
// were scheduled.
func (e *Env) At(t time.Time, fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now := e.clock.Now(); t.Before(now) {
		t = now
	}
	e.seq++
	s := scheduled{when: t, seq: e.seq, fn: fn}
	i, _ := slices.BinarySearchFunc(e.at, s, func(a, b scheduled) int {
		if c := a.when.Compare(b.when); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	e.at = slices.Insert(e.at, i, s)
}

// checkEngineFailure reports, once, an instance whose latest execution failed
// because its orchestration code panicked or was nondeterministic, or because an
// orchestration or activity it needed is neither registered nor mocked.
func (e *Env) checkEngineFailure(instance string) {
	if e.cfg.allowFailure {
		return
	}
	sum, err := e.ms.InstanceSummary(context.Background(), instance)
	if err != nil || sum.Status != store.StatusFailed || sum.Failure == nil {
		return
	}
	d := sum.Failure
	if d.Kind != history.KindPanicked && d.Kind != history.KindNondeterminism && d.Kind != history.KindUnregistered {
		return
	}
	key := fmt.Sprintf("%s/%d", instance, sum.ExecutionID)
	if e.reported[key] {
		return
	}
	e.reported[key] = true
	where := ""
	if d.Kind == history.KindPanicked {
		where = e.lastEventBeforeFailure(instance)
	}
	e.t.Errorf("duroxidetest: orchestration %q (instance %q, execution %d) failed at virtual time %v%s: %s",
		sum.Name, instance, sum.ExecutionID, e.Now().Format(time.RFC3339), where, d.DisplayMessage())
}

// lastEventBeforeFailure names the last event the code saw before its execution
// failed (the nondeterminism diagnostics name their event themselves; a panic's do
// not): " after event <id> (<type>)", or "" when the history cannot tell.
func (e *Env) lastEventBeforeFailure(instance string) string {
	h, err := e.ms.ReadHistory(context.Background(), instance, 0)
	if err != nil || len(h) < 2 || h[len(h)-1].Type != history.OrchestrationFailed {
		return ""
	}
	ev := h[len(h)-2]
	if ev.Name != "" {
		return fmt.Sprintf(" after event %d (%s %q)", ev.EventID, ev.Type, ev.Name)
	}
	return fmt.Sprintf(" after event %d (%s)", ev.EventID, ev.Type)
}
