package memstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// AckOrchestrationItem implements [store.Provider]. The whole turn is applied under
// the backend's lock, so it is atomic for every reader and handle. A commit for an
// instance deleted since the fetch fails with [store.ErrLockLost] (the delete
// released the lock).
func (s *Store) AckOrchestrationItem(ctx context.Context, lockToken string, c store.Commit) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.unlockNotify()
	l, err := b.takeLease(lockToken, "ack")
	if err != nil {
		return err
	}
	in := b.insts[l.instance]
	if in != nil && in.inc != l.inc {
		// Deleted and created again under the same id since the fetch.
		b.releaseOrch(l)
		delete(b.orchLeases, lockToken)
		return fmt.Errorf("memstore: ack of %q: %w", l.instance, store.ErrFenced)
	}
	if err := validateCommit(in, c); err != nil {
		return err // the lock is still held
	}
	now := b.now()
	nowMs := now.UnixMilli()
	if in == nil && len(c.HistoryDelta) == 0 && (len(c.WorkerItems) > 0 || len(c.OrchestratorItems) > 0) {
		return fmt.Errorf("memstore: items without history events for instance %q, which does not exist: %w", l.instance, store.ErrInvalidCommit)
	}
	if in != nil || len(c.HistoryDelta) > 0 {
		in = b.apply(l, in, c, nowMs)
		work, orch := stampOutbox(in, c.WorkerItems, c.OrchestratorItems)
		for _, w := range work {
			b.enqueueWork(w, 0)
		}
		for _, o := range orch {
			b.enqueueOrch(o, 0)
		}
	}
	b.cancelActivities(c.CancelledActivities)
	for _, m := range l.msgs {
		if m.lease == l {
			b.removeOrch(m)
		}
	}
	b.releaseOrch(l)
	delete(b.orchLeases, lockToken)
	b.notifyLocked()
	return nil
}

// validateCommit checks a turn against the instance (nil: none yet) before anything
// is applied, as the JetStream store does.
func validateCommit(in *instance, c store.Commit) error {
	if v := c.Metadata.PinnedEngineVersion; v != "" {
		if _, err := store.ParseSemver(v); err != nil {
			return fmt.Errorf("memstore: pinned engine version: %v: %w", err, store.ErrInvalidCommit)
		}
	}
	var exec uint64
	if in != nil {
		exec = in.cur().id
	}
	if len(c.HistoryDelta) == 0 {
		if metadataChanges(in, c.Metadata) && (in == nil || c.ExecutionID != exec) {
			return fmt.Errorf("memstore: metadata (status %q) without history events for execution %d, which has none: %w",
				c.Metadata.Status, c.ExecutionID, store.ErrInvalidCommit)
		}
		return nil
	}
	if in != nil && c.ExecutionID < exec {
		return fmt.Errorf("memstore: execution %d is older than the current execution %d: %w", c.ExecutionID, exec, store.ErrInvalidCommit)
	}
	var last uint64
	if in != nil && c.ExecutionID == exec && len(in.cur().events) > 0 {
		evs := in.cur().events
		last = evs[len(evs)-1].EventID
	}
	for i := range c.HistoryDelta {
		id := c.HistoryDelta[i].EventID
		if id <= last {
			if i == 0 {
				return fmt.Errorf("memstore: event id %d does not follow the execution's last event id %d: %w", id, last, store.ErrInvalidCommit)
			}
			return fmt.Errorf("memstore: event id %d follows event id %d in the delta: %w", id, last, store.ErrInvalidCommit)
		}
		last = id
	}
	return nil
}

// metadataChanges reports whether md changes what the instance summary says
// (status, output, name, version, parent).
func metadataChanges(in *instance, md store.ExecutionMetadata) bool {
	var sum store.InstanceSummary
	if in != nil {
		sum = in.summary
	}
	differs := func(v, cur string) bool { return v != "" && v != cur }
	return differs(md.Status, sum.Status) || differs(md.Output, sum.Output) ||
		differs(md.OrchestrationName, sum.Name) || differs(md.OrchestrationVersion, sum.Version) ||
		differs(md.ParentInstanceID, sum.ParentInstance)
}

// apply records a validated commit: it creates the instance or a new execution when
// the commit starts one, appends the delta, and updates the summary and views.
func (b *backend) apply(l *orchLease, in *instance, c store.Commit, nowMs int64) *instance {
	if in == nil {
		b.order++
		in = &instance{id: l.instance, inc: l.inc, created: b.order, kvPrior: map[string]store.KVEntry{},
			parentInc: startParentInc(l.msgs)}
		b.insts[l.instance] = in
	}
	prev := in.summary
	newExec := len(in.execs) == 0 || len(c.HistoryDelta) > 0 && c.ExecutionID != in.cur().id
	if newExec {
		if len(in.execs) > 0 {
			applyKV(in.kvPrior, in.cur().events)
		}
		in.execs = append(in.execs, &execution{id: c.ExecutionID, startedMs: nowMs})
		in.pinned = ""
		in.corrupt = ""
	}
	if v := c.Metadata.PinnedEngineVersion; v != "" {
		in.pinned = v
	}
	ex := in.cur()
	ex.events = append(ex.events, c.HistoryDelta...)
	if len(c.HistoryDelta) > 0 {
		if data, err := json.Marshal(c.HistoryDelta); err == nil {
			ex.bytes += int64(len(data))
		}
	}
	var before *store.InstanceSummary
	if prev.Instance != "" {
		before = &prev
	}
	in.summary = store.NextSummary(before, in.id, newExec, c, nowMs)
	sum := &in.summary
	ex.status, ex.output, ex.failure = sum.Status, sum.Output, sum.Failure
	if sum.Status != store.StatusRunning && ex.completedMs == 0 {
		ex.completedMs = nowMs
	}
	if sum.Status != prev.Status {
		b.order++
		in.statusOrder = b.order
	}
	if sum.Status != prev.Status || sum.Output != prev.Output || sum.ExecutionID != prev.ExecutionID ||
		sum.CustomStatusVersion != prev.CustomStatusVersion {
		b.statusChanged(in.id)
	}
	return in
}

// startParentInc returns the parent's incarnation carried by the start message of a
// sub-orchestration being created, or "".
func startParentInc(msgs []*orchMsg) string {
	for _, m := range msgs {
		it := &m.item
		if it.Type == store.StartOrchestration && it.ParentInstance != "" && it.Origin == it.ParentInstance {
			return it.OriginIncarnation
		}
	}
	return ""
}

// stampOutbox returns copies of a commit's items stamped with the incarnations they
// belong to: the instance's for its own items, the parent's for sub-orchestration
// results, and the origin for starts and cancellations of other instances.
func stampOutbox(in *instance, work, orch []store.WorkItem) ([]store.WorkItem, []store.WorkItem) {
	parent := in.summary.ParentInstance
	w := make([]store.WorkItem, len(work))
	for i, it := range work {
		it.Incarnation = ""
		if it.Instance == in.id {
			it.Incarnation = in.inc
		}
		w[i] = it
	}
	o := make([]store.WorkItem, len(orch))
	for i, it := range orch {
		it.Incarnation, it.Origin, it.OriginIncarnation = "", "", ""
		switch {
		case it.Instance == in.id:
			it.Incarnation = in.inc
		case parent != "" && it.Instance == parent && (it.Type == store.SubOrchCompleted || it.Type == store.SubOrchFailed):
			it.Incarnation = in.parentInc
		case it.Type == store.StartOrchestration || it.Type == store.CancelInstance:
			it.Origin, it.OriginIncarnation = in.id, in.inc
		}
		o[i] = it
	}
	return w, o
}

// applyKV applies the KV events among events to m, in place.
func applyKV(m map[string]store.KVEntry, events []history.Event) {
	for i := range events {
		ev := &events[i]
		switch ev.Type {
		case history.KeyValueSet:
			m[ev.Key] = store.KVEntry{Value: ev.Value, LastUpdatedAtMs: ev.LastUpdatedAtMs}
		case history.KeyValueCleared:
			delete(m, ev.Key)
		case history.KeyValuesCleared:
			clear(m)
		}
	}
}
