package memstore

import (
	"fmt"
	"slices"

	"github.com/duroxide-go/duroxide/store"
)

// cancelWatcher is one WatchCancellations registration.
type cancelWatcher struct {
	id uint64
	fn func([]store.ActivityRef)
}

// SignalCancelled implements store.CancelSignaler: every watcher of every handle of
// the backend gets a copy of refs before it returns (synchronously, on the caller's
// goroutine, outside the store's lock, so delivery is deterministic). No refs
// signal nothing.
func (s *Store) SignalCancelled(instance string, refs []store.ActivityRef) error {
	if s.isClosed() {
		return fmt.Errorf("memstore: %w", store.ErrClosed)
	}
	if len(refs) == 0 {
		return nil
	}
	b := s.b
	b.mu.Lock()
	fns := make([]func([]store.ActivityRef), 0, len(b.cancelWatchers))
	for _, w := range b.cancelWatchers {
		fns = append(fns, w.fn)
	}
	b.mu.Unlock()
	for _, fn := range fns {
		fn(slices.Clone(refs))
	}
	return nil
}

// WatchCancellations implements store.CancelSignaler.
func (s *Store) WatchCancellations(fn func([]store.ActivityRef)) (func(), error) {
	if fn == nil {
		return nil, fmt.Errorf("memstore: watch cancellations: fn is nil")
	}
	if s.isClosed() {
		return nil, fmt.Errorf("memstore: %w", store.ErrClosed)
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watchSeq++
	id := b.watchSeq
	b.cancelWatchers = append(b.cancelWatchers, cancelWatcher{id: id, fn: fn})
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.cancelWatchers = slices.DeleteFunc(b.cancelWatchers, func(w cancelWatcher) bool { return w.id == id })
	}, nil
}
