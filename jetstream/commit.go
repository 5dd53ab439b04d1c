package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/actors"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// ErrRecordTooLarge means a turn's history record is larger than the server accepts.
var ErrRecordTooLarge = errors.New("jetstream: turn record exceeds the server's max payload")

// AckOrchestrationItem implements [store.Provider]. A commit whose metadata changes
// the instance's status, output, name, version or parent is recorded even without
// events; one that would create an instance or start an execution with metadata
// alone is refused with [store.ErrInvalidCommit]. The turn becomes durable with ONE
// fenced publish of its record on the instance's history subject, expecting the last
// sequence the store saw for the instance. Only then is the outbox dispatched (work
// items, timers, messages, all with deduplication ids) and are the inbox messages
// acked; a crash in between is repaired when the unacked messages are redelivered
// (see [Store.prepare]).
func (s *Store) AckOrchestrationItem(ctx context.Context, lockToken string, c store.Commit) error {
	l, live := s.takeLease(lockToken)
	if l == nil || !live {
		return fmt.Errorf("%w: ack with token %q", store.ErrLockLost, lockToken)
	}
	if err := validateCommit(l.st, c); err != nil {
		s.restoreLease(lockToken, l)
		return err
	}
	st := l.st
	instance := l.lease.Key
	newExec := c.ExecutionID != st.exec
	// The execution's pinned engine version: set by the metadata, else carried from
	// the execution's previous record (a new execution starts without one).
	pinned := c.Metadata.PinnedEngineVersion
	if pinned == "" && !newExec {
		pinned = st.pinned
	}
	// A turn that only sets a new pinned version on the current execution (a
	// backfill) is recorded too: the version lives in the records' headers.
	repin := st.exists && !newExec && pinned != st.pinned
	if len(c.HistoryDelta) == 0 && len(c.WorkerItems) == 0 && len(c.OrchestratorItems) == 0 && !repin &&
		!metadataChanges(st, c.Metadata) {
		// Nothing to record (messages for a finished instance, duplicates): ack the
		// messages without writing history. Dropping messages is a decision too, so it
		// must rest on the instance's latest history, like a fenced commit.
		if fresh, err := s.isCurrent(ctx, instance, st); err != nil || !fresh {
			s.release(l, true)
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: instance %q", store.ErrFenced, instance)
		}
		if err := s.purgeCancelled(ctx, c.CancelledActivities); err != nil {
			// Nothing was recorded: the turn can run again.
			s.release(l, false)
			return err
		}
		for _, m := range l.msgs {
			_ = m.msg.Ack()
		}
		s.inboxRunDone(l.msgs)
		s.host.Release(lockToken, keepState(st))
		return nil
	}
	enc := EncodeToken(instance)
	now := time.Now().UnixMilli()

	rec := &turnRecord{V: recordVersion, Exec: c.ExecutionID, Events: c.HistoryDelta, Work: c.WorkerItems, Orch: c.OrchestratorItems, Cancel: c.CancelledActivities}
	for _, m := range l.msgs {
		rec.Consumed = append(rec.Consumed, m.seq)
	}
	if newExec && st.exists {
		for in, hs := range st.consumed {
			if hs == st.lastSeq {
				rec.PriorConsumed = append(rec.PriorConsumed, in)
			}
		}
	}
	prev := st.summary
	rec.Summary = nextSummary(st, instance, c, now)
	// The incarnation: drawn when the commit creates the instance, kept after.
	inc, parentInc := st.inc, st.parentInc
	if !st.exists {
		// Drawn when the instance was fetched (OrchestrationItem.Incarnation).
		if inc == "" {
			inc = newID()
		}
		parentInc = startParentInc(l.msgs)
	}
	rec.Inc, rec.ParentInc = inc, parentInc
	rec.Work, rec.Orch = stampOutbox(instance, inc, rec.Summary.ParentInstance, parentInc, c.WorkerItems, c.OrchestratorItems)

	data, err := json.Marshal(rec)
	if err != nil {
		s.release(l, false)
		return fmt.Errorf("jetstream: encode turn of %q: %w", instance, err)
	}
	if max := s.nc.MaxPayload(); max > 0 && int64(len(data)) > max-4096 {
		s.release(l, false)
		return fmt.Errorf("%w: %d bytes for %q, limit %d", ErrRecordTooLarge, len(data), instance, max)
	}
	msgID := "c:" + lockToken
	m := nats.NewMsg(s.subj.history(enc, c.ExecutionID))
	m.Data = data
	m.Header.Set(nats.MsgIdHdr, msgID)
	if pinned != "" {
		m.Header.Set(HeaderEngineVersion, pinned)
	}
	if inc != "" {
		m.Header.Set(HeaderIncarnation, inc)
	}
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequenceForSubject(st.lastSeq, s.subj.historyAny(enc)))
	var seq uint64
	switch {
	case err == nil:
		seq = ack.Sequence
	case isWrongLastSeq(err):
		// Either our own earlier attempt landed (a retried publish), or another
		// writer extended the instance: only the stored Msg-Id tells which.
		_, last, lerr := s.lastRecord(ctx, enc)
		if lerr == nil && last != nil && last.msgID == msgID {
			seq = last.seq
			break
		}
		s.release(l, true)
		return fmt.Errorf("%w: instance %q", store.ErrFenced, instance)
	case unavailable(err):
		// The stream did not answer (its leader died and the next is not elected,
		// or the connection went): the turn reached no outcome, so this delivery
		// gives its attempt back instead of counting towards poison.
		s.releaseUnanswered(l)
		return fmt.Errorf("jetstream: commit turn of %q: %w", instance, err)
	default:
		s.release(l, false)
		return fmt.Errorf("jetstream: commit turn of %q: %w", instance, err)
	}

	// The turn is durable. Update the cached state in place: the lock makes this
	// goroutine its only user.
	if newExec {
		st.exec = c.ExecutionID
		st.events = nil
		consumed := make(map[uint64]uint64, len(rec.PriorConsumed)+len(rec.Consumed))
		for _, in := range rec.PriorConsumed {
			consumed[in] = 0
		}
		st.consumed = consumed
	}
	st.exists = true
	st.events = append(st.events, c.HistoryDelta...)
	for _, in := range rec.Consumed {
		st.consumed[in] = seq
	}
	st.lastSeq = seq
	st.summary = rec.Summary
	st.histErr = ""
	st.pinned = pinned
	st.inc, st.parentInc = inc, parentInc

	if h := s.cfg.Hooks.AfterCommit; h != nil {
		if err := h(instance); err != nil {
			// Simulated crash: nothing after the commit happens, the lock is simply
			// lost, and the messages stay unacked until the broker redelivers them.
			s.host.Release(lockToken, actors.ReleaseOpts[*instState]{Forget: true})
			return nil
		}
	}
	if err := s.afterCommit(ctx, instance, st, rec, seq); err != nil {
		// The commit stands; the unacked messages will be redelivered and their
		// redelivery dispatches the outbox again.
		s.log.Warn("outbox dispatch failed; it will be retried on redelivery", "instance", instance, "err", err)
		for _, m := range l.msgs {
			_ = m.msg.NakWithDelay(time.Second)
		}
		s.host.Release(lockToken, actors.ReleaseOpts[*instState]{SetState: true, State: st})
		return nil
	}
	for _, m := range l.msgs {
		_ = m.msg.Ack()
	}
	s.inboxRunDone(l.msgs)
	s.host.Release(lockToken, actors.ReleaseOpts[*instState]{SetState: true, State: st})
	if rec.Summary.Status != prev.Status || rec.Summary.CustomStatusVersion != prev.CustomStatusVersion || newExec {
		s.notify(enc, &rec.Summary)
	}
	return nil
}

// release ends a lease without a commit. Its messages stay unacked: they are handed
// back to the broker for redelivery, and the cached state is dropped when fenced.
func (s *Store) release(l *orchLease, fenced bool) {
	// Release first: a redelivery that reached the mailbox while the messages were
	// still lent would be dropped as a duplicate.
	opts := keepState(l.st)
	if fenced {
		opts = actors.ReleaseOpts[*instState]{Forget: true}
	}
	s.host.Release(l.lease.Token, opts)
	for _, m := range l.msgs {
		_ = m.msg.NakWithDelay(10 * time.Millisecond)
	}
}

// unansweredRetryDelay is how long messages whose commit got no answer wait before
// they are delivered again.
const unansweredRetryDelay = 250 * time.Millisecond

// releaseUnanswered ends a lease whose commit got no answer from the server. Its
// messages are handed back for redelivery with their attempt given back (as an
// abandon with ignoreAttempt), so an outage of the history stream, however long,
// never makes valid messages poison.
func (s *Store) releaseUnanswered(l *orchLease) {
	s.host.Release(l.lease.Token, keepState(l.st))
	for i := range l.msgs {
		m := &l.msgs[i]
		s.abandoned(m, true)
		_ = m.msg.NakWithDelay(unansweredRetryDelay)
	}
}

// unavailable reports whether a publish failed because the stream or the server did
// not answer, rather than because the stream refused the message.
func unavailable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return true // "JetStream system temporarily unavailable", no leader
	}
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected)
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// nextSummary applies a commit to the instance summary.
func nextSummary(st *instState, instance string, c store.Commit, now int64) store.InstanceSummary {
	sum := st.summary
	if !st.exists {
		sum = store.InstanceSummary{Instance: instance, CreatedAtMs: now}
	}
	if c.ExecutionID != st.exec {
		sum.ExecutionID = c.ExecutionID
		sum.Status = store.StatusRunning
		sum.Output, sum.Failure = "", nil
	}
	for i := range c.HistoryDelta {
		e := &c.HistoryDelta[i]
		switch e.Type {
		case history.OrchestrationStarted:
			sum.Name, sum.Version, sum.ParentInstance = e.Name, e.Version, e.ParentInstance
			if e.CustomStatus != nil && sum.CustomStatus == nil {
				sum.CustomStatus = e.CustomStatus
			}
		case history.CustomStatusUpdated:
			sum.CustomStatus = e.CustomStatus
			sum.CustomStatusVersion++
		case history.OrchestrationCompleted:
			sum.Status, sum.Output, sum.Failure = store.StatusCompleted, e.Output, nil
		case history.OrchestrationFailed:
			sum.Status, sum.Output, sum.Failure = store.StatusFailed, "", e.Details
			if e.Details != nil {
				sum.Output = e.Details.DisplayMessage()
			}
		case history.OrchestrationContinuedAsNew:
			sum.Status, sum.Output = store.StatusContinuedAsNew, e.Input
		}
	}
	md := c.Metadata
	if md.Status != "" {
		sum.Status = md.Status
	}
	if md.Output != "" {
		sum.Output = md.Output
	}
	if md.OrchestrationName != "" {
		sum.Name = md.OrchestrationName
	}
	if md.OrchestrationVersion != "" {
		sum.Version = md.OrchestrationVersion
	}
	if md.ParentInstanceID != "" {
		sum.ParentInstance = md.ParentInstanceID
	}
	if sum.Status == "" {
		sum.Status = store.StatusRunning
	}
	if sum.ExecutionID == 0 {
		sum.ExecutionID = c.ExecutionID
	}
	sum.UpdatedAtMs = now
	return sum
}

// isCurrent reports whether st still reflects the instance's last history record.
func (s *Store) isCurrent(ctx context.Context, instance string, st *instState) (bool, error) {
	_, last, err := s.lastRecord(ctx, EncodeToken(instance))
	if last == nil {
		return st.lastSeq == 0, err
	}
	return last.seq == st.lastSeq, nil
}

// keepState caches st with the mailbox when the lock is released, unless the
// instance has no history yet: that is not cached, so the next fetch reads the stream
// again instead of trusting a "does not exist" that a start (or a lagging read) may
// have made stale.
func keepState(st *instState) actors.ReleaseOpts[*instState] {
	if st == nil || !st.exists {
		return actors.ReleaseOpts[*instState]{Forget: true}
	}
	return actors.ReleaseOpts[*instState]{SetState: true, State: st}
}
