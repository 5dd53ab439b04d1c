package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/duroxide-go/duroxide/store"
)

func isRunning(status string) bool {
	return status == store.StatusRunning || status == store.StatusContinuedAsNew
}

// DeleteInstance implements [store.Deleter]. The checks and the delete happen in
// one step: nothing else runs in between.
func (s *Store) DeleteInstance(ctx context.Context, instance string, force bool) (*store.DeleteResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.unlockNotify()
	in := b.insts[instance]
	if in == nil {
		return nil, fmt.Errorf("memstore: delete %q: %w", instance, store.ErrNotFound)
	}
	if p := in.summary.ParentInstance; p != "" {
		return nil, fmt.Errorf("memstore: %q is a sub-orchestration of %q (delete the root): %w", instance, p, store.ErrCannotDeleteSubOrchestration)
	}
	return b.deleteList(b.tree(instance), force)
}

// DeleteInstances implements [store.Deleter]. Here the checks and the deletes are
// one step: a failure leaves everything as it was.
func (s *Store) DeleteInstances(ctx context.Context, instances []string, force bool) (*store.DeleteResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.unlockNotify()
	return b.deleteList(instances, force)
}

// deleteList checks, then deletes, the listed instances (missing ones ignored),
// children before parents. The caller holds mu.
func (b *backend) deleteList(ids []string, force bool) (*store.DeleteResult, error) {
	listed := make(map[string]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	var existing []string
	for _, id := range ids {
		in := b.insts[id]
		if in == nil || slices.Contains(existing, id) {
			continue
		}
		if !force && isRunning(in.summary.Status) {
			return nil, fmt.Errorf("memstore: %q is %s (use force): %w", id, in.summary.Status, store.ErrInstanceStillRunning)
		}
		for _, ch := range b.children(id) {
			if !listed[ch.id] {
				return nil, fmt.Errorf("memstore: child %q of %q is not in the delete (delete the whole tree; it would orphan the child): %w", ch.id, id, store.ErrWouldOrphan)
			}
		}
		existing = append(existing, id)
	}
	res := &store.DeleteResult{}
	for i := len(existing) - 1; i >= 0; i-- {
		res.Add(b.deleteOne(existing[i]))
	}
	if len(existing) > 0 {
		b.notifyLocked()
	}
	return res, nil
}

// deleteOne removes an instance: its executions, key-value store, queued messages
// and timers, work items and lock (a turn in flight cannot commit afterwards).
func (b *backend) deleteOne(id string) *store.DeleteResult {
	in := b.insts[id]
	execs, events := in.counts()
	r := &store.DeleteResult{InstancesDeleted: 1, ExecutionsDeleted: execs, EventsDeleted: events}
	delete(b.insts, id)
	b.statusChanged(id)
	if l := b.locks[id]; l != nil {
		b.releaseOrch(l)
		delete(b.orchLeases, l.token)
	}
	var gone []*orchMsg
	for m := range b.allMsgs {
		if m.instance == id {
			gone = append(gone, m)
		}
	}
	for _, m := range gone {
		b.removeOrch(m)
		r.QueueMessagesDeleted++
	}
	for _, e := range b.work {
		if !e.removed && e.item.Instance == id {
			b.removeWork(e)
			r.QueueMessagesDeleted++
		}
	}
	return r
}

func bulkLimit(l int) int {
	if l <= 0 {
		return 1000
	}
	return l
}

// DeleteInstanceBulk implements [store.Deleter]. Without ids it selects from the
// Completed, then the Failed listing.
func (s *Store) DeleteInstanceBulk(ctx context.Context, f store.InstanceFilter) (*store.DeleteResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.unlockNotify()
	ids := f.InstanceIDs
	if ids == nil {
		for _, status := range []string{store.StatusCompleted, store.StatusFailed} {
			for _, in := range b.selected(store.ListQuery{Status: status}) {
				ids = append(ids, in.id)
			}
		}
	}
	limit := bulkLimit(f.Limit)
	res := &store.DeleteResult{}
	n := 0
	for _, id := range ids {
		if n >= limit {
			break
		}
		in := b.insts[id]
		if in == nil || in.summary.ParentInstance != "" || isRunning(in.summary.Status) {
			continue
		}
		if !f.CompletedBefore.IsZero() && in.summary.UpdatedAtMs >= f.CompletedBefore.UnixMilli() {
			continue
		}
		r, err := b.deleteList(b.tree(id), true)
		if err != nil {
			return res, err
		}
		res.Add(r)
		n++
	}
	return res, nil
}

// PruneExecutions implements [store.Deleter].
func (s *Store) PruneExecutions(ctx context.Context, instance string, opts store.PruneOptions) (*store.PruneResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return nil, fmt.Errorf("memstore: prune %q: %w", instance, store.ErrNotFound)
	}
	return b.prune(in, opts), nil
}

// prune removes the instance's ended executions that opts selects, never the
// current one. The caller holds mu.
func (b *backend) prune(in *instance, opts store.PruneOptions) *store.PruneResult {
	res := &store.PruneResult{InstancesProcessed: 1}
	keep := max(opts.KeepLast, 1)
	if len(in.execs) <= keep {
		return res
	}
	cur := in.cur()
	candidates := in.execs[:len(in.execs)-keep]
	kept := make([]*execution, 0, len(in.execs))
	for _, ex := range in.execs {
		prune := ex != cur && slices.Contains(candidates, ex) && ex.status != store.StatusRunning &&
			(opts.CompletedBefore.IsZero() || ex.completedMs < opts.CompletedBefore.UnixMilli())
		if !prune {
			kept = append(kept, ex)
			continue
		}
		res.ExecutionsDeleted++
		res.EventsDeleted += int64(len(ex.events))
	}
	in.execs = kept
	return res
}

// PruneExecutionsBulk implements [store.Deleter].
func (s *Store) PruneExecutionsBulk(ctx context.Context, f store.InstanceFilter, opts store.PruneOptions) (*store.PruneResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := f.InstanceIDs
	if ids == nil {
		for _, in := range b.selected(store.ListQuery{}) {
			ids = append(ids, in.id)
		}
	}
	limit := bulkLimit(f.Limit)
	res := &store.PruneResult{}
	for i, id := range ids {
		if i >= limit {
			break
		}
		in := b.insts[id]
		if in == nil {
			continue
		}
		r := b.prune(in, opts)
		res.InstancesProcessed += r.InstancesProcessed
		res.ExecutionsDeleted += r.ExecutionsDeleted
		res.EventsDeleted += r.EventsDeleted
	}
	return res, nil
}
