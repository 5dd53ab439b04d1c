package jetstream

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// TestHandoverDeliversHeldMessagesAtOnce: a node holds messages of every partition
// in its mailboxes (it fetches nothing) when a second node joins. The messages of
// the partitions it gives up must reach the new owner within the old owner's next
// rebalance, without waiting out the partition lease (the pin's TTL) or the inbox
// AckWait (30 s): the messages it hands back at the release go to the new owner's
// pull requests, never to a pin on, or a delivery to, a pull request of its own
// that it no longer listens to. (A regression test of the hand-over: it passed
// before TestReleaseKeepsAnotherNodesPin's fix too.)
func TestHandoverDeliversHeldMessagesAtOnce(t *testing.T) {
	cfg := Config{Partitions: 4, PartitionLease: 9 * time.Second, InboxAckWait: 30 * time.Second, NodeName: "a"}
	a, nc := openTestStore(t, cfg)
	checkHandover(t, a, nc, cfg)
}

// TestClusterHandoverDeliversHeldMessagesAtOnce is the same hand-over across the
// servers of a three-server JetStream cluster (R3 streams and consumers): the
// joining node's server is not the old owner's.
func TestClusterHandoverDeliversHeldMessagesAtOnce(t *testing.T) {
	ncs := startTestCluster(t, 3)
	cfg := Config{Partitions: 4, PartitionLease: 9 * time.Second, InboxAckWait: 30 * time.Second, NodeName: "a"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := Open(ctx, ncs[0], cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	checkHandover(t, a, ncs[1], cfg)
}

// startTestCluster starts n embedded servers forming one JetStream cluster and
// returns a connection to each; everything stops when the test ends.
func startTestCluster(t *testing.T, n int) []*nats.Conn {
	t.Helper()
	var ls []net.Listener
	for range 2 * n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	var ports []int
	for _, l := range ls {
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	var ncs []*nats.Conn
	for i := range n {
		srv, err := StartServer(ServerOptions{DataDir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			ServerName: fmt.Sprintf("s%d", i+1), ClusterName: "C", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[n+i]), Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			nc.Close()
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		ncs = append(ncs, nc)
	}
	return ncs
}

// checkHandover runs the hand-over of TestHandoverDeliversHeldMessagesAtOnce: a
// holds messages of every partition; a node b on ncB joins; every message of b's
// partitions must reach b before three quarters of the lease (a rebalances every
// third of it).
func checkHandover(t *testing.T, a *Store, ncB *nats.Conn, cfg Config) {
	t.Helper()
	lease := cfg.PartitionLease
	ctx := context.Background()
	if _, err := a.FetchOrchestrationItem(ctx, time.Second, 0, nil); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		item := store.WorkItem{Type: store.StartOrchestration, Instance: fmt.Sprintf("h%d", i), Name: "O", Input: "1"}
		if err := a.PublishInbox(ctx, item, ""); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the first node to hold every message", func() bool { return a.host.Pending() == n }, a)
	partOf := map[string]int{} // instance -> partition, from the stored subjects
	for seq := uint64(1); seq <= n; seq++ {
		m, err := a.inbox.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		tok, p, _, ok := a.subj.parseStored(m.Subject)
		if !ok {
			t.Fatalf("stored subject %q", m.Subject)
		}
		id, err := DecodeToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		partOf[id] = p
	}

	cfg.NodeName = "b"
	b, err := Open(ctx, ncB, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	t0 := time.Now()
	fetched := map[string]time.Duration{}
	for time.Since(t0) < 3*lease {
		item, err := b.FetchOrchestrationItem(ctx, time.Minute, 200*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if item != nil {
			fetched[item.Instance] = time.Since(t0)
		}
		mine := b.OwnedPartitions()
		if len(mine) == 0 || len(mine)+len(a.OwnedPartitions()) != cfg.Partitions {
			continue // the hand-over is not done
		}
		want := 0
		for _, p := range partOf {
			if slices.Contains(mine, p) {
				want++
			}
		}
		if len(fetched) == want {
			break
		}
	}
	var slowest time.Duration
	for _, d := range fetched {
		slowest = max(slowest, d)
	}
	t.Logf("the joining node owns %v, fetched %d instances, the last %v after it joined", b.OwnedPartitions(), len(fetched), slowest.Round(time.Millisecond))
	for id, p := range partOf {
		if _, ok := fetched[id]; slices.Contains(b.OwnedPartitions(), p) && !ok {
			t.Errorf("%s (partition %d) never reached the joining node", id, p)
		}
	}
	// The old owner lets go at its next rebalance (a third of the lease); a pin
	// stuck on its pull requests would hold the partition for the whole lease more.
	if limit := lease * 3 / 4; slowest >= limit {
		t.Errorf("the last held message reached the new owner %v after it joined (limit %v): the hand-over waited out a pin or an AckWait", slowest.Round(time.Millisecond), limit)
	}
}

// TestReleaseKeepsAnotherNodesPin: a node that consumed a partition for a while
// during a hand-over but never held its pin (another node did, and pulls from it)
// lets the partition go without unpinning it: the pin stays with the node that
// holds it. Unpinning would hand the pin to whichever pull request the server has
// first, possibly one the releasing node has just withdrawn.
func TestReleaseKeepsAnotherNodesPin(t *testing.T) {
	cfg := Config{Partitions: 1, PartitionLease: 9 * time.Second, NodeName: "a"}
	a, nc := openTestStore(t, cfg)
	ctx := context.Background()
	if _, err := a.FetchOrchestrationItem(ctx, time.Second, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "pin1", Name: "O", Input: "1"}, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the owner to hold the message", func() bool { return a.host.Pending() == 1 }, a)
	pinned := func() string {
		info, err := a.inbox.Consumer(ctx, partitionConsumer(0))
		if err != nil {
			t.Fatal(err)
		}
		ci, err := info.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range ci.PriorityGroups {
			if g.Group == priorityGroup {
				return g.PinnedClientID
			}
		}
		return ""
	}
	before := pinned()
	if v, _ := a.pins.Load(0); before == "" || v != before {
		t.Fatalf("the owner's pin: consumer says %q, the owner saw %v", before, v)
	}
	cfg.NodeName = "b"
	b, err := Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.acquirePartition(ctx, 0); err != nil {
		t.Fatal(err)
	}
	b.releasePartition(0)
	if after := pinned(); after != before {
		t.Fatalf("the pin went from %q to %q when a node that never held it released the partition", before, after)
	}
	// The owner still gets the partition's new messages.
	if err := b.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "pin2", Name: "O", Input: "1"}, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the owner to hold the new message", func() bool { return a.host.Pending() == 2 }, a)
}
