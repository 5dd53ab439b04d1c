package jetstream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Management operations on the streams. Deleting and pruning remove messages with
// subject purges and then append an admin record to the history stream, on
// ns.hist.<id>.x.<op> (outside ns.hist.<id>.*, so the fence and history reads never
// see it), which tells the projections what was removed.

// AdminRecord is the payload of an admin record on ns.hist.<id>.x.<op>.
type AdminRecord struct {
	// Op is AdminDelete or AdminPrune.
	Op string `json:"op"`
	// Executions are the pruned executions (AdminPrune).
	Executions []uint64 `json:"executions,omitempty"`
}

// Admin record operations.
const (
	AdminDelete = "delete"
	AdminPrune  = "prune"
)

// DeleteCounts says what DeleteInstanceData removed.
type DeleteCounts struct {
	// HistoryRecords is the number of turn records purged (all executions).
	HistoryRecords uint64
	// InboxMessages, Timers and WorkItems are the queued messages purged.
	InboxMessages uint64
	Timers        uint64
	WorkItems     uint64
	// DeadLetters is the number of the instance's dead-lettered messages purged.
	DeadLetters uint64
	// KVState reports whether a materialized KV store was removed.
	KVState bool
}

// JetStream returns the store's JetStream context.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// HistoryStream is the name of the history stream.
func (s *Store) HistoryStream() string { return s.subj.historyStream() }

// HistorySubjects is the filter matching every history and admin record.
func (s *Store) HistorySubjects() string { return s.subj.historyAll() }

// StorageType is the storage the store's streams use.
func (s *Store) StorageType() jetstream.StorageType { return s.storage() }

// Replicas is the replica count of the store's streams.
func (s *Store) Replicas() int { return s.cfg.Replicas }

// HistoryLastSeq returns the history stream's last sequence: every turn committed
// before the call has a sequence at most this.
func (s *Store) HistoryLastSeq(ctx context.Context) (uint64, error) {
	info, err := s.hist.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: history stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

func (s *Store) purge(ctx context.Context, st jetstream.Stream, subject string) (uint64, error) {
	n, err := purgeCount(ctx, st, subject)
	if err != nil {
		return 0, fmt.Errorf("jetstream: purge %s: %w", subject, err)
	}
	return n, nil
}

// purgeCount purges subject from the stream and returns how many messages went.
func purgeCount(ctx context.Context, st jetstream.Stream, subject string) (uint64, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	if n == 0 {
		return 0, nil
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return 0, err
	}
	return n, nil
}

// DeleteInstanceData removes everything the streams hold for an instance: its
// history (every execution), its queued inbox messages and timers, its activity work
// items, its dead-lettered messages and its KV store, then records the deletion for the projections. Purging the
// history first fences out a turn of the instance still in flight: its commit expects
// a last sequence that no longer exists and fails, so it cannot recreate the
// instance. It also ends the instance's incarnation: what a turn committed just
// before dispatches afterwards is refused by its receivers (incarnation.go).
func (s *Store) DeleteInstanceData(ctx context.Context, instance string) (DeleteCounts, error) {
	var c DeleteCounts
	enc := EncodeToken(instance)
	var err error
	if c.HistoryRecords, err = s.purge(ctx, s.hist, s.subj.historyAny(enc)); err != nil {
		return c, err
	}
	s.host.Forget(instance)
	if c.InboxMessages, err = s.purge(ctx, s.inbox, s.subj.storedInboxAny(enc)); err != nil {
		return c, err
	}
	if c.Timers, err = s.purge(ctx, s.inbox, s.subj.ns+".timer."+enc+".>"); err != nil {
		return c, err
	}
	if c.WorkItems, err = s.purge(ctx, s.work, s.subj.ns+".work.*."+enc+".>"); err != nil {
		return c, err
	}
	s.dropWorkLeases(instance)
	if c.DeadLetters, err = s.purge(ctx, s.dead, s.subj.dead(enc)); err != nil {
		return c, err
	}
	if c.KVState, err = s.deleteKVState(ctx, enc); err != nil {
		return c, err
	}
	return c, s.publishAdmin(ctx, enc, AdminRecord{Op: AdminDelete})
}

// dropWorkLeases forgets this store's locks on the instance's work items (their
// messages were purged): acking or renewing one fails with [store.ErrLockLost]
// without a round trip. Other stores (nodes) find out from the purge itself (their
// ack and renewal look the item up) and from the incarnation stamps (incarnation.go).
func (s *Store) dropWorkLeases(instance string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, wl := range s.works {
		if wl.item.Instance == instance {
			delete(s.works, tok)
		}
	}
}

// PruneExecutionData removes the history of the given executions of an instance
// and records the prune for the projections. It returns the number of turn records
// removed. The caller must not pass the current execution.
func (s *Store) PruneExecutionData(ctx context.Context, instance string, executions []uint64) (uint64, error) {
	if len(executions) == 0 {
		return 0, nil
	}
	enc := EncodeToken(instance)
	var total uint64
	for _, e := range executions {
		n, err := s.purge(ctx, s.hist, s.subj.history(enc, e))
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, s.publishAdmin(ctx, enc, AdminRecord{Op: AdminPrune, Executions: executions})
}

func (s *Store) publishAdmin(ctx context.Context, enc string, rec AdminRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	m := nats.NewMsg(s.subj.ns + ".hist." + enc + ".x." + rec.Op)
	m.Data = data
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("jetstream: record %s of %s: %w", rec.Op, enc, err)
	}
	return nil
}

// QueueCounts are the depths of the store's queues.
type QueueCounts struct {
	// Orchestrator is the number of inbox messages not yet processed (delivered or
	// not), timers excluded.
	Orchestrator uint64
	// Worker is the number of activity work items not yet completed.
	Worker uint64
	// Timers is the number of durable timers (message schedules) not yet fired.
	Timers uint64
}

// QueueDepths counts the messages in the inbox and work streams.
func (s *Store) QueueDepths(ctx context.Context) (QueueCounts, error) {
	var q QueueCounts
	in, err := s.inbox.Info(ctx, jetstream.WithSubjectFilter(s.subj.timerAll()))
	if err != nil {
		return q, fmt.Errorf("jetstream: inbox stream info: %w", err)
	}
	for _, n := range in.State.Subjects {
		q.Timers += n
	}
	if in.State.Msgs > q.Timers {
		q.Orchestrator = in.State.Msgs - q.Timers
	}
	w, err := s.work.Info(ctx)
	if err != nil {
		return q, fmt.Errorf("jetstream: work stream info: %w", err)
	}
	q.Worker = w.State.Msgs
	return q, nil
}
