package memstore

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/duroxide-go/duroxide/store"
)

// orchMsg is one message of the orchestrator queue.
type orchMsg struct {
	seq      uint64
	instance string
	item     store.WorkItem
	// raw holds the body of a message enqueued undecoded (EnqueueRaw); it is
	// decoded when its instance is fetched.
	raw       []byte
	isRaw     bool
	visibleAt time.Time
	// scheduled marks a message enqueued with a delay or as a future timer: it
	// counts as a timer (QueueDepths) until it is due.
	scheduled bool
	inHeap    bool // in backend.timers, not in backend.inbox
	attempts  int
	lease     *orchLease // the lease that lent it, while lent
	removed   bool
}

// orchLease is the lock of one instance.
type orchLease struct {
	token    string
	instance string
	owner    *Store
	expires  time.Time
	msgs     []*orchMsg
	// inc is the incarnation a commit creating the instance records.
	inc string
}

// DeadLetter is an orchestrator-queue message the store refused instead of handing
// it out: its body could not be decoded, or it named another instance.
type DeadLetter struct {
	Instance string
	Data     []byte
	Reason   string
}

// DeadLetters returns the messages refused so far, oldest first (the last 1000).
func (s *Store) DeadLetters() []DeadLetter {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return slices.Clone(s.b.dead)
}

// validInstance checks an instance id as the JetStream store does: not empty, at
// most 1024 bytes, valid UTF-8.
func validInstance(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("memstore: instance id is empty")
	case len(id) > 1024:
		return fmt.Errorf("memstore: instance id is %d bytes, the limit is 1024", len(id))
	case !utf8.ValidString(id):
		return fmt.Errorf("memstore: instance id is not valid UTF-8")
	}
	return nil
}

// EnqueueForOrchestrator implements [store.Provider]. The message is visible after
// delay (a TimerFired not before its FireAtMs). It fails, enqueueing nothing, for an
// empty or invalid instance id, a message without a type, or an ActivityExecute
// (which belongs to the worker queue).
func (s *Store) EnqueueForOrchestrator(ctx context.Context, item store.WorkItem, delay time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validInstance(item.Instance); err != nil {
		return err
	}
	switch item.Type {
	case "":
		return fmt.Errorf("memstore: message for %q has no type", item.Instance)
	case store.ActivityExecute:
		return fmt.Errorf("memstore: %s for %q belongs to the worker queue", item.Type, item.Instance)
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enqueueOrch(item, delay)
	b.notifyLocked()
	return nil
}

// EnqueueRaw adds a message whose body is data, undecoded, to instance's
// orchestrator queue (a message from a foreign client). It is decoded when the
// instance is fetched; a body that does not decode to a message for instance is
// dead-lettered ([Store.DeadLetters]), never handed out.
func (s *Store) EnqueueRaw(ctx context.Context, instance string, data []byte) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validInstance(instance); err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	now := b.now()
	b.addOrch(&orchMsg{seq: b.seq, instance: instance, raw: slices.Clone(data), isRaw: true, visibleAt: now}, now)
	b.notifyLocked()
	return nil
}

// enqueueOrch appends a message to the orchestrator queue. The caller holds mu and
// notifies.
func (b *backend) enqueueOrch(item store.WorkItem, delay time.Duration) {
	now := b.now()
	at := now.Add(max(delay, 0))
	scheduled := delay > 0
	if item.Type == store.TimerFired && item.FireAtMs > 0 {
		if fire := time.UnixMilli(item.FireAtMs); fire.After(at) {
			at, scheduled = fire, true
		}
	}
	b.seq++
	b.addOrch(&orchMsg{seq: b.seq, instance: item.Instance, item: item, visibleAt: at, scheduled: scheduled}, now)
}

func (b *backend) removeOrch(m *orchMsg) {
	if m.removed {
		return
	}
	m.removed = true
	m.lease = nil
	if m.inHeap {
		b.timersGone++
	} else {
		b.inboxGone++
	}
}

// compact drops removed messages and work items from the queues once they are half
// of them. Removals only mark, so loops over the queues may remove; compact runs
// where no loop does (at the start of a fetch). The caller holds mu.
func (b *backend) compact() {
	if b.inboxGone > 64 && b.inboxGone*2 > len(b.inbox) {
		b.inbox = slices.DeleteFunc(b.inbox, func(m *orchMsg) bool { return m.removed })
		b.inboxGone = 0
	}
	if b.timersGone > 64 && b.timersGone*2 > len(b.timers) {
		b.timers = slices.DeleteFunc(b.timers, func(m *orchMsg) bool {
			if m.removed {
				m.inHeap = false
			}
			return m.removed
		})
		heap.Init(&b.timers)
		b.timersGone = 0
	}
	if b.workGone > 64 && b.workGone*2 > len(b.work) {
		b.work = slices.DeleteFunc(b.work, func(e *workEntry) bool { return e.removed })
		b.workGone = 0
	}
}

// live reports whether l still holds its instance. The caller holds mu.
func (b *backend) live(l *orchLease, now time.Time) bool {
	return l != nil && b.locks[l.instance] == l && now.Before(l.expires)
}

// lockedAt reports whether instance is locked by a live lease; an expired lease is
// dropped on the way (its messages become visible again).
func (b *backend) lockedAt(instance string, now time.Time) bool {
	l := b.locks[instance]
	if l == nil {
		return false
	}
	if now.Before(l.expires) {
		return true
	}
	b.releaseOrch(l)
	delete(b.orchLeases, l.token)
	return false
}

// releaseOrch unlocks l's instance; its messages stay queued. The caller removes
// the token from orchLeases if it wants.
func (b *backend) releaseOrch(l *orchLease) {
	if b.locks[l.instance] == l {
		delete(b.locks, l.instance)
	}
	for _, m := range l.msgs {
		if m.lease == l {
			m.lease = nil
		}
	}
}

// FetchOrchestrationItem implements [store.Provider]. It locks the instance of the
// oldest visible message (FIFO across instances), skipping instances another lock
// holds and, before locking them, instances filter rejects. The poll timeout is a
// real duration; visibility follows the store's clock.
func (s *Store) FetchOrchestrationItem(ctx context.Context, lockTimeout, pollTimeout time.Duration, filter *store.CapabilityFilter) (*store.OrchestrationItem, error) {
	deadline := time.Now().Add(pollTimeout)
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if err := s.check(ctx); err != nil {
			return nil, err
		}
		item, due := s.tryFetchOrch(lockTimeout, filter)
		if item != nil {
			return item, nil
		}
		ok, err := s.wait(ctx, deadline, due)
		if err != nil || !ok {
			return nil, err
		}
	}
}

// tryFetchOrch makes one pass over the queue. It returns the item, or nil and the
// time at which the next message becomes visible or a lock expires (zero if none).
func (s *Store) tryFetchOrch(lockTimeout time.Duration, filter *store.CapabilityFilter) (*store.OrchestrationItem, time.Time) {
	b := s.b
	now := b.now()
	if filter != nil && len(filter.SupportedVersions) == 0 {
		return nil, time.Time{} // supports nothing
	}
	b.compact()
	b.promoteDue(now)
	due := b.nextTimer()
	passed := map[string]bool{}
	for i := 0; i < len(b.inbox); i++ {
		m := b.inbox[i]
		if m.removed || passed[m.instance] {
			continue
		}
		if l := b.locks[m.instance]; l != nil {
			if b.lockedAt(m.instance, now) {
				due = earliest(due, l.expires)
				passed[m.instance] = true
				continue
			}
		}
		if m.visibleAt.After(now) {
			due = earliest(due, m.visibleAt)
			continue
		}
		in := b.insts[m.instance]
		if filter != nil && in != nil && !filter.Compatible(in.pinned) {
			passed[m.instance] = true
			continue
		}
		if item := s.lockInstance(m.instance, in, i, now, lockTimeout); item != nil {
			return item, time.Time{}
		}
		// Everything visible of it was dropped: look at the rest of the queue.
		passed[m.instance] = true
	}
	return nil, due
}

// lockInstance gathers the instance's visible messages (from inbox[from], its first
// visible one), drops those it must not hand out, and locks it with the rest. It
// returns nil when nothing is left.
func (s *Store) lockInstance(id string, in *instance, from int, now time.Time, lockTimeout time.Duration) *store.OrchestrationItem {
	b := s.b
	var msgs []*orchMsg
	for _, m := range b.inbox[from:] {
		if m.removed || m.instance != id || m.visibleAt.After(now) {
			continue
		}
		if m.isRaw {
			var it store.WorkItem
			if err := json.Unmarshal(m.raw, &it); err != nil {
				b.deadLetter(m, fmt.Sprintf("undecodable message: %v", err))
				continue
			}
			if it.Instance != id {
				b.deadLetter(m, fmt.Sprintf("instance %q in the body does not match the queue's instance %q", it.Instance, id))
				continue
			}
			m.item, m.isRaw, m.raw = it, false, nil
		}
		if b.stale(&m.item, in) {
			b.removeOrch(m)
			continue
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil
	}
	if in == nil && onlyQueueMessages(msgs) && !b.startWaits(id) {
		// Queue messages for an instance that does not exist are dropped (duroxide
		// deletes orphan QueueMessage-only batches), unless its start waits (a
		// delayed one): they are handed out, and the runtime puts them back until the
		// start has run, as on the JetStream store.
		for _, m := range msgs {
			b.removeOrch(m)
		}
		return nil
	}
	l := &orchLease{token: b.token("o"), instance: id, owner: s, expires: now.Add(lockTimeout), msgs: msgs}
	item := &store.OrchestrationItem{Instance: id, LockToken: l.token, KV: map[string]store.KVEntry{}}
	if in != nil {
		l.inc = in.inc
		cur := in.cur()
		item.ExecutionID = cur.id
		item.PinnedEngineVersion = in.pinned
		if in.corrupt != "" {
			item.HistoryError = in.corrupt
		} else {
			// Shared, as the contract allows (callers must not modify it): events
			// are only ever appended, beyond this slice's capacity.
			item.History = cur.events[:len(cur.events):len(cur.events)]
		}
		// The key-value store as left by the previous executions, and by the
		// current one once it has ended.
		if cur.status == store.StatusRunning {
			item.KV = maps.Clone(in.kvPrior)
		} else {
			item.KV = in.kv()
		}
	} else {
		b.incs++
		l.inc = fmt.Sprintf("inc-%d", b.incs)
	}
	item.Incarnation = l.inc
	for _, m := range msgs {
		m.attempts++
		m.lease = l
		item.Messages = append(item.Messages, store.Message{Item: m.item, Attempt: m.attempts})
		item.AttemptCount = max(item.AttemptCount, m.attempts)
	}
	b.locks[id] = l
	b.orchLeases[l.token] = l
	return item
}

// maxDeadLetters bounds the dead letters kept: the oldest go first.
const maxDeadLetters = 1000

func (b *backend) deadLetter(m *orchMsg, reason string) {
	if len(b.dead) >= maxDeadLetters {
		b.dead = slices.Delete(b.dead, 0, len(b.dead)-maxDeadLetters+1)
	}
	b.dead = append(b.dead, DeadLetter{Instance: m.instance, Data: m.raw, Reason: reason})
	b.removeOrch(m)
}

// stale reports whether a message must be dropped rather than handed out: it
// belongs to another incarnation of its instance, or it is a start (of an instance
// that does not exist) or a cancellation sent by an incarnation that no longer
// exists.
func (b *backend) stale(it *store.WorkItem, in *instance) bool {
	if it.Incarnation != "" && (in == nil || in.inc != it.Incarnation) {
		return true
	}
	if it.OriginIncarnation != "" && (it.Type == store.StartOrchestration && in == nil || it.Type == store.CancelInstance) {
		o := b.insts[it.Origin]
		return o == nil || o.inc != it.OriginIncarnation
	}
	return false
}

// waitingStart returns the StartOrchestration of instance id enqueued first among
// the messages that wait in the queue, visible or not (nil if none), and how many
// messages of id wait in all. Callers hold b.mu.
func (b *backend) waitingStart(id string) (first *orchMsg, n uint64) {
	for m := range b.allMsgs {
		if m.instance != id {
			continue
		}
		n++
		if !m.isRaw && m.item.Type == store.StartOrchestration && (first == nil || m.seq < first.seq) {
			first = m
		}
	}
	return first, n
}

// startWaits reports whether a start of instance id waits in the queue.
func (b *backend) startWaits(id string) bool {
	start, _ := b.waitingStart(id)
	return start != nil
}

func onlyQueueMessages(msgs []*orchMsg) bool {
	for _, m := range msgs {
		if m.item.Type != store.QueueMessage {
			return false
		}
	}
	return true
}

// takeLease returns the live lease of token, or an ErrLockLost error.
func (b *backend) takeLease(token, op string) (*orchLease, error) {
	l := b.orchLeases[token]
	if !b.live(l, b.now()) {
		if l != nil {
			b.releaseOrch(l)
			delete(b.orchLeases, token)
		}
		return nil, fmt.Errorf("memstore: %s with token %q: %w", op, token, store.ErrLockLost)
	}
	return l, nil
}

// AbandonOrchestrationItem implements [store.Provider].
func (s *Store) AbandonOrchestrationItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	l, err := b.takeLease(lockToken, "abandon")
	if err != nil {
		return err
	}
	at := b.now().Add(max(delay, 0))
	for _, m := range l.msgs {
		if m.removed || m.lease != l {
			continue
		}
		if ignoreAttempt && m.attempts > 0 {
			m.attempts--
		}
		if at.After(m.visibleAt) {
			m.visibleAt = at
		}
	}
	b.releaseOrch(l)
	delete(b.orchLeases, lockToken)
	b.notifyLocked()
	return nil
}

// RenewOrchestrationItemLock implements [store.Provider].
func (s *Store) RenewOrchestrationItemLock(ctx context.Context, lockToken string, extend time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	l, err := b.takeLease(lockToken, "renew")
	if err != nil {
		return err
	}
	l.expires = b.now().Add(extend)
	return nil
}
