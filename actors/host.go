// Package actors holds the instance actors of a node: one mailbox per orchestration
// instance, fed from the instance's inbox subject, and a scheduler that hands each
// mailbox to at most one turn at a time.
//
// A [Host] is the in-memory half of an instance lock. The durable half is the fenced
// history append in package jetstream: a mailbox lock keeps two turns of one node
// from running for the same instance, the fence keeps two nodes from committing
// them.
package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Host routes messages to per-key mailboxes and lends out ready mailboxes one at a
// time per key. M is the message type, S the owner's cached per-key state.
type Host[M any, S any] struct {
	mu      sync.Mutex
	boxes   map[string]*box[M, S]
	locked  map[string]*box[M, S] // by lock token
	ready   []*box[M, S]          // FIFO of unlocked boxes with pending messages
	waiters []*waiter[M, S]       // Acquire calls waiting for a box they accept, FIFO
	done    chan struct{}         // closed by Close
	closed  bool
	maxIdle int
}

type box[M any, S any] struct {
	key     string
	pending []entry[M]
	ids     map[uint64]struct{} // ids of pending and lent messages (redelivery dedup)
	lent    int                 // how many of pending are lent to the lock holder
	token   string
	until   time.Time
	inReady bool
	state   S
	hasSt   bool
	// released is when the last lock on the mailbox ended.
	released time.Time
}

type entry[M any] struct {
	id  uint64
	msg M
}

// waiter is a waiting Acquire. A box that becomes ready wakes the first waiter
// that accepts it (and only that one), removing it from the list.
type waiter[M any, S any] struct {
	skip SkipFunc[S]
	ch   chan struct{} // buffered (1)
}

func (w *waiter[M, S]) accepts(b *box[M, S]) bool {
	return w.skip == nil || !w.skip(b.key, b.state, b.hasSt)
}

// SkipFunc tells [Host.AcquireWhere] to pass over a ready mailbox: it gets the key
// and the cached state (hasState false when there is none). It runs with the host's
// lock held, so it must be quick and must not call the host.
type SkipFunc[S any] func(key string, state S, hasState bool) bool

// Lease is a locked mailbox: its messages and the owner's cached state.
type Lease[M any, S any] struct {
	Key      string
	Token    string
	Messages []M
	// IDs are the message ids, in the order of Messages.
	IDs []uint64
	// State is the cached state stored with SetState, if HasState.
	State    S
	HasState bool
}

// NewHost returns a host that keeps at most maxIdle idle mailboxes (no messages, not
// locked) with cached state; beyond that it forgets arbitrary idle ones.
func NewHost[M any, S any](maxIdle int) *Host[M, S] {
	return &Host[M, S]{
		boxes:   make(map[string]*box[M, S]),
		locked:  make(map[string]*box[M, S]),
		done:    make(chan struct{}),
		maxIdle: maxIdle,
	}
}

// Put adds a message to key's mailbox. A message whose id is already pending or lent
// (a redelivery) is ignored and Put returns false. After Close it returns ErrClosed.
func (h *Host[M, S]) Put(key string, id uint64, msg M) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, errClosed
	}
	b := h.boxes[key]
	if b == nil {
		b = &box[M, S]{key: key, ids: make(map[uint64]struct{})}
		h.boxes[key] = b
	}
	if _, dup := b.ids[id]; dup {
		return false, nil
	}
	b.ids[id] = struct{}{}
	b.pending = append(b.pending, entry[M]{id, msg})
	h.makeReady(b)
	return true, nil
}

func (h *Host[M, S]) makeReady(b *box[M, S]) {
	if b.inReady || b.token != "" || len(b.pending) == 0 {
		return
	}
	b.inReady = true
	h.ready = append(h.ready, b)
	h.wakeFor(b)
}

// wakeFor wakes the first waiter that accepts b. Callers hold h.mu.
func (h *Host[M, S]) wakeFor(b *box[M, S]) {
	for i, w := range h.waiters {
		if w.accepts(b) {
			h.waiters = append(h.waiters[:i], h.waiters[i+1:]...)
			select {
			case w.ch <- struct{}{}:
			default:
			}
			return
		}
	}
}

// leave removes a waiter that stops waiting. If it was woken meanwhile, the wake-up
// is passed on, so a box it was woken for does not wait for the next Acquire.
// Callers hold h.mu.
func (h *Host[M, S]) leave(w *waiter[M, S]) {
	for i, o := range h.waiters {
		if o == w {
			h.waiters = append(h.waiters[:i], h.waiters[i+1:]...)
			return
		}
	}
	select {
	case <-w.ch:
	default:
	}
	h.passOn()
}

// passOn wakes waiters for the ready boxes, so a box whose wake-up went to an
// Acquire that took another box (or none) does not wait for the next one. Callers
// hold h.mu.
func (h *Host[M, S]) passOn() {
	for _, b := range h.ready {
		if len(h.waiters) == 0 {
			return
		}
		if len(b.pending) > 0 && b.token == "" {
			h.wakeFor(b)
		}
	}
}

// Acquire waits up to wait for a ready mailbox, locks it until now+lockFor and lends
// out all its pending messages. It returns (nil, nil) when nothing became ready.
func (h *Host[M, S]) Acquire(ctx context.Context, lockFor, wait time.Duration) (*Lease[M, S], error) {
	return h.AcquireWhere(ctx, lockFor, wait, nil)
}

// AcquireWhere is Acquire that passes over the ready mailboxes skip rejects (nil:
// none): they are not locked and stay ready, in their place, for other callers.
// While it waits, only a mailbox it accepts wakes it.
func (h *Host[M, S]) AcquireWhere(ctx context.Context, lockFor, wait time.Duration, skip SkipFunc[S]) (*Lease[M, S], error) {
	var timer *time.Timer
	var w *waiter[M, S]
	for {
		h.mu.Lock()
		if h.closed {
			if w != nil {
				h.leave(w)
			}
			h.mu.Unlock()
			return nil, errClosed
		}
		h.expireLocked()
		if b := h.takeReady(skip); b != nil {
			if len(h.ready) > 0 {
				h.passOn()
			}
			lease := h.lend(b, lockFor)
			h.mu.Unlock()
			return lease, nil
		}
		if wait <= 0 {
			h.mu.Unlock()
			return nil, nil
		}
		if w == nil {
			w = &waiter[M, S]{skip: skip, ch: make(chan struct{}, 1)}
		}
		h.waiters = append(h.waiters, w)
		h.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-w.ch: // the waker removed w from the list
		case <-h.done:
		case <-timer.C:
			h.mu.Lock()
			h.leave(w)
			h.mu.Unlock()
			return nil, nil
		case <-ctx.Done():
			h.mu.Lock()
			h.leave(w)
			h.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// takeReady removes and returns the first ready box that skip does not reject,
// dropping stale entries (emptied or locked boxes) on the way. Callers hold h.mu.
func (h *Host[M, S]) takeReady(skip SkipFunc[S]) *box[M, S] {
	for i := 0; i < len(h.ready); {
		b := h.ready[i]
		stale := len(b.pending) == 0 || b.token != ""
		if !stale && skip != nil && skip(b.key, b.state, b.hasSt) {
			i++
			continue
		}
		if i == 0 {
			h.ready[0] = nil
			h.ready = h.ready[1:]
		} else {
			h.ready = append(h.ready[:i], h.ready[i+1:]...)
		}
		b.inReady = false
		if !stale {
			return b
		}
	}
	return nil
}

func (h *Host[M, S]) lend(b *box[M, S], lockFor time.Duration) *Lease[M, S] {
	b.token = newToken()
	b.until = time.Now().Add(lockFor)
	b.lent = len(b.pending)
	h.locked[b.token] = b
	l := &Lease[M, S]{Key: b.key, Token: b.token, State: b.state, HasState: b.hasSt}
	l.Messages = make([]M, b.lent)
	l.IDs = make([]uint64, b.lent)
	for i, e := range b.pending {
		l.Messages[i], l.IDs[i] = e.msg, e.id
	}
	return l
}

// expireLocked releases locks whose time ran out; their lent messages become ready
// again. Callers hold h.mu.
func (h *Host[M, S]) expireLocked() {
	if len(h.locked) == 0 {
		return
	}
	now := time.Now()
	for tok, b := range h.locked {
		if now.After(b.until) {
			delete(h.locked, tok)
			b.token, b.lent = "", 0
			// The late holder may still be mutating the state it was lent: the next
			// holder reloads instead of sharing it.
			var zero S
			b.state, b.hasSt = zero, false
			h.makeReady(b)
		}
	}
}

// Holds reports whether token is a live lock and returns its key.
func (h *Host[M, S]) Holds(token string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked()
	b := h.locked[token]
	if b == nil {
		return "", false
	}
	return b.key, true
}

// Renew extends a live lock to now+d.
func (h *Host[M, S]) Renew(token string, d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked()
	b := h.locked[token]
	if b == nil {
		return false
	}
	b.until = time.Now().Add(d)
	return true
}

// Release ends a lock. The lent messages are removed from the mailbox (the caller has
// acked them, or handed them back to the broker for redelivery) unless opts.Requeue
// keeps them; messages that arrived
// meanwhile stay and make the mailbox ready again. The cached state is replaced when
// opts.SetState and forgotten when opts.Forget. Release reports whether the token was
// live.
func (h *Host[M, S]) Release(token string, opts ReleaseOpts[S]) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.locked[token]
	if b == nil {
		return false
	}
	delete(h.locked, token)
	if !opts.Requeue {
		for _, e := range b.pending[:b.lent] {
			delete(b.ids, e.id)
		}
		b.pending = append(b.pending[:0:0], b.pending[b.lent:]...)
	}
	b.token, b.lent = "", 0
	b.released = time.Now()
	switch {
	case opts.Forget:
		var zero S
		b.state, b.hasSt = zero, false
	case opts.SetState:
		b.state, b.hasSt = opts.State, true
	}
	h.makeReady(b)
	h.gc(b)
	return true
}

// ReleaseOpts says what Release does with the lent messages and the cached state.
type ReleaseOpts[S any] struct {
	SetState bool
	State    S
	Forget   bool
	// Requeue keeps the lent messages in the mailbox, ahead of those that arrived
	// meanwhile, so the next Acquire lends them again.
	Requeue bool
}

// gc drops idle mailboxes once there are more than maxIdle. Callers hold h.mu.
func (h *Host[M, S]) gc(just *box[M, S]) {
	if len(h.boxes) <= h.maxIdle {
		return
	}
	for k, b := range h.boxes {
		if len(h.boxes) <= h.maxIdle*9/10 {
			return
		}
		if b != just && b.token == "" && len(b.pending) == 0 {
			delete(h.boxes, k)
		}
	}
}

// DropIdle drops the mailboxes, with their cached state, that hold no message and
// no lock and whose last lock ended before cutoff, and returns how many it dropped.
// A message for one of them later starts a new mailbox without state.
func (h *Host[M, S]) DropIdle(cutoff time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k, b := range h.boxes {
		if b.token == "" && len(b.pending) == 0 && b.released.Before(cutoff) {
			delete(h.boxes, k)
			n++
		}
	}
	return n
}

// Len returns how many mailboxes the host holds (with messages, locked, or idle
// with cached state).
func (h *Host[M, S]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.boxes)
}

// Forget drops the cached state of key (for example after a fence loss observed
// elsewhere). Messages stay.
func (h *Host[M, S]) Forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.boxes[key]; b != nil {
		var zero S
		b.state, b.hasSt = zero, false
	}
}

// Pending counts the messages waiting in all mailboxes, lent ones included.
func (h *Host[M, S]) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, b := range h.boxes {
		n += len(b.pending)
	}
	return n
}

// DrainWhere removes the waiting (not lent) messages that match pred and returns
// them; the mailboxes they came from forget their cached state, which another node is
// about to make stale.
func (h *Host[M, S]) DrainWhere(pred func(M) bool) []M {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []M
	for _, b := range h.boxes {
		kept := b.pending[:b.lent:b.lent]
		hit := false
		for _, e := range b.pending[b.lent:] {
			if pred(e.msg) {
				out = append(out, e.msg)
				delete(b.ids, e.id)
				hit = true
			} else {
				kept = append(kept, e)
			}
		}
		if hit {
			b.pending = kept
			var zero S
			b.state, b.hasSt = zero, false
		}
	}
	// Boxes queued as ready may have nothing left: Acquire skips empty ones.
	return out
}

// Close wakes every waiter with an error; later calls fail. It returns the messages
// that were waiting and not lent, so the caller can hand them back to the broker.
func (h *Host[M, S]) Close() []M {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	close(h.done)
	var out []M
	for _, b := range h.boxes {
		for _, e := range b.pending[b.lent:] {
			out = append(out, e.msg)
		}
	}
	return out
}

var errClosed = errorString("actors: host closed")

type errorString string

func (e errorString) Error() string { return string(e) }

// ErrClosed is returned by Acquire after Close.
var ErrClosed error = errClosed

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
