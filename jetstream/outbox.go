package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// The outbox of a turn is what its record asks the store to send once the record is
// durable: work items for the workers, orchestrator messages (timers, completions,
// events, sub-orchestration starts) for the inboxes, and the cancellation of
// activities the turn dropped. [Store.AckOrchestrationItem] runs it after the fenced
// publish (afterCommit); a crash in between is repaired by the redelivered inbox
// messages, whose fetch finds the record already durable and runs it again (redrive).
// Every message carries a deduplication id derived from the record's sequence, so a
// second run sends nothing new. A turn that ends its execution materializes the
// instance's KV store (kvstate.go) before its outbox goes out.

// afterCommit runs what follows a durable commit: the KV store is materialized when
// the turn ended its execution, then the outbox is dispatched. st holds the
// execution's whole history (the cached state, already extended by the turn).
func (s *Store) afterCommit(ctx context.Context, instance string, st *instState, rec *turnRecord, seq uint64) error {
	if endsExecution(rec) {
		// Until the document is written, the cached store must not be trusted: a
		// failure here is repaired by the re-drive, which cannot update this cache.
		st.kvLoaded = false
		m, err := s.materializeKV(ctx, EncodeToken(instance), st.inc, rec.Exec, st.events)
		if err != nil {
			return err
		}
		st.kv, st.kvExec, st.kvLoaded = m, rec.Exec, true
	}
	return s.dispatch(ctx, rec, seq)
}

// redriveRecord re-runs afterCommit for a record read back from the stream.
func (s *Store) redriveRecord(ctx context.Context, subject string, rec *turnRecord, seq uint64) error {
	if endsExecution(rec) {
		enc := subjectInstanceToken(subject)
		instance, err := DecodeToken(enc)
		if err != nil {
			return err
		}
		events, err := s.ReadHistory(ctx, instance, rec.Exec)
		if err != nil {
			return err
		}
		if _, err := s.materializeKV(ctx, enc, rec.Inc, rec.Exec, events); err != nil {
			return err
		}
	}
	return s.dispatch(ctx, rec, seq)
}

// dispatch publishes a committed record's outbox. Every message carries a
// deduplication id derived from the record's stream sequence, so dispatching the same
// record again within the streams' duplicate window publishes nothing new; later, the
// receivers' own checks (completed ids, started instances) make a repeat harmless.
func (s *Store) dispatch(ctx context.Context, rec *turnRecord, histSeq uint64) (err error) {
	if len(rec.Work)+len(rec.Orch) > 0 {
		defer func(start time.Time) { s.observePublish(PublishOutbox, start, err) }(time.Now())
	}
	futs := make([]jetstream.PubAckFuture, 0, len(rec.Work)+len(rec.Orch))
	publish := func(m *nats.Msg) error {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futs = append(futs, f)
		return nil
	}
	nowMs := time.Now().UnixMilli()
	for i := range rec.Work {
		w := &rec.Work[i]
		data, err := json.Marshal(w)
		if err != nil {
			return err
		}
		m := nats.NewMsg(s.subj.work(w.Tag, EncodeToken(w.Instance), w.ExecutionID, w.ID))
		m.Data = data
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("h%d.w%d", histSeq, i))
		setTraceHeaders(m, w)
		if err := publish(m); err != nil {
			return err
		}
	}
	for i := range rec.Orch {
		o := &rec.Orch[i]
		data, err := json.Marshal(o)
		if err != nil {
			return err
		}
		enc := EncodeToken(o.Instance)
		m := nats.NewMsg(s.subj.runtime(enc))
		m.Data = data
		setTraceHeaders(m, o)
		if o.Type == store.TimerFired && o.FireAtMs > nowMs {
			// A durable timer: a one-shot schedule that the server fires into the
			// inbox. Re-publishing replaces it (one schedule per subject); a second
			// TimerFired is ignored by the runtime. No Msg-Id: the fired message
			// would inherit it.
			m.Subject = s.subj.timer(enc, o.ExecutionID, o.ID, o.Incarnation)
			setSchedule(m, time.UnixMilli(o.FireAtMs), s.subj.runtime(enc))
		} else {
			m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("h%d.o%d", histSeq, i))
		}
		if err := publish(m); err != nil {
			return err
		}
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Insert before delete: a work item published above and cancelled by the same
	// turn is removed too.
	return s.purgeCancelled(ctx, rec.Cancel)
}

// redrive dispatches the outbox of the record at histSeq again.
func (s *Store) redrive(ctx context.Context, histSeq uint64) error {
	// From the leader: the record was just acknowledged, a replica may not have it.
	m, err := LeaderGet(ctx, s.nc, s.subj.historyStream(), LeaderGetRequest{Seq: histSeq})
	if err == nil && m == nil {
		err = errNoMsg
	}
	if err != nil {
		return fmt.Errorf("jetstream: re-read record %d: %w", histSeq, err)
	}
	rec, err := decodeRecord(m.Data)
	if err != nil {
		return fmt.Errorf("jetstream: decode record %d: %w", histSeq, err)
	}
	applyRecordTrace(rec, m.Header)
	return s.redriveRecord(ctx, m.Subject, rec, histSeq)
}

// endsExecution reports whether a turn record ends its execution.
func endsExecution(rec *turnRecord) bool {
	if rec.Summary.ExecutionID != rec.Exec {
		return false
	}
	switch rec.Summary.Status {
	case store.StatusCompleted, store.StatusFailed, store.StatusContinuedAsNew:
		return true
	}
	return false
}

// subjectInstanceToken returns the <id> token of ns.hist.<id>.<exec>.
func subjectInstanceToken(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) < 4 {
		return ""
	}
	return parts[2]
}

// notify publishes a best-effort status-change notice on core NATS. Waiters re-read
// the authoritative summary, so a lost notice only delays them to their next poll.
func (s *Store) notify(enc string, sum *store.InstanceSummary) {
	data, err := json.Marshal(sum)
	if err == nil {
		_ = s.nc.Publish(s.subj.events(enc), data)
	}
}

// StatusSubject is the core NATS subject that carries status-change notices for an
// instance (payload: the instance summary as JSON).
func (s *Store) StatusSubject(instance string) string {
	return s.subj.events(EncodeToken(instance))
}

// StatusSubjects is the wildcard subject of every instance's status notices.
func (s *Store) StatusSubjects() string { return s.subj.ns + ".evt.>" }
