package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/jetstream"
)

func echoRegistry(t *testing.T) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Echo", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return in, nil
	}))
	return reg
}

// A node whose process died (its connection to a NATS server that lives on is
// gone) and that comes back with the same WorkerNodeID takes back every partition
// at once: the dead process's heartbeat is its own, and the pins the dead
// connection held on the partition consumers are released, so no partition waits
// out the 30s lease.
func TestRestartWithSameWorkerNodeIDTakesPartitionsBackAtOnce(t *testing.T) {
	srv, err := jetstream.StartServer(jetstream.ServerOptions{DataDir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	opts := duroxide.Options{WorkerNodeID: "pod-7", Cluster: duroxide.ClusterOptions{PartitionLease: 30 * time.Second},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()

	nc1, err := nats.Connect(srv.ClientURL())
	must(t, err)
	o1 := opts
	o1.Conn = nc1
	rt1, err := duroxide.Start(ctx, echoRegistry(t), o1)
	must(t, err)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = rt1.Shutdown(sctx)
	})
	for i := range 16 { // every partition pinned by the first process
		must(t, rt1.Client().StartOrchestration(ctx, fmt.Sprintf("warm-%d", i), "Echo", "x"))
	}
	for i := range 16 {
		waitDone(t, rt1.Client(), fmt.Sprintf("warm-%d", i), 20*time.Second)
	}
	if n := len(rt1.Partitions()); n != 16 {
		t.Fatalf("first node owns %d partitions, want 16", n)
	}
	nc1.Close() // the process dies: no shutdown, no unpin, its heartbeat stays

	nc2, err := nats.Connect(srv.ClientURL())
	must(t, err)
	t.Cleanup(nc2.Close)
	o2 := opts
	o2.Conn = nc2
	rt2 := startRuntime(t, echoRegistry(t), o2)
	c := rt2.Client()
	start := time.Now()
	const n = 32
	for i := range n {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("after-%d", i), "Echo", "y"))
	}
	for i := range n {
		waitDone(t, c, fmt.Sprintf("after-%d", i), 60*time.Second)
	}
	took := time.Since(start)
	t.Logf("%d instances done %s after the restart", n, took)
	if took > 8*time.Second {
		t.Fatalf("instances took %s after a restart with the same WorkerNodeID; the dead process's 30s lease or pins held partitions", took)
	}
}
