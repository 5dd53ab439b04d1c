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
//
// The steps, in order: validate (validateCommit), decide whether there is anything
// to record (ackWithoutRecord when not), build the record (buildRecord), publish it
// fenced (publishFenced, which settles a fence conflict), update the cached state
// (applyCommitted), then dispatch the outbox and ack the inbox messages
// (finishCommit).
func (s *Store) AckOrchestrationItem(ctx context.Context, lockToken string, c store.Commit) error {
	l, live := s.takeLease(lockToken)
	if l == nil || !live {
		return fmt.Errorf("%w: ack with token %q", store.ErrLockLost, lockToken)
	}
	if err := validateCommit(l.st, c); err != nil {
		s.restoreLease(lockToken, l)
		return err
	}
	t := newTurn(l, lockToken, c)
	if t.nothingToRecord() {
		return s.ackWithoutRecord(ctx, t)
	}
	m, err := s.buildRecord(t)
	if err != nil {
		s.release(l, false)
		return err
	}
	seq, err := s.publishFenced(ctx, t, m)
	if err != nil {
		return err
	}
	t.applyCommitted(seq)
	s.finishCommit(ctx, t, seq)
	return nil
}

// turn is one commit in progress: the lease it holds, the commit, and what is
// derived from them on the way to the history record.
type turn struct {
	l         *orchLease
	lockToken string
	c         store.Commit
	st        *instState // the cached state; the lock makes this goroutine its only user
	instance  string
	enc       string
	newExec   bool   // the commit starts a new execution
	pinned    string // the execution's pinned engine version after the commit
	repin     bool   // the commit only changes the pinned version of the current execution

	// Set by buildRecord.
	rec       *turnRecord
	prev      store.InstanceSummary // the summary before the commit
	inc       string
	parentInc string
	msgID     string
}

func newTurn(l *orchLease, lockToken string, c store.Commit) *turn {
	st := l.st
	t := &turn{l: l, lockToken: lockToken, c: c, st: st, instance: l.lease.Key, newExec: c.ExecutionID != st.exec}
	t.enc = EncodeToken(t.instance)
	// The execution's pinned engine version: set by the metadata, else carried from
	// the execution's previous record (a new execution starts without one).
	t.pinned = c.Metadata.PinnedEngineVersion
	if t.pinned == "" && !t.newExec {
		t.pinned = st.pinned
	}
	// A turn that only sets a new pinned version on the current execution (a
	// backfill) is recorded too: the version lives in the records' headers.
	t.repin = st.exists && !t.newExec && t.pinned != st.pinned
	return t
}

// nothingToRecord reports whether the commit leaves the history as it is: no events,
// no outbox, no new pinned version and no metadata change.
func (t *turn) nothingToRecord() bool {
	c := t.c
	return len(c.HistoryDelta) == 0 && len(c.WorkerItems) == 0 && len(c.OrchestratorItems) == 0 && !t.repin &&
		!metadataChanges(t.st, c.Metadata)
}

// ackWithoutRecord ends a turn that has nothing to record (messages for a finished
// instance, duplicates): it acks the messages without writing history. Dropping
// messages is a decision too, so it must rest on the instance's latest history, like
// a fenced commit.
func (s *Store) ackWithoutRecord(ctx context.Context, t *turn) error {
	l := t.l
	if fresh, err := s.isCurrent(ctx, t.instance, t.st); err != nil || !fresh {
		s.release(l, true)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: instance %q", store.ErrFenced, t.instance)
	}
	if err := s.purgeCancelled(ctx, t.c.CancelledActivities); err != nil {
		// Nothing was recorded: the turn can run again.
		s.release(l, false)
		return err
	}
	s.ackInbox(l)
	s.host.Release(t.lockToken, keepState(t.st))
	return nil
}

// buildRecord builds the turn's history record (events, outbox, consumed inbox
// sequences, next summary, incarnation) and the fenced message that carries it. It
// fails with [ErrRecordTooLarge] when the record exceeds the server's payload limit.
func (s *Store) buildRecord(t *turn) (*nats.Msg, error) {
	st, c := t.st, t.c
	rec := &turnRecord{V: recordVersion, Exec: c.ExecutionID, Events: c.HistoryDelta, Work: c.WorkerItems, Orch: c.OrchestratorItems, Cancel: c.CancelledActivities}
	for _, m := range t.l.msgs {
		rec.Consumed = append(rec.Consumed, m.seq)
	}
	if t.newExec && st.exists {
		for in, hs := range st.consumed {
			if hs == st.lastSeq {
				rec.PriorConsumed = append(rec.PriorConsumed, in)
			}
		}
	}
	t.prev = st.summary
	var prev *store.InstanceSummary
	if st.exists {
		prev = &st.summary
	}
	rec.Summary = store.NextSummary(prev, t.instance, c.ExecutionID != st.exec, c, time.Now().UnixMilli())
	// The incarnation: drawn when the commit creates the instance, kept after.
	inc, parentInc := st.inc, st.parentInc
	if !st.exists {
		// Drawn when the instance was fetched (OrchestrationItem.Incarnation).
		if inc == "" {
			inc = newID()
		}
		parentInc = startParentInc(t.l.msgs)
	}
	rec.Inc, rec.ParentInc = inc, parentInc
	rec.Work, rec.Orch = stampOutbox(t.instance, inc, rec.Summary.ParentInstance, parentInc, c.WorkerItems, c.OrchestratorItems)
	t.rec, t.inc, t.parentInc = rec, inc, parentInc

	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("jetstream: encode turn of %q: %w", t.instance, err)
	}
	if max := s.nc.MaxPayload(); max > 0 && int64(len(data)) > max-4096 {
		return nil, fmt.Errorf("%w: %d bytes for %q, limit %d", ErrRecordTooLarge, len(data), t.instance, max)
	}
	t.msgID = "c:" + t.lockToken
	m := nats.NewMsg(s.subj.history(t.enc, c.ExecutionID))
	m.Data = data
	m.Header.Set(nats.MsgIdHdr, t.msgID)
	if t.pinned != "" {
		m.Header.Set(HeaderEngineVersion, t.pinned)
	}
	if inc != "" {
		m.Header.Set(HeaderIncarnation, inc)
	}
	if tc := recordTrace(rec); tc != nil {
		setTraceHeaders(m, tc)
	}
	return m, nil
}

// publishFenced publishes the turn's record expecting the last sequence the store saw
// for the instance, and returns the record's stream sequence. On failure it releases
// the lease as the outcome requires: fenced (another writer extended the instance,
// [store.ErrFenced]), unanswered (the attempt is given back), or refused.
func (s *Store) publishFenced(ctx context.Context, t *turn, m *nats.Msg) (uint64, error) {
	expectLastSubjectSeq(m, t.st.lastSeq, s.subj.historyAny(t.enc))
	seq, err := s.publishAck(ctx, m) // observe.go
	switch {
	case err == nil:
		return seq, nil
	case isWrongLastSeq(err):
		return s.settleFenceConflict(ctx, t)
	case unavailable(err):
		// The stream did not answer (its leader died and the next is not elected,
		// or the connection went): the turn reached no outcome, so this delivery
		// gives its attempt back instead of counting towards poison.
		s.releaseUnanswered(t.l)
		return 0, fmt.Errorf("jetstream: commit turn of %q: %w", t.instance, err)
	default:
		s.release(t.l, false)
		return 0, fmt.Errorf("jetstream: commit turn of %q: %w", t.instance, err)
	}
}

// settleFenceConflict handles a publish refused for its expected sequence. Either our
// own earlier attempt landed (a retried publish), or another writer extended the
// instance: only the stored Msg-Id tells which. The first returns that record's
// sequence; the second releases the lease, dropping the cached state, and fails with
// [store.ErrFenced].
func (s *Store) settleFenceConflict(ctx context.Context, t *turn) (uint64, error) {
	_, last, lerr := s.lastRecord(ctx, t.enc)
	if lerr == nil && last != nil && last.msgID == t.msgID {
		return last.seq, nil
	}
	s.release(t.l, true)
	return 0, fmt.Errorf("%w: instance %q", store.ErrFenced, t.instance)
}

// applyCommitted updates the cached state in place with the durable record at seq.
func (t *turn) applyCommitted(seq uint64) {
	st, rec := t.st, t.rec
	if t.newExec {
		st.exec = t.c.ExecutionID
		st.events = nil
		consumed := make(map[uint64]uint64, len(rec.PriorConsumed)+len(rec.Consumed))
		for _, in := range rec.PriorConsumed {
			consumed[in] = 0
		}
		st.consumed = consumed
	}
	st.exists = true
	st.events = append(st.events, t.c.HistoryDelta...)
	for _, in := range rec.Consumed {
		st.consumed[in] = seq
	}
	st.lastSeq = seq
	st.summary = rec.Summary
	st.histErr = ""
	st.pinned = t.pinned
	st.inc, st.parentInc = t.inc, t.parentInc
}

// finishCommit runs what follows a durable record: the outbox (afterCommit, in
// outbox.go), then the inbox acks, the lock's release and the status notice. The
// commit stands whatever happens here: a failed dispatch leaves the messages unacked,
// and their redelivery dispatches the outbox again.
func (s *Store) finishCommit(ctx context.Context, t *turn, seq uint64) {
	l := t.l
	if h := s.cfg.Hooks.AfterCommit; h != nil {
		if err := h(t.instance); err != nil {
			// Simulated crash: nothing after the commit happens, the lock is simply
			// lost, and the messages stay unacked until the broker redelivers them.
			s.host.Release(t.lockToken, actors.ReleaseOpts[*instState]{Forget: true})
			return
		}
	}
	if err := s.afterCommit(ctx, t.instance, t.st, t.rec, seq); err != nil {
		s.log.Warn("outbox dispatch failed; it will be retried on redelivery", "instance", t.instance, "err", err)
		for _, m := range l.msgs {
			_ = m.msg.NakWithDelay(time.Second)
		}
		s.host.Release(t.lockToken, actors.ReleaseOpts[*instState]{SetState: true, State: t.st})
		return
	}
	s.ackInbox(l)
	s.host.Release(t.lockToken, actors.ReleaseOpts[*instState]{SetState: true, State: t.st})
	sum := &t.rec.Summary
	if sum.Status != t.prev.Status || sum.CustomStatusVersion != t.prev.CustomStatusVersion || t.newExec {
		s.notify(t.enc, sum)
	}
}

// ackInbox acks the lease's inbox messages: the turn that consumed them is done.
func (s *Store) ackInbox(l *orchLease) {
	for _, m := range l.msgs {
		_ = m.msg.Ack()
	}
	s.inboxRunDone(l.msgs)
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
