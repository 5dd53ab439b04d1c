package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/benchload"
	"github.com/duroxide-go/duroxide/internal/demo"
	"github.com/duroxide-go/duroxide/store"
)

// BenchmarkFanOut is the reference workload (internal/benchload, the same
// as node bench's): an orchestration runs 5 activities in parallel (each sleeps
// 10 ms) and joins them. It keeps `inflight` instances running at once on one
// runtime with an embedded server and file storage, and reports orchestrations/s,
// activities/s and the median and 99th percentile start-to-completion latency.
// Unlike node bench, which goes through the public client with default Options,
// it measures the engine: tuned concurrency options, and completion observed
// through the runtime's status notices (one subscription for all instances).
//
//	go test ./e2e -run '^$' -bench FanOut -benchtime 2000x
func BenchmarkFanOut(b *testing.B) {
	for _, inflight := range []int{20, 200} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchFanOut(b, inflight) })
	}
}

func benchFanOut(b *testing.B, inflight int) {
	reg := duroxide.NewRegistry()
	must(b, demo.Register(reg))
	rt := startRuntime(b, reg, duroxide.Options{ActivityConcurrency: 5 * inflight, OrchestrationConcurrency: 64})
	c := rt.Client()

	var mu sync.Mutex
	waiting := make(map[string]chan string, inflight)
	sub, err := rt.Conn().Subscribe("duroxide.evt.*", func(m *nats.Msg) {
		var sum store.InstanceSummary
		if json.Unmarshal(m.Data, &sum) != nil || (sum.Status != store.StatusCompleted && sum.Status != store.StatusFailed) {
			return
		}
		mu.Lock()
		ch := waiting[sum.Instance]
		delete(waiting, sum.Instance)
		mu.Unlock()
		if ch != nil {
			ch <- sum.Status
		}
	})
	must(b, err)
	defer sub.Unsubscribe()
	run := func(ctx context.Context, id string, in demo.BenchFanOutInput) error {
		ch := make(chan string, 1)
		mu.Lock()
		waiting[id] = ch
		mu.Unlock()
		if err := c.StartOrchestration(ctx, id, demo.BenchFanOut, in); err != nil {
			return err
		}
		t := time.NewTimer(60 * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			return fmt.Errorf("instance %s did not finish within 60s", id)
		case st := <-ch:
			if st != store.StatusCompleted {
				return fmt.Errorf("instance %s %s", id, st)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	b.ResetTimer()
	res, err := benchload.Run(context.Background(), c, benchload.Config{Activities: 5, Work: 10 * time.Millisecond,
		InFlight: inflight, Count: b.N, IDPrefix: fmt.Sprintf("bench-%d-", inflight), Run: run})
	b.StopTimer()
	must(b, err)
	if res.Failed > 0 {
		b.Fatalf("%d instances failed, first: %v", res.Failed, res.FirstError)
	}
	b.ReportMetric(res.OrchestrationsPerSec, "orch/s")
	b.ReportMetric(res.ActivitiesPerSec, "act/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
}
