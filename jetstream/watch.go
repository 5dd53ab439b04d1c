package jetstream

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// The store's optional layers of the client and runtime contract (store.StatusWatcher,
// store.CancelSignaler), on core NATS subjects: best effort, as the contract allows.
var (
	_ store.InboxPublisher   = (*Store)(nil)
	_ store.PendingReader    = (*Store)(nil)
	_ store.DeadLetterReader = (*Store)(nil)
	_ store.StatusWatcher    = (*Store)(nil)
	_ store.CancelSignaler   = (*Store)(nil)
)

// WatchStatus implements [store.StatusWatcher]: it subscribes to the instance's
// status notices ([Store.StatusSubject]), which every commit changing its summary
// publishes.
func (s *Store) WatchStatus(instance string, notify func()) (func(), error) {
	sub, err := s.nc.Subscribe(s.StatusSubject(instance), func(*nats.Msg) { notify() })
	if err != nil {
		return nil, fmt.Errorf("jetstream: subscribe to the status notices of %q: %w", instance, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// WatchCancellations implements [store.CancelSignaler]: it subscribes to every
// cancellation signal of the namespace ([Store.CancelSubjectAll]); a signal that does
// not decode is ignored.
func (s *Store) WatchCancellations(fn func([]store.ActivityRef)) (func(), error) {
	sub, err := s.nc.Subscribe(s.CancelSubjectAll(), func(m *nats.Msg) {
		var refs []store.ActivityRef
		if json.Unmarshal(m.Data, &refs) == nil {
			fn(refs)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: subscribe to activity cancellations: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
