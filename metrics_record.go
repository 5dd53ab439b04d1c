package duroxide

import (
	"context"
	"errors"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// Recording. Every method is safe on a nil *metrics (a client of a runtime over
// Options.Store before it is wired) and for concurrent use.

// committed records what a committed turn changed: executions started and ended,
// and sub-orchestration results the parent received. It reads only the turn's new
// events (and, when an execution ends, the execution's history).
func (m *metrics) committed(item *store.OrchestrationItem, c *store.Commit) {
	if m == nil {
		return
	}
	m.turns.WithLabelValues("committed").Inc()
	if len(c.HistoryDelta) == 0 {
		return
	}
	exec := item.History
	if c.HistoryDelta[0].Type == history.OrchestrationStarted {
		exec = nil // a new execution: the item's history is the previous one's
	}
	var started *history.Event
	if len(exec) > 0 && exec[0].Type == history.OrchestrationStarted {
		started = &exec[0]
	}
	for i := range c.HistoryDelta {
		ev := &c.HistoryDelta[i]
		switch ev.Type {
		case history.OrchestrationStarted:
			started = ev
			name, version := m.orchestrationLabels(ev.Name, ev.Version)
			m.orchStarts.WithLabelValues(name, version, initiatedBy(item, c, ev)).Inc()
		case history.SubOrchestrationCompleted, history.SubOrchestrationFailed:
			m.subResult(started, exec, c.HistoryDelta, ev)
		case history.OrchestrationCompleted, history.OrchestrationFailed, history.OrchestrationContinuedAsNew:
			m.executionEnded(started, exec, c.HistoryDelta, ev)
		}
	}
}

// initiatedBy tells how an execution started: by a parent (suborchestration), by
// continue-as-new, by another orchestration's detached start, or by a client.
func initiatedBy(item *store.OrchestrationItem, c *store.Commit, started *history.Event) string {
	switch {
	case started.ParentInstance != "":
		return "suborchestration"
	case c.ExecutionID > 1:
		return "continue_as_new"
	}
	for _, msg := range item.Messages {
		if msg.Item.Type == store.StartOrchestration && msg.Item.Origin != "" {
			return "orchestration"
		}
	}
	return "client"
}

// executionEnded records an execution's end (ev) with its status, duration, history
// size and turn count.
func (m *metrics) executionEnded(started *history.Event, prior, delta []history.Event, ev *history.Event) {
	name, version := unknownLabel, unknownLabel
	var startMs int64
	if started != nil {
		name, version = m.orchestrationLabels(started.Name, started.Version)
		startMs = started.TimestampMs
	}
	status := "completed"
	switch ev.Type {
	case history.OrchestrationFailed:
		status = "failed"
		kind, cat := errorLabels(ev.Details)
		m.orchFailures.WithLabelValues(name, version, kind, cat).Inc()
		switch cat {
		case string(history.Infrastructure):
			m.orchInfraErrors.WithLabelValues(name, cat).Inc()
		case string(history.Configuration):
			m.orchConfigErrors.WithLabelValues(name, cat).Inc()
		case string(history.Poison):
			m.orchPoison.Inc()
		}
	case history.OrchestrationContinuedAsNew:
		status = "continued_as_new"
		m.orchCAN.WithLabelValues(name).Inc()
	}
	turns := turnCount(prior, delta)
	m.orchCompletions.WithLabelValues(name, version, status, turnCountLabel(turns)).Inc()
	if started != nil {
		m.orchDuration.WithLabelValues(name, version, status).Observe(msSeconds(ev.TimestampMs - startMs))
	}
	m.orchHistorySize.WithLabelValues(name).Observe(float64(len(prior) + len(delta)))
	m.orchTurns.WithLabelValues(name).Observe(float64(turns))
}

// turnCount counts an execution's turns: every event of a turn carries the turn's
// time, so the count is the number of distinct event times (two turns within the
// same millisecond count as one).
func turnCount(prior, delta []history.Event) int {
	n := 0
	var last int64 = -1
	for _, evs := range [][]history.Event{prior, delta} {
		for i := range evs {
			if t := evs[i].TimestampMs; t != last {
				n++
				last = t
			}
		}
	}
	return max(n, 1)
}

// subResult records a sub-orchestration result the parent received (ev), timed
// from the parent's SubOrchestrationScheduled event.
func (m *metrics) subResult(started *history.Event, prior, delta []history.Event, ev *history.Event) {
	parent := unknownLabel
	if started != nil {
		parent = m.orchestrationName(started.Name)
	}
	outcome := "success"
	if ev.Type == history.SubOrchestrationFailed {
		outcome = "failed"
	}
	sched := findEvent(ev.SourceEventID, prior, delta)
	child := unknownLabel
	if sched != nil {
		child = m.orchestrationName(sched.Name)
	}
	m.subCalls.WithLabelValues(parent, child, outcome).Inc()
	if sched != nil {
		m.subDuration.WithLabelValues(parent, child, outcome).Observe(msSeconds(ev.TimestampMs - sched.TimestampMs))
	}
}

// findEvent returns the event with id in an execution's history (prior, then delta).
func findEvent(id uint64, prior, delta []history.Event) *history.Event {
	for _, evs := range [][]history.Event{prior, delta} {
		// Event ids count from 1 in history order: try the direct index first.
		if i := int(id) - int(evs0ID(evs)); i >= 0 && i < len(evs) && evs[i].EventID == id {
			return &evs[i]
		}
		for i := range evs {
			if evs[i].EventID == id {
				return &evs[i]
			}
		}
	}
	return nil
}

func evs0ID(evs []history.Event) uint64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[0].EventID
}

func msSeconds(ms int64) float64 { return float64(max(ms, 0)) / 1000 }

// turnFailed records a turn whose commit was refused: fenced out (another holder
// committed first) or another error.
func (m *metrics) turnFailed(err error) {
	if m == nil {
		return
	}
	if errors.Is(err, store.ErrFenced) {
		m.fenceConflicts.Inc()
		m.turns.WithLabelValues("fenced").Inc()
		return
	}
	m.turns.WithLabelValues("error").Inc()
}

// turnDone records a turn's time from fetch (start) to its end.
func (m *metrics) turnDone(start time.Time) {
	if m != nil {
		m.turnDuration.Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) cacheHit() {
	if m != nil {
		m.cacheHits.Inc()
	}
}

func (m *metrics) cacheMiss() {
	if m != nil {
		m.cacheMisses.Inc()
	}
}

func (m *metrics) cacheEvicted() {
	if m != nil {
		m.cacheEvictions.Inc()
	}
}

// cacheSwept counts n engines dropped for being parked longer than
// Options.CachedInstanceIdleTimeout.
func (m *metrics) cacheSwept(n int) {
	if m != nil && n > 0 {
		m.cacheEvictions.Add(float64(n))
	}
}

// activityDone records a work item the worker finished with completion c (nil: the
// activity was cancelled) after running since start.
func (m *metrics) activityDone(lease *store.WorkLease, c *store.WorkItem, start time.Time) {
	if m == nil {
		return
	}
	it := &lease.Item
	name, tag := m.activityName(it.Name), tagLabel(it.Tag)
	outcome := "cancelled"
	switch {
	case c == nil:
	case c.Type == store.ActivityCompleted:
		outcome = "success"
	default:
		_, cat := errorLabels(c.Details)
		switch cat {
		case string(history.Configuration):
			outcome = "config_error"
			m.actConfigErrors.WithLabelValues(name).Inc()
		case string(history.Infrastructure):
			outcome = "infra_error"
			m.actInfraErrors.WithLabelValues(name).Inc()
		case string(history.Poison):
			outcome = "poison"
			m.actPoison.Inc()
		default:
			outcome = "app_error"
		}
	}
	m.actExecutions.WithLabelValues(name, outcome, retryAttemptLabel(it.RetryAttempt), tag).Inc()
	m.actDuration.WithLabelValues(name, outcome, tag).Observe(time.Since(start).Seconds())
}

// activityUndelivered records an activity result the worker could not deliver.
func (m *metrics) activityUndelivered(lease *store.WorkLease) {
	if m != nil {
		m.actInfraErrors.WithLabelValues(m.activityName(lease.Item.Name)).Inc()
	}
}

// Store operations, as duroxide names them.
const (
	opFetchOrchestration = "fetch_orchestration_item"
	opAckOrchestration   = "ack_orchestration_item"
	opAbandonOrch        = "abandon_orchestration_item"
	opRenewOrchestration = "renew_orchestration_item_lock"
	opFetchWork          = "fetch_work_item"
	opAckWork            = "ack_work_item"
	opAbandonWork        = "abandon_work_item"
	opRenewWork          = "renew_work_item_lock"
)

// storeOp records one store call of the runtime that began at start.
func (m *metrics) storeOp(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	status := "success"
	if err != nil {
		status = "error"
		m.storeErrors.WithLabelValues(op, storeErrorType(err)).Inc()
	}
	m.storeDuration.WithLabelValues(op, status).Observe(time.Since(start).Seconds())
}

// storeErrorType classifies a store error into a bounded set.
func storeErrorType(err error) string {
	switch {
	case errors.Is(err, store.ErrFenced):
		return "fenced"
	case errors.Is(err, store.ErrLockLost):
		return "lock_lost"
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrClosed):
		return "closed"
	case errors.Is(err, store.ErrInvalidCommit):
		return "invalid_commit"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	return otherLabel
}

// storeObserver is the store's measurement hook (jetstream.Observer).
func (m *metrics) storeObserver() jetstream.Observer {
	return jetstream.Observer{
		Publish: func(kind string, d time.Duration, _ error) {
			m.publishDuration.WithLabelValues(kind).Observe(d.Seconds())
		},
		DeadLetter: func(class string) { m.deadLetters.WithLabelValues(class).Inc() },
	}
}

// clientStarted records a start the client published (*err nil).
func (m *metrics) clientStarted(name string, err *error) {
	if m != nil && *err == nil {
		m.clientStarts.WithLabelValues(m.orchestrationName(name)).Inc()
	}
}

// clientRaised records an event the client raised (*err nil).
func (m *metrics) clientRaised(event string, err *error) {
	if m != nil && *err == nil {
		m.clientEvents.WithLabelValues(m.events.value(event)).Inc()
	}
}

// clientCancelled records a cancellation the client published (*err nil).
func (m *metrics) clientCancelled(err *error) {
	if m != nil && *err == nil {
		m.clientCancels.Inc()
	}
}

func (m *metrics) clientWaited(start time.Time) {
	if m != nil {
		m.clientWait.Observe(time.Since(start).Seconds())
	}
}
