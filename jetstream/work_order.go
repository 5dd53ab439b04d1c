package jetstream

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A store with several tag consumers (Config.WorkTags with more than one entry, or
// AnyWorkTag) hands out the oldest item its tags select, as duroxide's fetch does:
// before its pump pulls, each tag consumer reports the stream sequence of the
// oldest item it would deliver next (workOrder.report), and only the pump whose
// consumer holds the oldest one pulls, one item at a time while another consumer
// also holds items. Without this a store pulling from all its consumers at once
// handed out whichever item arrived first, and could keep a younger item of one
// tag while an older item of another tag waited.
//
// The order is judged by the store from the consumers' states, so it holds for the
// items no other store takes in between: across stores, fetches are served in
// arrival order per tag.

// noCandidate is a consumer's report when it has no item to deliver; unknown is
// the report of a pump that has not looked since it last went idle (it is about to
// look: the pumps of a store wake on the same demand), so the others wait for it.
const (
	noCandidate = math.MaxUint64
	unknown     = 0
)

// workOrder holds the latest report of each of a store's ordered work pumps.
type workOrder struct {
	mu      sync.Mutex
	next    map[int]uint64 // by pump slot: the oldest deliverable sequence, or noCandidate
	slots   int
	changed chan struct{} // closed and replaced when a report changes
}

// join registers a pump and returns its slot.
func (o *workOrder) join() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next == nil {
		o.next = map[int]uint64{}
	}
	o.slots++
	o.next[o.slots] = unknown
	return o.slots
}

// set records slot's report without deciding a pull: unknown when the pump goes
// idle, noCandidate while it cannot look (its consumer cannot be bound).
func (o *workOrder) set(slot int, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next[slot] != seq {
		o.next[slot] = seq
		o.signalLocked()
	}
}

// leave removes a pump (its pump stopped).
func (o *workOrder) leave(slot int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.next, slot)
	o.signalLocked()
}

// ordered reports whether the store has more than one ordered pump: a single
// consumer delivers in stream order by itself and needs no reports.
func (o *workOrder) ordered() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.next) > 1
}

func (o *workOrder) signalLocked() {
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
}

// report records slot's oldest deliverable sequence and decides its pull: pull is
// false while another pump reports an older item (or this pump has none and
// another has one); max is how many items the pull may ask for: 1 while another
// pump also has items (so a batch cannot overtake them), else unbounded.
// changed is closed at the next change of any report.
func (o *workOrder) report(slot int, seq uint64) (pull bool, max int, changed <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next[slot] != seq {
		o.next[slot] = seq
		o.signalLocked()
	}
	others := uint64(noCandidate)
	for s, n := range o.next {
		if s != slot && n < others {
			others = n
		}
	}
	if o.changed == nil {
		o.changed = make(chan struct{})
	}
	switch {
	case seq == noCandidate && others == noCandidate:
		return true, math.MaxInt, o.changed // nothing anywhere: every pump waits for new items
	case seq < others && others == noCandidate:
		return true, math.MaxInt, o.changed
	case seq < others:
		return true, 1, o.changed
	default:
		return false, 0, o.changed
	}
}

// oldestDeliverable returns the stream sequence of the oldest item cons (whose
// filter is filter) would deliver next, or noCandidate. New items follow the
// consumer's delivered sequence; when the consumer has items to redeliver (naked or
// expired), they come first and lie above its ack floor, so the first item above
// the ack floor stands for them (it may be one still locked: the estimate errs
// towards letting this consumer pull).
func (s *Store) oldestDeliverable(ctx context.Context, cons jetstream.Consumer, filter string) (uint64, error) {
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	from := info.Delivered.Stream + 1
	switch {
	case info.NumRedelivered > 0:
		from = info.AckFloor.Stream + 1
	case info.NumPending == 0:
		return noCandidate, nil
	}
	m, err := s.work.GetMsg(ctx, from, jetstream.WithGetMsgSubject(filter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return noCandidate, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// awaitTurn is the ordered pump's step before a pull: it reports its consumer's
// oldest item and returns how many items it may pull, waiting while another pump
// holds an older item. ok is false when the pump should go back to waiting for
// demand (a report changed, the demand was served, or the store stops).
func (s *Store) awaitTurn(cons jetstream.Consumer, filter string, slot int, stop <-chan struct{}) (max int, ok bool, err error) {
	ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
	seq, err := s.oldestDeliverable(ctx, cons, filter)
	cancel()
	if err != nil {
		return 0, false, err
	}
	pull, max, changed := s.order.report(slot, seq)
	if pull {
		return max, true, nil
	}
	// Another consumer holds an older item: wait until a report changes (that pump
	// pulled it, or its consumer was emptied by another store), then look again.
	// The wait is bounded, so a report that went stale without a change (another
	// store took the item) is looked at again.
	t := time.NewTimer(pullChunk)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-stop:
	case <-s.closed:
	}
	return 0, false, nil
}
