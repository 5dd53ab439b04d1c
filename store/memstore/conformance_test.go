package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
	"github.com/duroxide-go/duroxide/store/storetest"
)

// TestConformance runs the store conformance suite against the in-memory store.
func TestConformance(t *testing.T) {
	storetest.RunAll(t, factory{})
}

// factory implements storetest.Factory: every NewProvider is a new backend; workers
// are handles on the same backend.
type factory struct{}

func (factory) NewProvider(t *testing.T) store.Provider {
	return factory{}.NewTaggedProvider(t, storetest.DefaultOnly())
}

func (factory) NewTaggedProvider(t *testing.T, f storetest.TagFilter) store.Provider {
	s := memstore.New(memstore.Options{HandleOptions: memstore.HandleOptions{WorkTags: workTags(f)}})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (factory) NewWorker(t *testing.T, p store.Provider, f storetest.TagFilter, _ time.Duration) store.Provider {
	s := p.(*memstore.Store).Open(memstore.HandleOptions{WorkTags: workTags(f)})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (factory) NewSessionWorker(t *testing.T, p store.Provider, owner string, sessionLock, _ time.Duration) store.Provider {
	s := p.(*memstore.Store).Open(memstore.HandleOptions{SessionOwner: owner, SessionLockTimeout: sessionLock})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func workTags(f storetest.TagFilter) []string {
	if f.Any {
		return []string{memstore.AnyWorkTag}
	}
	tags := []string{}
	if f.Default {
		tags = append(tags, "")
	}
	return append(tags, f.Tags...)
}

// conformanceLock is the JetStream factory's 1 s: some validations hold a lock
// across a 600 ms wait, so a shorter one would expire under them.
const conformanceLock = time.Second

func (factory) LockTimeout() time.Duration        { return conformanceLock }
func (factory) ShortPollThreshold() time.Duration { return 100 * time.Millisecond }

// Settle returns at once: an enqueue is visible when it returns.
func (factory) Settle(*testing.T, store.Provider) {}

func (factory) EnqueueForWorker(t *testing.T, p store.Provider, item store.WorkItem) {
	t.Helper()
	if err := p.(*memstore.Store).EnqueueForWorker(context.Background(), item); err != nil {
		t.Fatal(err)
	}
}

func (factory) EnqueueRaw(t *testing.T, p store.Provider, instance string, data []byte) {
	t.Helper()
	if err := p.(*memstore.Store).EnqueueRaw(context.Background(), instance, data); err != nil {
		t.Fatal(err)
	}
}

func (factory) CorruptHistory(t *testing.T, p store.Provider, instance string) {
	t.Helper()
	if err := p.(*memstore.Store).CorruptHistory(instance); err != nil {
		t.Fatal(err)
	}
}

func (factory) Management(_ *testing.T, p store.Provider) storetest.Management {
	return p.(*memstore.Store)
}
