package duroxide

import (
	"encoding/json"
	"fmt"
)

// Go runs fn as a concurrent, durable sequence of this orchestration and returns a
// future for its result: fn may schedule activities, timers, waits and
// sub-orchestrations and wait for them, and several functions started with Go run at
// once — the way to run a multi-step sequence (a retried call, a call followed by a
// timer) beside others and Join or Select on them.
//
// Scheduling is deterministic, not preemptive: fn starts at once and runs until it
// first waits on a future, then Go returns. Afterwards the orchestration function and
// its Go functions run one at a time, each until it waits, in the order they were
// started, after every completion delivered from history; so replay reproduces the
// same interleaving and the same history, and a replay that diverges fails with the
// nondeterminism error naming the event, as for code without Go. A Go function leaves
// no trace in history of its own: only the events of what it schedules.
//
// The future resolves when fn returns: with fn's result encoded as JSON (read it with
// [Future.Get] or [Await]), or with fn's error exactly as returned (so errors.Is and
// errors.As see it). A result that cannot be encoded resolves it with an error
// wrapping [ErrInvalidInput]. A panic in fn fails the orchestration, as a panic in the orchestration
// function does.
//
// Cancellation: if the future loses a [OrchestrationContext.Select], everything fn
// is still waiting for is cancelled as a Select loser is (running activities are
// cancelled, sub-orchestrations asked to cancel, waits withdrawn, timers forgotten,
// Go functions it started cancelled in turn), fn is unwound where it waits (its
// deferred calls run, and anything they schedule is ignored), and Get on the future
// returns [ErrFutureCancelled]. When the orchestration function returns, Go functions
// still running are ended the same way, and their in-flight activities and
// sub-orchestrations are cancelled with the execution's other outstanding work.
//
// fn receives this same context; it must follow the orchestration's determinism
// rules and must not start goroutines of its own.
func (c *OrchestrationContext) Go(fn func(ctx *OrchestrationContext) (any, error)) *Future {
	return c.e.goFuture("", func() (string, error) {
		v, err := fn(c)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("%w: the result of a Go function (%T) cannot be encoded as JSON: %v", ErrInvalidInput, v, err)
		}
		return string(b), nil
	})
}

// goFuture starts body as a coroutine and returns a future that resolves with its
// JSON result or error. name labels the future in errors.
func (e *engine) goFuture(name string, body func() (string, error)) *Future {
	st := &futureState{kind: kindGo, name: name}
	e.own(st)
	co := &coroutine{resume: make(chan struct{})}
	co.body = func() {
		res, err := body()
		e.resolve(st, res, err)
	}
	st.co = co
	e.spawn(co)
	return &Future{e: e, st: st}
}
