package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/duroxide-go/duroxide/store"
)

// workEntry is one item of the worker queue.
type workEntry struct {
	seq       uint64
	item      store.WorkItem
	visibleAt time.Time
	attempts  int
	lease     *workLease // while fetched
	removed   bool
}

// workLease is the lock of a fetched work item.
type workLease struct {
	token   string
	owner   *Store
	expires time.Time
}

// EnqueueForWorker adds an ActivityExecute item to the worker queue (duroxide's
// enqueue_for_worker; the runtime's commits enqueue activities themselves). It fails
// for another message type or an invalid instance id.
func (s *Store) EnqueueForWorker(ctx context.Context, item store.WorkItem) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validInstance(item.Instance); err != nil {
		return err
	}
	if item.Type != store.ActivityExecute {
		return fmt.Errorf("memstore: the worker queue takes ActivityExecute items, not %q (instance %q)", item.Type, item.Instance)
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enqueueWork(item, 0)
	b.notifyLocked()
	return nil
}

// enqueueWork appends an item to the worker queue. The caller holds mu and notifies.
func (b *backend) enqueueWork(item store.WorkItem, delay time.Duration) {
	b.seq++
	b.work = append(b.work, &workEntry{seq: b.seq, item: item, visibleAt: b.now().Add(max(delay, 0))})
}

func (b *backend) removeWork(e *workEntry) {
	if e.removed {
		return
	}
	e.removed = true
	if e.lease != nil {
		delete(b.workLeases, e.lease.token)
		e.lease = nil
	}
	b.workGone++
}

// selects reports whether the handle's worker tags select tag.
func (s *Store) selects(tag string) bool {
	for _, t := range s.tags {
		if t == tag || t == AnyWorkTag {
			return true
		}
	}
	return false
}

// FetchWorkItem implements [store.Provider]: the oldest visible item the handle's
// tags select, routed by session as the handle's session owner (none: items without
// a session only). The poll timeout is a real duration; visibility follows the
// store's clock.
func (s *Store) FetchWorkItem(ctx context.Context, lockTimeout, pollTimeout time.Duration) (*store.WorkLease, error) {
	deadline := time.Now().Add(pollTimeout)
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if err := s.check(ctx); err != nil {
			return nil, err
		}
		w, due := s.tryFetchWork(lockTimeout)
		if w != nil {
			return w, nil
		}
		ok, err := s.wait(ctx, deadline, due)
		if err != nil || !ok {
			return nil, err
		}
	}
}

// tryFetchWork makes one pass over the worker queue. It returns the lease, or nil
// and the time at which the next item becomes visible, a lock or a session lease
// that blocks an item expires (zero if none).
func (s *Store) tryFetchWork(lockTimeout time.Duration) (*store.WorkLease, time.Time) {
	b := s.b
	now := b.now()
	b.compact()
	var due time.Time
	for i := 0; i < len(b.work); i++ {
		e := b.work[i]
		if e.removed || !s.selects(e.item.Tag) {
			continue
		}
		if e.lease != nil {
			if now.Before(e.lease.expires) {
				due = earliest(due, e.lease.expires)
				continue
			}
			delete(b.workLeases, e.lease.token)
			e.lease = nil
		}
		if e.visibleAt.After(now) {
			due = earliest(due, e.visibleAt)
			continue
		}
		if inc := e.item.Incarnation; inc != "" {
			if in := b.insts[e.item.Instance]; in == nil || in.inc != inc {
				b.removeWork(e) // its instance was deleted
				continue
			}
		}
		if sid := e.item.SessionID; sid != "" {
			if s.owner == "" {
				continue
			}
			ss := b.sessions[sid]
			if ss != nil && ss.owner != s.owner && now.Before(ss.expires) {
				due = earliest(due, ss.expires)
				continue
			}
			if ss == nil || ss.owner != s.owner || !now.Before(ss.expires) {
				ss = &session{id: sid, owner: s.owner, expires: now.Add(s.sessTO)}
				b.sessions[sid] = ss
			}
			ss.last = now
		}
		e.attempts++
		e.lease = &workLease{token: b.token("w"), owner: s, expires: now.Add(lockTimeout)}
		b.workLeases[e.lease.token] = e
		return &store.WorkLease{Item: e.item, LockToken: e.lease.token, AttemptCount: e.attempts}, time.Time{}
	}
	return nil, due
}

// workLeaseOf returns the item token holds, or an ErrLockLost error.
func (b *backend) workLeaseOf(token, op string) (*workEntry, error) {
	e := b.workLeases[token]
	if e == nil || e.removed || e.lease == nil || e.lease.token != token {
		return nil, fmt.Errorf("memstore: %s of work item with token %q: %w", op, token, store.ErrLockLost)
	}
	if !b.now().Before(e.lease.expires) {
		delete(b.workLeases, token)
		e.lease = nil
		b.notifyLocked()
		return nil, fmt.Errorf("memstore: %s of work item with token %q: lock expired: %w", op, token, store.ErrLockLost)
	}
	return e, nil
}

// touchSession records activity on the item's session.
func (b *backend) touchSession(e *workEntry) {
	if sid := e.item.SessionID; sid != "" {
		if ss := b.sessions[sid]; ss != nil {
			ss.last = b.now()
		}
	}
}

// AckWorkItem implements [store.Provider]. The completion is stamped with the work
// item's incarnation and enqueued in the same step as the item's removal.
func (s *Store) AckWorkItem(ctx context.Context, lockToken string, completion *store.WorkItem) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if completion != nil {
		if err := validInstance(completion.Instance); err != nil {
			return fmt.Errorf("memstore: ack of work item with token %q: completion: %w", lockToken, err)
		}
		if completion.Type == "" || completion.Type == store.ActivityExecute {
			return fmt.Errorf("memstore: ack of work item with token %q: completion of type %q is not an orchestrator message", lockToken, completion.Type)
		}
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.workLeaseOf(lockToken, "ack")
	if err != nil {
		return err
	}
	b.touchSession(e)
	b.removeWork(e)
	if completion != nil {
		c := *completion
		c.Incarnation = e.item.Incarnation
		b.enqueueOrch(c, 0)
	}
	b.notifyLocked()
	return nil
}

// RenewWorkItemLock implements [store.Provider].
func (s *Store) RenewWorkItemLock(ctx context.Context, lockToken string, extend time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.workLeaseOf(lockToken, "renew")
	if err != nil {
		return err
	}
	e.lease.expires = b.now().Add(extend)
	b.touchSession(e)
	return nil
}

// AbandonWorkItem implements [store.Provider]. It returns [store.ErrLockLost] for a
// token that no longer holds its item.
func (s *Store) AbandonWorkItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.workLeaseOf(lockToken, "abandon")
	if err != nil {
		return err
	}
	b.touchSession(e)
	delete(b.workLeases, lockToken)
	e.lease = nil
	if ignoreAttempt && e.attempts > 0 {
		e.attempts--
	}
	e.visibleAt = b.now().Add(max(delay, 0))
	b.notifyLocked()
	return nil
}

// cancelActivities removes the work items of the given activities, whatever their
// tag and whoever holds them. The caller holds mu.
func (b *backend) cancelActivities(acts []store.ScheduledActivity) {
	if len(acts) == 0 {
		return
	}
	for _, e := range b.work {
		if e.removed || e.item.Type != store.ActivityExecute {
			continue
		}
		for _, a := range acts {
			if e.item.Instance == a.Instance && e.item.ExecutionID == a.ExecutionID && e.item.ID == a.ID {
				b.removeWork(e)
				break
			}
		}
	}
}
