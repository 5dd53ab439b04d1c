package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/jetstream"
)

// BenchmarkClusterReads measures what each kind of read costs on a three-node cluster
// with replicated streams, through a client connected to a follower of the history
// stream (docs/ARCHITECTURE.md, "Reads in a cluster"):
//
//	go test ./e2e -run '^$' -bench BenchmarkClusterReads -benchtime 2000x
func BenchmarkClusterReads(b *testing.B) {
	reg := func() *duroxide.Registry {
		r := duroxide.NewRegistry()
		must(b, duroxide.RegisterActivity(r, "Step", func(_ *duroxide.ActivityContext, n int) (int, error) { return n, nil }))
		must(b, duroxide.RegisterOrchestration(r, "Bench", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
			sum := 0
			for i := 0; i < 4; i++ {
				v, err := duroxide.Await[int](ctx.ScheduleActivity("Step", i))
				if err != nil {
					return 0, err
				}
				sum += v
			}
			return sum, nil
		}))
		return r
	}
	nodes := startClusterNodes(b, 3, reg, clusterOpts)
	ctx := context.Background()
	c := nodes[0].rt.Client()
	must(b, c.StartOrchestration(ctx, "bench", "Bench", 1))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err := c.WaitForOrchestration(wctx, "bench")
	cancel()
	must(b, err)
	// A client on a server that is not the history stream's leader.
	js, err := natsjs.New(nodes[0].nc)
	must(b, err)
	st, err := js.Stream(ctx, "DUROXIDE_HISTORY")
	must(b, err)
	info, err := st.Info(ctx)
	must(b, err)
	var follower *clusterNode
	for _, nd := range nodes {
		if info.Cluster != nil && info.Cluster.Leader != nd.name {
			follower = nd
			break
		}
	}
	nc, err := nats.Connect(follower.srv.ClientURL())
	must(b, err)
	defer nc.Close()
	fc, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{})
	must(b, err)
	subject := "duroxide.hist.bench.1"

	b.Run("direct batch of the history", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			msgs, _, err := jetstream.DirectBatch(ctx, nc, "DUROXIDE_HISTORY", subject, 1, 1000)
			if err != nil || len(msgs) == 0 {
				b.Fatal(err, len(msgs))
			}
		}
	})
	b.Run("leader get of the last record", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m, err := jetstream.LeaderGet(ctx, nc, "DUROXIDE_HISTORY", jetstream.LeaderGetRequest{LastBySubject: subject})
			if err != nil || m == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("leader gets of the history, one per record", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			next := uint64(1)
			for {
				m, err := jetstream.LeaderGet(ctx, nc, "DUROXIDE_HISTORY", jetstream.LeaderGetRequest{Seq: next, NextBySubject: subject})
				if err != nil {
					b.Fatal(err)
				}
				if m == nil {
					break
				}
				next = m.Sequence + 1
			}
		}
	})
	b.Run("GetStatus", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := fc.GetStatus(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadHistory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if evs, err := fc.ReadHistory(ctx, "bench", 0); err != nil || len(evs) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("InstanceInfo", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := fc.InstanceInfo(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetValue", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := fc.GetValue(ctx, "bench", "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
