package jetstream

import (
	"context"
	"sync"
	"time"
)

// Attempt counts of inbox messages.
//
// duroxide counts an orchestrator message's attempts in the store: every fetch that
// lends it adds one, and an abandon with ignoreAttempt gives that fetch back. Here a
// message's attempt, when a fetch lends it, is the larger of
//
//   - the fetches of it by this store, over all its deliveries, minus the give-backs
//     (a lock that expires lends the same delivery again, without the broker);
//   - the broker's delivery count (NumDelivered) minus the give-backs: the durable
//     part, which carries attempts to another node (an abandon naks the message, so
//     the broker counts it too).
//
// An abandon hands the message back to the broker, and its redelivery is a new copy
// in the mailbox, so a message's counts are carried from copy to copy in attemptBook
// (keyed by the inbox stream sequence), from the abandon until the next fetch lends
// it.

// msgTrack counts the fetches of one delivered copy of an inbox message. Copies of
// an inboxMsg value share it.
type msgTrack struct {
	mu      sync.Mutex
	prev    int // fetches of earlier copies
	lends   int // fetches of this copy
	ignored int // fetches given back (ignoreAttempt)
	// attempt is the attempt the last fetch lent it as, and runRec its record in
	// the runs stream (runs.go).
	attempt int
	runRec  uint64
}

// parkedCounts are a message's totals at its last abandon.
type parkedCounts struct{ lends, ignored int }

// attemptBook keeps the totals of abandoned messages until they are fetched again.
type attemptBook struct {
	mu     sync.Mutex
	parked map[uint64]parkedCounts // by inbox stream sequence
}

func (b *attemptBook) park(seq uint64, c parkedCounts) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.parked == nil {
		b.parked = make(map[uint64]parkedCounts)
	}
	b.parked[seq] = c
}

func (b *attemptBook) take(seq uint64) (parkedCounts, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.parked[seq]
	if ok {
		delete(b.parked, seq)
	}
	return c, ok
}

// lend counts a fetch of m and returns its attempt number (from 1).
func (s *Store) lend(m *inboxMsg) int {
	c, ok := s.attempts.take(m.seq)
	t := m.track
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		if c.lends > t.prev+t.lends {
			t.prev = c.lends - t.lends
		}
		t.ignored = max(t.ignored, c.ignored)
	}
	t.lends++
	return max(1, t.prev+t.lends-t.ignored, m.attempt-t.ignored)
}

// abandoned records the end of a fetch of m without a commit.
func (s *Store) abandoned(m *inboxMsg, ignoreAttempt bool) {
	t := m.track
	t.mu.Lock()
	if ignoreAttempt {
		t.ignored++
	}
	c := parkedCounts{lends: t.prev + t.lends, ignored: t.ignored}
	attempt := t.attempt
	t.mu.Unlock()
	s.attempts.park(m.seq, c)
	if ignoreAttempt && attempt > 0 {
		ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
		s.setRuns(ctx, runInbox, m.seq, attempt-1)
		cancel()
	}
}
