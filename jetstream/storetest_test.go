package jetstream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/storetest"
)

// ConformanceFactory is the JetStream store's [storetest.Factory] without its
// Management method, which needs package projections (which imports this package):
// TestConformance (conformance_test.go, package jetstream_test) adds it.
type ConformanceFactory = conformanceFactory

// NewConformanceFactory starts an embedded server (file storage, or memory storage)
// for one run of the suite.
func NewConformanceFactory(t *testing.T, memory bool) *ConformanceFactory {
	return newConformanceFactory(t, memory)
}

// conformanceFactory implements [storetest.Factory].
type conformanceFactory struct {
	memory bool
	srvURL func() *nats.Conn
	seq    atomic.Int64
}

const conformanceLock = time.Second

func newConformanceFactory(t *testing.T, memory bool) *conformanceFactory {
	srv, err := StartServer(ServerOptions{DataDir: t.TempDir(), Listen: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	f := &conformanceFactory{memory: memory}
	f.srvURL = func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	return f
}

func (f *conformanceFactory) NewProvider(t *testing.T) store.Provider {
	return f.NewTaggedProvider(t, storetest.DefaultOnly())
}

// NewTaggedProvider is NewProvider with the worker's tags set from filter (the
// JetStream store's tags are fixed at Open: Config.WorkTags).
func (f *conformanceFactory) NewTaggedProvider(t *testing.T, filter storetest.TagFilter) store.Provider {
	st := f.open(t, fmt.Sprintf("ct%d", f.seq.Add(1)), workTags(filter), conformanceLock)
	// Start both queues' consumers, so the first fetch of a test is not the one that
	// creates them.
	ctx := context.Background()
	if _, err := st.FetchOrchestrationItem(ctx, time.Second, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FetchWorkItem(ctx, time.Second, 0); err != nil {
		t.Fatal(err)
	}
	return st
}

// NewWorker opens another store on p's namespace (another runtime's store) whose
// worker pulls the activities filter selects, with a work lock (AckWait) of
// lockTimeout. Its consumers start with its first fetch.
func (f *conformanceFactory) NewWorker(t *testing.T, p store.Provider, filter storetest.TagFilter, lockTimeout time.Duration) store.Provider {
	return f.open(t, p.(*Store).Namespace(), workTags(filter), lockTimeout)
}

// NewSessionWorker opens another store on p's namespace pulling untagged activities,
// with sessions enabled for owner (EnableSessions: the session identity is fixed
// per store) and a work lock (AckWait) of workLock. Its consumers start with its
// first fetch.
func (f *conformanceFactory) NewSessionWorker(t *testing.T, p store.Provider, owner string, sessionLock, workLock time.Duration) store.Provider {
	st := f.open(t, p.(*Store).Namespace(), []string{""}, workLock)
	if err := st.EnableSessions(SessionConfig{Owner: owner, MaxSessions: 1000, LockTimeout: sessionLock}); err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *conformanceFactory) open(t *testing.T, ns string, tags []string, lock time.Duration) *Store {
	nc := f.srvURL()
	st, err := Open(context.Background(), nc, Config{
		Namespace:     ns,
		Partitions:    4,
		MemoryStorage: f.memory,
		WorkAckWait:   lock,
		WorkTags:      tags,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.Close()
		nc.Close()
	})
	return st
}

// workTags maps a filter to Config.WorkTags.
func workTags(f storetest.TagFilter) []string {
	if f.Any {
		return []string{AnyWorkTag}
	}
	tags := []string{} // none: no work consumers
	if f.Default {
		tags = append(tags, "")
	}
	return append(tags, f.Tags...)
}

func (f *conformanceFactory) LockTimeout() time.Duration        { return conformanceLock }
func (f *conformanceFactory) ShortPollThreshold() time.Duration { return 100 * time.Millisecond }

// Settle waits until every message in the inbox stream has reached an instance
// mailbox: JetStream acknowledges a publish before the consumer delivers it.
func (f *conformanceFactory) Settle(t *testing.T, p store.Provider) {
	t.Helper()
	st := p.(*Store)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.startInboxConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		info, err := st.inbox.Info(ctx, jetstream.WithSubjectFilter(st.subj.ns+".in.>"))
		if err != nil {
			t.Fatalf("settle: %v", err)
		}
		var inStream uint64
		for _, n := range info.State.Subjects {
			inStream += n
		}
		if uint64(st.host.Pending()) >= inStream {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("settle: %d inbox messages in the stream, %d in mailboxes after 10s", inStream, st.host.Pending())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *conformanceFactory) EnqueueForWorker(t *testing.T, p store.Provider, item store.WorkItem) {
	t.Helper()
	if err := p.(*Store).EnqueueForWorker(context.Background(), item); err != nil {
		t.Fatal(err)
	}
}

func (f *conformanceFactory) EnqueueRaw(t *testing.T, p store.Provider, instance string, data []byte) {
	t.Helper()
	st := p.(*Store)
	if _, err := st.js.Publish(context.Background(), st.subj.inbox(EncodeToken(instance)), data); err != nil {
		t.Fatal(err)
	}
}

// CorruptHistory appends an undecodable record to the instance's history (records are
// append-only) and drops the store's cached state of it. The record keeps the pinned
// engine version header of the last record (duroxide corrupts the event rows, not the
// execution row that holds the pinned version).
func (f *conformanceFactory) CorruptHistory(t *testing.T, p store.Provider, instance string) {
	t.Helper()
	st := p.(*Store)
	ctx := context.Background()
	enc := EncodeToken(instance)
	last, lastMsg, err := st.lastRecord(ctx, enc)
	if err != nil || last == nil {
		t.Fatalf("corrupt %q: no history (%v)", instance, err)
	}
	m := nats.NewMsg(st.subj.history(enc, last.Exec))
	m.Data = []byte(`{"v":1,"events":[{"event_id":"not a number"`)
	if lastMsg.pinned != "" {
		m.Header.Set(HeaderEngineVersion, lastMsg.pinned)
	}
	if _, err := st.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	st.host.Forget(instance)
}
