package duroxide

import (
	"fmt"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// peekID is the event id the next emitted action will get: the id of the next
// schedule event in history while replaying, the next new id otherwise.
func (e *engine) peekID() uint64 {
	if e.nextSched < len(e.schedIdx) {
		return e.committed[e.schedIdx[e.nextSched]].EventID
	}
	return e.nextEventID
}

// emit records an action the code took. While history still holds unmatched schedule
// events the action must equal the next one, or the execution fails with a
// nondeterminism error naming both. Otherwise the action becomes a new event. It
// returns the event as stored (history's version when replaying) and whether it is new.
// Called on the coroutine.
func (e *engine) emit(ev history.Event) (history.Event, bool) {
	e.checkAlive(e.current())
	if e.nextSched < len(e.schedIdx) {
		h := e.committed[e.schedIdx[e.nextSched]]
		if why := mismatch(&h, &ev); why != "" {
			e.failFromCoroutine(e.diverge(h.EventID, describeEvent(&h), describeEvent(&ev),
				fmt.Sprintf("at event %d history holds %s, but the code asked for %s (%s)",
					h.EventID, describeEvent(&h), describeEvent(&ev), why)))
		}
		e.nextSched++
		return h, false
	}
	if e.replaying {
		// Actions the code takes while an event is delivered follow that event (and
		// the actions already matched) in history: the next other event is where
		// this one should be.
		j := e.replayPos + 1
		for j < len(e.committed) && e.committed[j].Type.IsSchedule() && e.matched(j) {
			j++
		}
		id, hist := e.nextEventID, fmt.Sprintf("nothing more (history ends at event %d)", e.nextEventID-1)
		if j < len(e.committed) {
			id, hist = e.committed[j].EventID, describeEvent(&e.committed[j])
		}
		e.failFromCoroutine(e.diverge(id, hist, describeEvent(&ev),
			fmt.Sprintf("the code asked for %s, which history does not hold at this point (history has %d events)",
				describeEvent(&ev), len(e.committed))))
	}
	ev.EventID = e.nextEventID
	e.nextEventID++
	ev.InstanceID, ev.ExecutionID, ev.TimestampMs = e.instance, e.exec, e.nowMs
	e.newEvents = append(e.newEvents, ev)
	if e.newLimit > 0 && len(e.newEvents) > e.newLimit {
		e.failFromCoroutine(errNewLimit)
	}
	return ev, true
}

// errNewLimit ends code that asks for more new events than a replayer allows.
var errNewLimit = &history.ErrorDetails{Category: history.Configuration, Kind: history.KindNondeterminism,
	Message: "replay: the code asks for more than history holds"}

func mismatch(h, c *history.Event) string {
	if h.Type != c.Type {
		return "different kind"
	}
	switch c.Type {
	case history.ActivityScheduled:
		switch {
		case h.Name != c.Name:
			return "different activity name"
		case h.Input != c.Input:
			return "different input"
		case h.SessionID != c.SessionID:
			return "different session"
		case h.Tag != c.Tag:
			return "different tag"
		}
	case history.SubOrchestrationScheduled:
		switch {
		case h.Name != c.Name:
			return "different orchestration name"
		case h.Input != c.Input:
			return "different input"
		case h.Instance != c.Instance:
			return "different instance id"
		}
	case history.OrchestrationChained:
		switch {
		case h.Name != c.Name:
			return "different orchestration name"
		case h.Instance != c.Instance:
			return "different instance id"
		case h.Input != c.Input:
			return "different input"
		}
	case history.ExternalSubscribed, history.QueueSubscribed:
		if h.Name != c.Name {
			return "different event name"
		}
	case history.KeyValueSet:
		if h.Key != c.Key || h.Value != c.Value {
			return "different key or value"
		}
	case history.KeyValueCleared:
		if h.Key != c.Key {
			return "different key"
		}
	case history.ActivityCancelRequested, history.SubOrchestrationCancelRequested,
		history.ExternalSubscribedCancelled, history.QueueSubscriptionCancelled:
		if h.SourceEventID != c.SourceEventID {
			return "cancels a different future"
		}
	}
	return ""
}

func (e *engine) newFuture(kind futureKind, id uint64, name string) *Future {
	st := &futureState{kind: kind, id: id, name: name}
	e.futures[id] = st
	e.own(st)
	return &Future{e: e, st: st}
}

// own records st as created by the running coroutine, so cancelling that coroutine
// cancels st. The main coroutine is never cancelled, so it keeps no list; a long-lived
// Go function's list drops settled futures whenever it would grow.
func (e *engine) own(st *futureState) {
	co := e.current()
	if co.main {
		return
	}
	if len(co.owned) == cap(co.owned) && len(co.owned) >= 16 {
		live := co.owned[:0]
		for _, o := range co.owned {
			if !o.done && !o.cancelled {
				live = append(live, o)
			}
		}
		clear(co.owned[len(live):])
		co.owned = live
	}
	co.owned = append(co.owned, st)
}

func (e *engine) failedFuture(err error) *Future {
	return &Future{e: e, st: &futureState{kind: kindFailed, done: true, err: err}}
}

func (e *engine) resolve(st *futureState, result string, err error) {
	e.resolved++
	st.done, st.order, st.result, st.err = true, e.resolved, result, err
}

// validateCompletion checks that ev answers an outstanding future of the right kind.
func (e *engine) validateCompletion(ev *history.Event) error {
	var want futureKind
	switch ev.Type {
	case history.ActivityCompleted, history.ActivityFailed:
		want = kindActivity
	case history.TimerFired:
		want = kindTimer
	case history.SubOrchestrationCompleted, history.SubOrchestrationFailed:
		want = kindSubOrchestration
	default:
		return nil
	}
	st := e.futures[ev.SourceEventID]
	switch {
	case st == nil:
		return fmt.Errorf("%s at event %d answers event %d, which scheduled nothing", ev.Type, ev.EventID, ev.SourceEventID)
	case st.kind != want:
		return fmt.Errorf("%s at event %d answers event %d, which scheduled a %s", ev.Type, ev.EventID, ev.SourceEventID, st.kind)
	case st.done:
		return fmt.Errorf("%s at event %d answers event %d a second time", ev.Type, ev.EventID, ev.SourceEventID)
	}
	return nil
}

// deliver applies one completion or message event, then lets the coroutine run.
func (e *engine) deliver(ev *history.Event) {
	switch ev.Type {
	case history.ActivityCompleted, history.SubOrchestrationCompleted:
		e.resolve(e.futures[ev.SourceEventID], ev.Output, nil)
	case history.ActivityFailed, history.SubOrchestrationFailed:
		d := history.ErrorDetails{Category: history.Application, Kind: history.KindActivityFailed}
		if ev.Details != nil {
			d = *ev.Details
		}
		if ev.Type == history.ActivityFailed && d.Category != history.Application {
			// Configuration, infrastructure and poison failures of an activity are not
			// the orchestration's to handle: they fail it.
			e.fail(&d)
			return
		}
		e.resolve(e.futures[ev.SourceEventID], "", &TaskError{Details: d})
	case history.TimerFired:
		e.resolve(e.futures[ev.SourceEventID], "", nil)
	case history.ExternalEvent:
		if subs := e.subs[ev.Name]; len(subs) > 0 {
			e.subs[ev.Name] = subs[1:]
			e.resolve(subs[0], ev.Data, nil)
		}
	case history.QueueEventDelivered:
		e.deliverQueued(history.QueuedMessage{Name: ev.Name, Data: ev.Data})
	case history.OrchestrationCancelRequested:
		e.fail(&history.ErrorDetails{Category: history.Application, Kind: history.KindCancelled, Message: ev.Reason})
		return
	}
	e.run()
}

// apply turns a batch of new messages into history events, delivering each in order.
// Messages that do not apply (stale executions, duplicates, events for a finished
// execution) are dropped.
func (e *engine) apply(msgs []store.Message, nowMs int64) {
	e.nowMs = nowMs
	for _, m := range msgs {
		if e.finished || e.failure != nil {
			return
		}
		it := &m.Item
		ev := history.Event{SourceEventID: it.ID}
		switch it.Type {
		case store.ActivityCompleted:
			ev.Type, ev.Output = history.ActivityCompleted, it.Result
		case store.ActivityFailed:
			ev.Type, ev.Details = history.ActivityFailed, it.Details
		case store.TimerFired:
			ev.Type, ev.FireAtMs = history.TimerFired, it.FireAtMs
		case store.SubOrchCompleted:
			ev.Type, ev.Output = history.SubOrchestrationCompleted, it.Result
		case store.SubOrchFailed:
			ev.Type, ev.Details = history.SubOrchestrationFailed, it.Details
		case store.ExternalRaised:
			ev = history.Event{Type: history.ExternalEvent, Name: it.Name, Data: it.Data}
		case store.CancelInstance:
			ev = history.Event{Type: history.OrchestrationCancelRequested, Reason: it.Reason}
		case store.QueueMessage:
			ev = history.Event{Type: history.QueueEventDelivered, Name: it.Name, Data: it.Data}
		default:
			e.log.Debug("ignoring message", "instance", e.instance, "type", it.Type)
			continue
		}
		if it.Type.IsCompletion() {
			if it.ExecutionID != e.exec {
				continue // for an earlier execution
			}
			if err := e.validateCompletion(&ev); err != nil {
				e.log.Debug("ignoring completion", "instance", e.instance, "reason", err)
				continue
			}
			if st := e.futures[it.ID]; st != nil && st.cancelled {
				continue // the future was dropped; its late result is discarded
			}
		}
		ev.EventID = e.nextEventID
		e.nextEventID++
		ev.InstanceID, ev.ExecutionID, ev.TimestampMs = e.instance, e.exec, e.nowMs
		e.newEvents = append(e.newEvents, ev)
		e.deliver(&e.newEvents[len(e.newEvents)-1])
	}
}

// terminal appends the execution's final event if it ended in this turn and returns
// the status for the commit metadata ("" while still running).
func (e *engine) terminal() (status, output string) {
	var ev history.Event
	switch {
	case e.failure != nil:
		ev = history.Event{Type: history.OrchestrationFailed, Details: e.failure}
		status, output = store.StatusFailed, e.failure.DisplayMessage()
	case !e.finished:
		return "", ""
	case e.canInput != nil:
		ev = history.Event{Type: history.OrchestrationContinuedAsNew, Input: *e.canInput}
		status, output = store.StatusContinuedAsNew, *e.canInput
		version := e.canVersion
		e.orchItems = append(e.orchItems, store.WorkItem{Type: store.ContinueAsNew, Instance: e.instance,
			ExecutionID: e.exec + 1, Name: e.name, Version: version, Input: *e.canInput,
			ParentInstance: e.parentInst, ParentExecutionID: e.parentExec, ParentID: e.parentID,
			CarryForward: e.carryForward(), InitialCustomStatus: e.customStatus})
	case e.userErr != nil:
		d := &history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed, Message: e.userErr.Error()}
		e.failure = d
		ev = history.Event{Type: history.OrchestrationFailed, Details: d}
		status, output = store.StatusFailed, d.Message
	default:
		ev = history.Event{Type: history.OrchestrationCompleted, Output: e.output}
		status, output = store.StatusCompleted, e.output
	}
	e.dropOutstanding(status)
	ev.EventID = e.nextEventID
	e.nextEventID++
	ev.InstanceID, ev.ExecutionID, ev.TimestampMs = e.instance, e.exec, e.nowMs
	e.newEvents = append(e.newEvents, ev)
	if e.parentInst != "" && status != store.StatusContinuedAsNew {
		done := store.WorkItem{Type: store.SubOrchCompleted, Instance: e.parentInst, ExecutionID: e.parentExec,
			ID: e.parentID, Result: e.output}
		if status == store.StatusFailed {
			done = store.WorkItem{Type: store.SubOrchFailed, Instance: e.parentInst, ExecutionID: e.parentExec,
				ID: e.parentID, Details: e.failure}
		}
		e.orchItems = append(e.orchItems, done)
	}
	return status, output
}

// takeTurn hands out the turn's outputs and resets them for the next turn.
func (e *engine) takeTurn() (events []history.Event, work, orch []store.WorkItem) {
	events, work, orch = e.newEvents, e.workItems, e.orchItems
	e.newEvents, e.workItems, e.orchItems = nil, nil, nil
	return
}

// done reports whether the execution has ended (or will end with this turn).
func (e *engine) done() bool { return e.finished || e.failure != nil }
