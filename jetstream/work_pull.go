package jetstream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Work items are pulled on demand: a store pulls from its work consumers only while
// FetchWorkItem calls are waiting, at most as many items as there are waiting calls
// (bounded by WorkPrefetch), with pull requests that expire with the calls (and
// after pullChunk at the latest). An idle store therefore holds no work item that
// another store could run, as with duroxide's fetch, which locks only the item it
// returns. An item that arrives when no call is waiting any more (a store pulls from
// several consumers at once) waits for the next call for up to holdLimit and is then
// given back (moveWork: republished without counting an attempt).
const pullChunk = 500 * time.Millisecond

// minPull is the shortest pull worth sending: a waiting call about to time out does
// not start one.
const minPull = 5 * time.Millisecond

// holdLimit is how long a pulled item waits for a FetchWorkItem call before it is
// given back: a second, or half the work lock when that is shorter.
func (s *Store) holdLimit() time.Duration { return min(time.Second, s.cfg.WorkAckWait/2) }

// workDemand counts the FetchWorkItem calls that are waiting and the latest of
// their deadlines.
type workDemand struct {
	mu    sync.Mutex
	n     int
	until time.Time
	wake  chan struct{} // closed when a call starts waiting
}

func (d *workDemand) add(deadline time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	if deadline.After(d.until) {
		d.until = deadline
	}
	if d.wake != nil {
		close(d.wake)
		d.wake = nil
	}
}

// done removes a call: it got an item (the pump that handed it over calls done), or
// it stopped waiting without one.
func (d *workDemand) done() {
	d.mu.Lock()
	d.n--
	if d.n == 0 {
		d.until = time.Time{} // the next calls set their own deadline
	}
	d.mu.Unlock()
}

// waiting returns the number of calls waiting for an item.
func (d *workDemand) waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// wait returns the number of waiting calls and the pull's deadline once some are
// waiting, or ok false when stop or closed is closed first.
func (d *workDemand) wait(stop, closed <-chan struct{}) (n int, until time.Time, ok bool) {
	for {
		d.mu.Lock()
		if d.n > 0 && time.Until(d.until) >= minPull {
			n, until = d.n, d.until
			if c := time.Now().Add(pullChunk); c.Before(until) {
				until = c
			}
			d.mu.Unlock()
			return n, until, true
		}
		if d.wake == nil {
			d.wake = make(chan struct{})
		}
		w := d.wake
		d.mu.Unlock()
		select {
		case <-w:
		case <-stop:
			return 0, time.Time{}, false
		case <-closed:
			return 0, time.Time{}, false
		}
	}
}

// pumpWork pulls from one work consumer while FetchWorkItem calls wait and hands
// the items on (deliverWork), until stop (nil: never) or the store closes. bind
// binds the consumer; it is called again after a failed pull (a consumer removed
// for inactivity is recreated). filter is the consumer's filter subject for a tag
// consumer, whose pulls are ordered with the store's other tag consumers
// (work_order.go), and "" for a session owner's consumer.
func (s *Store) pumpWork(bind func(context.Context) (jetstream.Consumer, error), filter string, stop <-chan struct{}) {
	defer s.wg.Done()
	slot := 0
	if filter != "" {
		slot = s.order.join()
		defer s.order.leave(slot)
	}
	var cons jetstream.Consumer
	retry := func() bool {
		cons = nil
		if slot != 0 {
			s.order.set(slot, noCandidate) // cannot look: do not hold the others back
		}
		select {
		case <-time.After(100 * time.Millisecond):
			return true
		case <-stop:
		case <-s.closed:
		}
		return false
	}
	for {
		if slot != 0 && s.demand.waiting() == 0 {
			s.order.set(slot, unknown) // going idle: what it reported will be stale
		}
		n, until, ok := s.demand.wait(stop, s.closed)
		if !ok {
			return
		}
		if cons == nil {
			ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
			c, err := bind(ctx)
			cancel()
			if err != nil {
				if !s.isClosed() {
					s.log.Warn("bind work consumer", "err", err)
				}
				if !retry() {
					return
				}
				continue
			}
			cons = c
		}
		if slot != 0 && s.order.ordered() {
			most, ok, err := s.awaitTurn(cons, filter, slot, stop)
			if err != nil {
				if !s.isClosed() {
					s.log.Debug("order work consumers", "err", err)
				}
				if !retry() {
					return
				}
				continue
			}
			if !ok {
				continue
			}
			n = min(n, most)
		}
		// The pull expires on the server at until; the client waits a second more
		// for its end, so that no message is delivered to a pull it gave up on.
		batch, err := cons.Fetch(min(n, s.cfg.WorkPrefetch), jetstream.FetchMaxWait(max(time.Until(until), minPull)))
		if err != nil {
			if !retry() {
				return
			}
			continue
		}
		var pause time.Duration
		msgs := batch.Messages()
	pull:
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					break pull
				}
				pause = max(pause, s.deliverWork(m))
			case <-stop:
				go nakAll(msgs)
				return
			case <-s.closed:
				go nakAll(msgs)
				return
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			if !s.isClosed() {
				s.log.Debug("pull work items", "err", err)
			}
			if !retry() {
				return
			}
			continue
		}
		if pause > 0 {
			select {
			case <-time.After(pause):
			case <-stop:
				return
			case <-s.closed:
				return
			}
		}
	}
}

// nakAll hands back what a pull still delivers after its pump stopped.
func nakAll(msgs <-chan jetstream.Msg) {
	for m := range msgs {
		handBackWork(m)
	}
}

// handBackWork returns a pulled item that no call will take (the store is closing or
// the pump stopped) to the broker. The nak is delayed past the end of the store's
// pull requests, so that the item is not delivered straight back to one of them.
func handBackWork(m jetstream.Msg) { _ = m.NakWithDelay(pullChunk) }
