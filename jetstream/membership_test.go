package jetstream

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPartitionsRebalance: nodes split the partitions between them; a node that joins
// takes over its share; a node that leaves hands its partitions to the others.
func TestPartitionsRebalance(t *testing.T) {
	first, _ := openTestStore(t, Config{Partitions: 12, PartitionLease: time.Second, NodeName: "a"})
	ctx := context.Background()
	stores := []*Store{first}
	for _, name := range []string{"b", "c"} {
		st, err := Open(ctx, first.nc, Config{Partitions: 12, PartitionLease: time.Second, NodeName: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		stores = append(stores, st)
	}
	// Two nodes first.
	for _, st := range stores[:2] {
		if _, err := st.FetchOrchestrationItem(ctx, time.Second, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	balanced := func(live []*Store) func() bool {
		return func() bool {
			seen := map[int]int{}
			for _, st := range live {
				if len(st.OwnedPartitions()) == 0 {
					return false
				}
				for _, p := range st.OwnedPartitions() {
					seen[p]++
				}
			}
			if len(seen) != 12 {
				return false
			}
			for _, n := range seen {
				if n != 1 {
					return false
				}
			}
			return true
		}
	}
	waitUntil(t, "two nodes share all partitions", balanced(stores[:2]), stores[:2]...)
	// A third joins and takes its share.
	if _, err := stores[2].FetchOrchestrationItem(ctx, time.Second, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "three nodes share all partitions", balanced(stores), stores...)
	// One leaves: the others take its partitions.
	_ = stores[1].Close()
	waitUntil(t, "the remaining nodes share all partitions", balanced([]*Store{stores[0], stores[2]}), stores[0], stores[2])
}

// waitUntil polls cond for up to 20s; on timeout it reports the partitions each of
// stores owns.
func waitUntil(t *testing.T, what string, cond func() bool, stores ...*Store) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, st := range stores {
				t.Logf("node %s owns %v", st.cfg.NodeName, st.OwnedPartitions())
			}
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAssignIsBalanced: whatever the node ids, every live node gets n/len(live)
// partitions or one more, and the assignment does not depend on the order of live.
func TestAssignIsBalanced(t *testing.T) {
	for nodes := 1; nodes <= 7; nodes++ {
		for trial := range 200 {
			live := make([]string, nodes)
			for i := range live {
				live[i] = newID()
			}
			const n = 12
			got := assign(live, n)
			count := map[string]int{}
			for p, node := range got {
				if node == "" {
					t.Fatalf("%d nodes, trial %d: partition %d has no owner", nodes, trial, p)
				}
				count[node]++
			}
			for _, node := range live {
				if c := count[node]; c < n/nodes || c > n/nodes+1 {
					t.Fatalf("%d nodes, trial %d: node owns %d partitions, want %d or %d: %v", nodes, trial, c, n/nodes, n/nodes+1, count)
				}
			}
			reversed := slices.Clone(live)
			slices.Reverse(reversed)
			if !slices.Equal(assign(reversed, n), got) {
				t.Fatalf("%d nodes, trial %d: the assignment depends on the order of the live list", nodes, trial)
			}
		}
	}
}
