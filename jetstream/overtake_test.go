package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// A queue message that overtakes its instance's start is kept, not dropped as a
// message for an instance that does not exist. Node a locks the start and dies
// (its connection closes: no ack, no nak), so the start comes back only after the
// inbox AckWait; node b takes the partition over meanwhile and gets the client's
// later queue message first. b must hand it out (the runtime puts it back until the
// start has run), and once the start is redelivered the two arrive together.
func TestQueueMessageOvertakingItsStartIsKept(t *testing.T) {
	srv, err := StartServer(ServerOptions{DataDir: t.TempDir(), Listen: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	connect := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	ctx := context.Background()
	cfg := func(node string) Config {
		return Config{Partitions: 1, PartitionLease: time.Second, InboxAckWait: 10 * time.Second, NodeName: node}
	}
	ncA := connect()
	a, err := Open(ctx, ncA, cfg("a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	const id = "overtaken"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "TakeOne", Input: "null"}, ""))
	item, err := a.FetchOrchestrationItem(ctx, time.Minute, 10*time.Second, nil)
	must(err)
	if item == nil || len(item.Messages) != 1 || item.Messages[0].Item.Type != store.StartOrchestration {
		t.Fatalf("node a fetched %+v, want the start", item)
	}
	ncA.Close() // node a dies holding the start
	killed := time.Now()

	b, err := Open(ctx, connect(), cfg("b"))
	must(err)
	t.Cleanup(func() { _ = b.Close() })
	if _, err := b.FetchOrchestrationItem(ctx, time.Minute, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "node b owns the partition", func() bool { return len(b.OwnedPartitions()) == 1 }, b)
	must(b.PublishInbox(ctx, store.WorkItem{Type: store.QueueMessage, Instance: id, Name: "q", Data: `"payload"`}, ""))

	item, err = b.FetchOrchestrationItem(ctx, time.Minute, 5*time.Second, nil)
	must(err)
	if time.Since(killed) >= 10*time.Second {
		t.Fatal("the start's AckWait ran out before node b's fetch: no overtaking to test (machine too slow?)")
	}
	if item == nil {
		t.Fatal("node b's fetch returned nothing: the queue message that overtook the start was dropped")
	}
	if len(item.Messages) != 1 || item.Messages[0].Item.Type != store.QueueMessage {
		t.Fatalf("node b fetched %+v, want the queue message alone", item.Messages)
	}
	// What the runtime does with it (noStart): put it back, uncounted.
	must(b.AbandonOrchestrationItem(ctx, item.LockToken, 500*time.Millisecond, true))

	// After the AckWait the start comes back, and the queue message with it.
	types := map[store.WorkItemType]bool{}
	for deadline := time.Now().Add(30 * time.Second); !types[store.StartOrchestration]; {
		if time.Now().After(deadline) {
			t.Fatal("the start never came back")
		}
		item, err = b.FetchOrchestrationItem(ctx, time.Minute, time.Second, nil)
		must(err)
		if item == nil {
			continue
		}
		for _, m := range item.Messages {
			types[m.Item.Type] = true
		}
		if !types[store.StartOrchestration] {
			must(b.AbandonOrchestrationItem(ctx, item.LockToken, 500*time.Millisecond, true))
		}
	}
	if !types[store.QueueMessage] {
		t.Fatal("the start came back without the queue message")
	}
}
