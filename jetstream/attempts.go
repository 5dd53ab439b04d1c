package jetstream

import (
	"sync"
	"sync/atomic"
)

// Attempt counts of inbox messages.
//
// duroxide counts an orchestrator message's attempts in the store: every fetch that
// lends it adds one, and an abandon with ignoreAttempt takes that fetch back. Here a
// message's attempt is
//
//	NumDelivered (broker deliveries, this one included)
//	+ lends of this delivery beyond the first (an abandon without delay, or an expired
//	  lock, lends the same delivery again without the broker)
//	- fetches given back by abandons with ignoreAttempt
//
// The give-backs survive a redelivery (an abandon with delay naks the message) in
// attemptBook, keyed by the message's stream sequence, until the message comes back.

// msgTrack is shared by every copy of one delivered inbox message.
type msgTrack struct {
	lends   atomic.Int32 // fetches that lent this delivery
	ignored atomic.Int32 // fetches given back (ignoreAttempt), over all deliveries
}

// attempt is the attempt number of a fetch that just lent the message.
func (m *inboxMsg) lend() int {
	n := m.track.lends.Add(1)
	return max(1, m.attempt+int(n)-1-int(m.track.ignored.Load()))
}

// attemptBook keeps the give-backs of messages nak'ed back to the broker.
type attemptBook struct {
	mu      sync.Mutex
	ignored map[uint64]int32 // by inbox stream sequence
}

// park records the give-backs of a message about to be redelivered.
func (b *attemptBook) park(seq uint64, ignored int32) {
	if ignored == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ignored == nil {
		b.ignored = make(map[uint64]int32)
	}
	b.ignored[seq] = ignored
}

// newTrack starts the track of a delivered message, with the give-backs parked for it.
func (b *attemptBook) newTrack(seq uint64) *msgTrack {
	t := &msgTrack{}
	b.mu.Lock()
	if n, ok := b.ignored[seq]; ok {
		delete(b.ignored, seq)
		t.ignored.Store(n)
	}
	b.mu.Unlock()
	return t
}
