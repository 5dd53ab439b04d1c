package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/duroxide-go/duroxide/store"
)

// The optional client and runtime layers of the contract beyond store.Provider:
// client publishes with deduplication (InboxPublisher), starts waiting in an inbox
// (PendingReader), dead-letter reasons (DeadLetterReader) and status notices
// (StatusWatcher).

// DedupWindow is how long PublishInbox remembers a deduplication id (on the store's
// clock), as JetStream's default duplicate window.
const DedupWindow = 2 * time.Minute

// PublishInbox adds a client message (StartOrchestration of a top-level instance,
// ExternalRaised, QueueMessage or CancelInstance) to item.Instance's inbox, visible
// at once. A second publish with the same non-empty dedupID within [DedupWindow]
// enqueues nothing. It fails, enqueueing nothing, for an invalid instance id, another
// message type, or a start that names a parent or carries events forward (only the
// runtime sends those).
func (s *Store) PublishInbox(ctx context.Context, item store.WorkItem, dedupID string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validInstance(item.Instance); err != nil {
		return err
	}
	switch item.Type {
	case store.StartOrchestration:
		if item.ParentInstance != "" || item.ParentExecutionID != 0 || item.ParentID != 0 {
			return fmt.Errorf("memstore: a client StartOrchestration of %q may not name a parent instance: only the runtime starts sub-orchestrations", item.Instance)
		}
		if len(item.CarryForward) > 0 {
			return fmt.Errorf("memstore: a client StartOrchestration of %q may not carry forward events", item.Instance)
		}
	case store.ExternalRaised, store.QueueMessage, store.CancelInstance:
	default:
		return fmt.Errorf("memstore: message type %q for %q is not a client message (StartOrchestration, ExternalRaised, QueueMessage, CancelInstance)", item.Type, item.Instance)
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if dedupID != "" {
		now := b.now()
		if b.dedup == nil {
			b.dedup = map[string]time.Time{}
		}
		if at, ok := b.dedup[dedupID]; ok && now.Sub(at) < DedupWindow {
			return nil
		}
		if len(b.dedup) >= 4096 {
			for id, at := range b.dedup {
				if now.Sub(at) >= DedupWindow {
					delete(b.dedup, id)
				}
			}
		}
		b.dedup[dedupID] = now
	}
	b.enqueueOrch(item, 0)
	b.notifyLocked()
	return nil
}

// PendingStart implements store.PendingReader: the first StartOrchestration waiting
// in the instance's inbox (nil if none) and how many messages wait there (delayed
// and locked ones included). A message is removed when the turn that consumed it
// commits.
func (s *Store) PendingStart(ctx context.Context, instance string) (*store.WorkItem, uint64, error) {
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	first, n := b.waitingStart(instance)
	if first == nil {
		return nil, n, nil
	}
	it := first.item
	return &it, n, nil
}

// PendingStarts implements store.PendingReader: instances without history whose
// start waits in their inbox, of orchestration name when name is not empty, in id
// order; the cursor is the last id of the previous page. limit must be positive.
func (s *Store) PendingStarts(ctx context.Context, name string, limit int, after string) ([]string, string, error) {
	if err := s.check(ctx); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("memstore: pending starts: limit %d is not positive", limit)
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	first := map[string]*orchMsg{} // instance -> its waiting start enqueued first
	for m := range b.allMsgs {
		if m.isRaw || m.item.Type != store.StartOrchestration || b.insts[m.instance] != nil {
			continue
		}
		if f := first[m.instance]; f == nil || m.seq < f.seq {
			first[m.instance] = m
		}
	}
	var ids []string
	for id, m := range first {
		if id > after && (name == "" || m.item.Name == name) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		return ids[:limit], ids[limit-1], nil
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, "", nil
}

// LastDeadLetter implements store.DeadLetterReader: the reason of the instance's
// last dead-lettered message ([Store.DeadLetters]), or "".
func (s *Store) LastDeadLetter(ctx context.Context, instance string) (string, error) {
	if err := s.check(ctx); err != nil {
		return "", err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.dead) - 1; i >= 0; i-- {
		if b.dead[i].Instance == instance {
			return b.dead[i].Reason, nil
		}
	}
	return "", nil
}

// watcher is one WatchStatus registration.
type watcher struct {
	id     uint64
	notify func()
}

// WatchStatus implements store.StatusWatcher: notify is called after every commit
// that changes the instance's summary (status, output, custom status, execution)
// and after its deletion, outside the store's lock, until stop is called.
func (s *Store) WatchStatus(instance string, notify func()) (func(), error) {
	if notify == nil {
		return nil, fmt.Errorf("memstore: watch status of %q: notify is nil", instance)
	}
	if s.isClosed() {
		return nil, fmt.Errorf("memstore: %w", store.ErrClosed)
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watchers == nil {
		b.watchers = map[string][]watcher{}
	}
	b.watchSeq++
	id := b.watchSeq
	b.watchers[instance] = append(b.watchers[instance], watcher{id: id, notify: notify})
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		ws := slices.DeleteFunc(b.watchers[instance], func(w watcher) bool { return w.id == id })
		if len(ws) == 0 {
			delete(b.watchers, instance)
		} else {
			b.watchers[instance] = ws
		}
	}, nil
}

// statusChanged queues the notices of the instance's watchers; unlockNotify sends
// them. The caller holds mu.
func (b *backend) statusChanged(instance string) {
	for _, w := range b.watchers[instance] {
		b.notices = append(b.notices, w.notify)
	}
}

// unlockNotify releases mu, then calls the queued status notices.
func (b *backend) unlockNotify() {
	ns := b.notices
	b.notices = nil
	b.mu.Unlock()
	for _, n := range ns {
		n()
	}
}
