package e2e

import (
	"context"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
)

// TestReadsRideOutLeaderElection: reads that must come from a stream leader wait for
// one while the cluster has none (two of three servers down), instead of failing at
// once; with the leader back, a read started during the outage returns the state.
func TestReadsRideOutLeaderElection(t *testing.T) {
	reg := func() *duroxide.Registry {
		r := duroxide.NewRegistry()
		must(t, duroxide.RegisterOrchestration(r, "Quick", func(_ *duroxide.OrchestrationContext, n int) (int, error) { return n, nil }))
		return r
	}
	nodes := startClusterNodes(t, 3, reg, clusterOpts)
	ctx := context.Background()
	must(t, nodes[0].rt.Client().StartOrchestration(ctx, "q", "Quick", 7))
	waitDone(t, nodes[0].rt.Client(), "q", time.Minute)

	// Keep a follower of the history stream; stop the leader and the other follower.
	js, err := natsjs.New(nodes[0].nc)
	must(t, err)
	st, err := js.Stream(ctx, "DUROXIDE_HISTORY")
	must(t, err)
	info, err := st.Info(ctx)
	must(t, err)
	var survivor *clusterNode
	var stopped []*clusterNode
	for _, nd := range nodes {
		if survivor == nil && nd.name != info.Cluster.Leader {
			survivor = nd
		} else {
			stopped = append(stopped, nd)
		}
	}
	for _, nd := range stopped {
		nd.stop()
	}
	c := survivor.rt.Client()
	// A graceful shutdown may hand the leadership to the survivor, which then keeps
	// it for a while without a quorum: ask it to step down until it has no leader.
	var err2 error
	waitFor(t, "the history stream to lose its leader", func() bool {
		_, _ = survivor.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.DUROXIDE_HISTORY", nil, time.Second)
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err2 = c.GetStatus(short, "q")
		return err2 != nil
	})
	t.Logf("without a leader: %v", err2)

	type result struct {
		st  *duroxide.Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		st, err := c.GetStatus(rctx, "q")
		done <- result{st, err}
	}()
	t0 := time.Now()
	stopped[0].up(t) // quorum again: the streams elect leaders
	r := <-done
	if r.err != nil {
		t.Fatalf("status read started during the election failed: %v", r.err)
	}
	if r.st.State != duroxide.StateCompleted {
		t.Fatalf("status %v after the election, want Completed", r.st.State)
	}
	t.Logf("status read answered %v after the server restart began", time.Since(t0).Round(time.Millisecond))
}
