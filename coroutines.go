package duroxide

import (
	"fmt"
	"runtime"

	"github.com/duroxide-go/duroxide/history"
)

// coroutine is one deterministic thread of orchestration code: the orchestration
// function itself (main) or a function started with [OrchestrationContext.Go]. Each
// runs on a goroutine of its own, but the engine resumes exactly one at a time and
// waits until it blocks or returns, so their interleaving depends only on history.
type coroutine struct {
	resume   chan struct{}
	main     bool
	started  bool
	finished bool
	// waitCond is what the parked coroutine waits for (nil: runnable).
	waitCond func() bool
	// cancelled: its Go future was dropped (a Select loser); it is unwound at its
	// next resume and schedules nothing more.
	cancelled bool
	// body runs the coroutine's function (nil for main, which runs e.fn).
	body func()
	// owned are the futures this coroutine created, in creation order: cancelling
	// the coroutine cancels those still pending.
	owned []*futureState
}

// run lets the coroutines run to quiescence: in creation order, every coroutine that
// has not started or whose wait condition now holds is resumed until it blocks or
// returns, and the pass repeats while any made progress. The main coroutine
// returning ends the run (the execution is over; the others are cancelled).
// Called on the engine goroutine.
func (e *engine) run() {
	for progressed := true; progressed; {
		progressed = false
		for i := 0; i < len(e.cos); i++ { // coroutines started during the pass run in it
			if e.finished || e.failure != nil || e.aborting {
				return
			}
			co := e.cos[i]
			if co.finished || co.started && !co.cancelled && co.waitCond != nil && !co.waitCond() {
				continue
			}
			e.step(co)
			progressed = true
		}
		e.reap()
	}
}

// step resumes co (starting it the first time) and waits until it blocks or returns.
// A coroutine that starts another with Go yields to it at once: step runs the new
// one until it blocks, then resumes co again.
func (e *engine) step(co *coroutine) {
	if !co.started && co.cancelled {
		co.finished = true // dropped before it ever ran
		return
	}
	for {
		prev := e.cur
		e.cur = co
		if !co.started {
			co.started = true
			go e.coroutine(co)
		}
		co.waitCond = nil
		e.inCoroutine.Store(true)
		co.resume <- struct{}{}
		<-e.yield
		e.inCoroutine.Store(false)
		e.cur = prev
		child := e.spawned
		if child == nil {
			return
		}
		e.spawned = nil
		e.step(child)
		if e.aborting || e.failure != nil {
			return // co stays parked; abort unwinds it
		}
	}
}

// reap forgets finished coroutines other than main, keeping creation order.
func (e *engine) reap() {
	live := e.cos[:1]
	for _, co := range e.cos[1:] {
		if !co.finished {
			live = append(live, co)
		}
	}
	clear(e.cos[len(live):])
	e.cos = live
}

// coroutine is the body of a coroutine's goroutine.
func (e *engine) coroutine(co *coroutine) {
	defer func() {
		if r := recover(); r != nil && !e.aborting && !co.cancelled {
			if e.failure == nil {
				e.failure = &history.ErrorDetails{Category: history.Application, Kind: history.KindPanicked,
					Message: fmt.Sprintf("orchestration %s panicked: %v", e.name, r)}
			}
		}
		co.finished = true
		if co.main {
			e.finished = true
		}
		e.yield <- struct{}{}
	}()
	<-co.resume
	if e.aborting || co.cancelled {
		return
	}
	if !co.main {
		co.body()
		return
	}
	out, err := e.fn(e.ctx, e.input)
	if ca, ok := err.(*continueAsNewError); ok {
		e.canInput, e.canVersion = &ca.input, ca.version
		return
	}
	e.output, e.userErr = out, err
}

// spawn starts child as a new coroutine and runs it until it first blocks or
// returns, then returns to the caller. Called on the coroutine that starts it.
func (e *engine) spawn(child *coroutine) {
	co := e.current()
	e.checkAlive(co)
	e.cos = append(e.cos, child)
	e.spawned = child
	e.yield <- struct{}{}
	<-co.resume
	e.checkAlive(co)
}

// current returns the running coroutine, or panics when called from a goroutine the
// engine did not resume (orchestration code starting goroutines of its own).
func (e *engine) current() *coroutine {
	if !e.inCoroutine.Load() || e.cur == nil {
		panic("duroxide: orchestration code ran outside its own goroutine; " +
			"orchestration code must not start goroutines (use ctx.Go, Join and Select)")
	}
	return e.cur
}

// checkAlive ends co's goroutine if the execution is being torn down or co was
// cancelled; deferred calls in its function run.
func (e *engine) checkAlive(co *coroutine) {
	if e.aborting || co.cancelled {
		runtime.Goexit()
	}
}

// block parks the running coroutine until cond holds. Called on a coroutine only.
func (e *engine) block(cond func() bool) {
	if e.aborting {
		runtime.Goexit()
	}
	if cond() {
		return
	}
	co := e.current()
	e.checkAlive(co)
	co.waitCond = cond
	e.yield <- struct{}{}
	<-co.resume
	e.checkAlive(co)
}

// abort ends every parked coroutine (eviction, failure, shutdown, execution end).
// Deferred calls in the orchestration's functions run; anything they schedule is
// ignored.
func (e *engine) abort() {
	e.aborting = true
	for _, co := range e.cos {
		if !co.started || co.finished {
			continue
		}
		e.cur = co
		e.inCoroutine.Store(true)
		co.resume <- struct{}{}
		<-e.yield
		e.inCoroutine.Store(false)
		e.cur = nil
	}
}

// cancelCoroutine cancels the coroutine behind a dropped Go future: every future it
// created that is still pending is cancelled as a Select loser's would be
// (recursively, for the coroutines it started), and the coroutine itself is unwound
// at its next resume. Called on the coroutine that drops the future.
func (e *engine) cancelCoroutine(co *coroutine, reason string) {
	if co == nil || co.cancelled || co.finished {
		return
	}
	co.cancelled = true
	for _, st := range co.owned {
		e.cancelFuture(st, reason)
	}
}
