package duroxide

import (
	"context"
	"fmt"

	"github.com/duroxide-go/duroxide/store"
)

// watchNotices registers a wait for the instance's status notices and returns
// the waiter the notices' summaries arrive on and the function that ends the
// registration. On the JetStream store the notices come through the Client's
// shared subscription (client_notices.go) and carry the committed summary; on
// another store ([Options.Store]) through its [store.StatusWatcher], each notice
// followed by a read of the summary; on a store without one, never (the wait
// only polls).
func (c *Client) watchNotices(instanceID string) (*noticeWaiter, func(), error) {
	if c.js != nil {
		subject := c.js.StatusSubject(instanceID)
		w, err := c.notices.watch(c.js.Conn(), c.js.StatusSubjects(), subject, instanceID)
		if err != nil {
			return nil, nil, err
		}
		return w, func() { c.notices.unwatch(subject, w) }, nil
	}
	w := &noticeWaiter{instance: instanceID, c: make(chan *store.InstanceSummary, 1)}
	sw, ok := c.st.(store.StatusWatcher)
	if !ok {
		return w, func() {}, nil
	}
	kick := make(chan struct{}, 1)
	stopWatch, err := sw.WatchStatus(instanceID, func() {
		select { // coalesce: one pending read is enough
		case kick <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("duroxide: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-kick:
				ctx, cancel := context.WithTimeout(context.Background(), statusReadTimeout)
				sum, err := c.st.InstanceSummary(ctx, instanceID)
				cancel()
				if err == nil {
					w.offer(sum)
				}
			}
		}
	}()
	return w, func() { stopWatch(); close(done) }, nil
}

// offer hands the waiter a summary, replacing one it has not taken yet.
func (w *noticeWaiter) offer(sum *store.InstanceSummary) {
	for {
		select {
		case w.c <- sum:
			return
		default:
			select {
			case <-w.c:
			default:
			}
		}
	}
}
