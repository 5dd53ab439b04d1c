package duroxide

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// noticeHub is a Client's one subscription to the runtime's status notices
// (ns.evt.>), shared by all its waits: each wait registers for its instance's
// subject and receives the summaries the notices carry. The subscription is made
// when the first wait starts and dropped when the last one ends, so an idle client
// receives no notices. It replaces a subscription per wait (a SUB and an UNSUB
// each, and a delivery goroutine each in nats.go).
type noticeHub struct {
	mu      sync.Mutex
	sub     *nats.Subscription
	waiters map[string]map[*noticeWaiter]struct{} // by notice subject
}

// noticeWaiter receives the notices of one instance for one wait. c holds at most
// the latest summary: a wait needs the newest status, not every one.
type noticeWaiter struct {
	instance string
	c        chan *store.InstanceSummary
}

// watch registers a wait for the notices on subject (the instance's notice
// subject), subscribing to all of the namespace's notices on nc if this is the
// first wait. The caller must call unwatch when the wait ends. The subscription
// is registered on the server before any later request of nc is processed (a
// connection's messages are handled in order), so a read made after watch returns
// cannot miss a notice of a change it did not see.
func (h *noticeHub) watch(nc *nats.Conn, all, subject, instance string) (*noticeWaiter, error) {
	w := &noticeWaiter{instance: instance, c: make(chan *store.InstanceSummary, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sub == nil {
		sub, err := nc.Subscribe(all, h.deliver)
		if err != nil {
			return nil, fmt.Errorf("duroxide: subscribe to status notices: %w", err)
		}
		// A burst of notices must not be dropped by nats.go's default pending limit
		// of 65,536 messages before the waits read them; a dropped one only delays
		// its wait to the next poll, but there is no need to.
		_ = sub.SetPendingLimits(-1, 256<<20)
		h.sub = sub
		h.waiters = make(map[string]map[*noticeWaiter]struct{})
	}
	set := h.waiters[subject]
	if set == nil {
		set = make(map[*noticeWaiter]struct{})
		h.waiters[subject] = set
	}
	set[w] = struct{}{}
	return w, nil
}

// unwatch ends a wait's registration; the last one unsubscribes.
func (h *noticeHub) unwatch(subject string, w *noticeWaiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.waiters[subject]
	delete(set, w)
	if len(set) == 0 {
		delete(h.waiters, subject)
	}
	if len(h.waiters) == 0 && h.sub != nil {
		_ = h.sub.Unsubscribe()
		h.sub = nil
	}
}

// deliver hands a notice to the waits of its instance (latest summary wins). A
// notice that does not decode, or names another instance than its subject's, is
// ignored: the waits then see the change at their next read.
func (h *noticeHub) deliver(m *nats.Msg) {
	h.mu.Lock()
	set := h.waiters[m.Subject]
	ws := make([]*noticeWaiter, 0, len(set))
	for w := range set {
		ws = append(ws, w)
	}
	h.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	var sum store.InstanceSummary
	if json.Unmarshal(m.Data, &sum) != nil {
		return
	}
	for _, w := range ws {
		if sum.Instance != w.instance {
			continue
		}
		s := sum
		for { // only deliver sends, so this ends at once
			select {
			case w.c <- &s:
			default:
				select {
				case <-w.c: // replace an older summary not yet taken
				default:
				}
				continue
			}
			break
		}
	}
}
