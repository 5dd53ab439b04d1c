package duroxide

import (
	"sort"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Cancellation reasons recorded in history, as duroxide writes them.
const (
	// ReasonDroppedFuture cancels a Select loser.
	ReasonDroppedFuture = "dropped_future"
	// ReasonParentCanceled is the reason a cancelled parent gives its children.
	ReasonParentCanceled = "parent canceled"
	// ReasonParentDroppedSub is the reason a parent gives a child whose future it
	// dropped (a Select loser, or still pending when the parent ended).
	ReasonParentDroppedSub = "parent dropped sub-orchestration future"
)

// activityRef names one activity of the engine's instance.
type activityRef struct {
	exec, id  uint64
	schedAtMs int64
}

// cancelFuture drops an unresolved future on behalf of the orchestration code (a
// Select loser). It records the breadcrumb as a decision of the code, so replay
// reproduces it, and cancels what the future stands for:
//   - an activity: ActivityCancelRequested; its work item is removed and a running
//     attempt is signalled after the commit;
//   - a sub-orchestration: SubOrchestrationCancelRequested and CancelInstance for the
//     child ("parent dropped sub-orchestration future");
//   - an event wait: ExternalSubscribedCancelled; the subscription no longer counts
//     for the positional matching of raised events;
//   - a queue dequeue: QueueSubscriptionCancelled; no message is consumed;
//   - a timer: nothing (timers are virtual);
//   - a function started with Go: every future it created that is still pending is
//     cancelled as above (so are the functions it started), and the function is
//     unwound at once (its deferred calls run; it schedules nothing more).
//
// Called on the coroutine.
func (e *engine) cancelFuture(st *futureState, reason string) {
	if st == nil || st.done || st.cancelled {
		return
	}
	if st.kind == kindGo {
		st.cancelled = true
		e.cancelCoroutine(st.co, reason)
		return
	}
	var typ history.EventType
	switch st.kind {
	case kindActivity:
		typ = history.ActivityCancelRequested
	case kindSubOrchestration:
		typ = history.SubOrchestrationCancelRequested
	case kindEvent:
		typ = history.ExternalSubscribedCancelled
	case kindQueue:
		typ = history.QueueSubscriptionCancelled
	default:
		return
	}
	_, fresh := e.emit(history.Event{Type: typ, SourceEventID: st.id, Reason: reason})
	st.cancelled = true
	switch st.kind {
	case kindActivity:
		if fresh {
			e.cancelActs = append(e.cancelActs, activityRef{exec: e.exec, id: st.id, schedAtMs: st.schedAtMs})
		}
	case kindSubOrchestration:
		if fresh {
			e.orchItems = append(e.orchItems, store.WorkItem{Type: store.CancelInstance, Instance: st.child,
				Reason: ReasonParentDroppedSub})
		}
	case kindEvent:
		e.subs[st.name] = removeSub(e.subs[st.name], st)
	case kindQueue:
		e.qsubs[st.name] = removeSub(e.qsubs[st.name], st)
	}
}

func removeSub(list []*futureState, st *futureState) []*futureState {
	out := list[:0:0]
	for _, s := range list {
		if s != st {
			out = append(out, s)
		}
	}
	return out
}

// dropOutstanding cancels what the ending execution still waits for, as duroxide
// does when an orchestration's futures are dropped at its end: in-flight activities
// get ActivityCancelRequested{orchestration_terminal_<status>} and are removed and
// signalled; pending sub-orchestrations get SubOrchestrationCancelRequested and a
// CancelInstance ("parent canceled" when the instance was cancelled, "parent dropped
// sub-orchestration future" otherwise). Timers and waits need nothing. Called on the
// engine goroutine from terminal, before the terminal event.
func (e *engine) dropOutstanding(status string) {
	reason := "orchestration_terminal"
	switch status {
	case store.StatusCompleted:
		reason = "orchestration_terminal_completed"
	case store.StatusFailed:
		reason = "orchestration_terminal_failed"
	case store.StatusContinuedAsNew:
		reason = "orchestration_terminal_continued_as_new"
	}
	cancelled := e.failure != nil && e.failure.Kind == history.KindCancelled
	// A replay that failed part-way has not delivered every completion in history:
	// those futures are not outstanding.
	answered := map[uint64]bool{}
	for i := range e.committed {
		if ev := &e.committed[i]; ev.SourceEventID != 0 {
			answered[ev.SourceEventID] = true
		}
	}
	ids := make([]uint64, 0, len(e.futures))
	for id, st := range e.futures {
		if !st.done && !st.cancelled && !answered[id] && (st.kind == kindActivity || st.kind == kindSubOrchestration) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		st := e.futures[id]
		st.cancelled = true
		ev := history.Event{SourceEventID: id, EventID: e.nextEventID, InstanceID: e.instance, ExecutionID: e.exec,
			TimestampMs: e.nowMs}
		e.nextEventID++
		if st.kind == kindActivity {
			ev.Type, ev.Reason = history.ActivityCancelRequested, reason
			e.cancelActs = append(e.cancelActs, activityRef{exec: e.exec, id: id, schedAtMs: st.schedAtMs})
		} else {
			childReason := ReasonParentDroppedSub
			if cancelled {
				childReason = ReasonParentCanceled
			}
			ev.Type, ev.Reason = history.SubOrchestrationCancelRequested, childReason
			e.orchItems = append(e.orchItems, store.WorkItem{Type: store.CancelInstance, Instance: st.child, Reason: childReason})
		}
		e.newEvents = append(e.newEvents, ev)
	}
}

// takeCancels hands out the activities cancelled in this turn.
func (e *engine) takeCancels() []activityRef {
	c := e.cancelActs
	e.cancelActs = nil
	return c
}
