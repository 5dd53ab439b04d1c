package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/store"
)

// BenchmarkFanOut is the reference workload: an orchestration runs 5
// activities in parallel (each sleeps 10 ms) and joins them. It keeps `inflight`
// instances running at once on one runtime with an embedded server and file storage,
// and reports orchestrations/s, activities/s and the median start-to-completion
// latency.
//
//	go test ./e2e -run '^$' -bench FanOut -benchtime 2000x
func BenchmarkFanOut(b *testing.B) {
	for _, inflight := range []int{20, 200} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchFanOut(b, inflight) })
	}
}

func benchFanOut(b *testing.B, inflight int) {
	reg := duroxide.NewRegistry()
	must(b, duroxide.RegisterActivity(reg, "Work", func(_ *duroxide.ActivityContext, i int) (int, error) {
		time.Sleep(10 * time.Millisecond)
		return i, nil
	}))
	must(b, duroxide.RegisterOrchestration(reg, "FanOut5", func(ctx *duroxide.OrchestrationContext, _ int) (int, error) {
		fs := make([]*duroxide.Future, 5)
		for i := range fs {
			fs[i] = ctx.ScheduleActivity("Work", i)
		}
		ctx.Join(fs...)
		sum := 0
		for _, f := range fs {
			v, err := duroxide.Await[int](f)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}))
	rt := startRuntime(b, reg, duroxide.Options{ActivityConcurrency: 5 * inflight, OrchestrationConcurrency: 64})
	c := rt.Client()

	// Completion is observed through the runtime's status notices (one subscription
	// for all instances), so the client side costs little.
	var mu sync.Mutex
	started := make(map[string]time.Time, b.N)
	var latencies []time.Duration
	slots := make(chan struct{}, inflight)
	done := make(chan struct{}, b.N)
	failed := 0
	sub, err := rt.Conn().Subscribe("duroxide.evt.*", func(m *nats.Msg) {
		var sum store.InstanceSummary
		if json.Unmarshal(m.Data, &sum) != nil || (sum.Status != store.StatusCompleted && sum.Status != store.StatusFailed) {
			return
		}
		mu.Lock()
		t0, ok := started[sum.Instance]
		delete(started, sum.Instance)
		if ok {
			latencies = append(latencies, time.Since(t0))
			if sum.Status == store.StatusFailed {
				failed++
			}
		}
		mu.Unlock()
		if ok {
			<-slots
			done <- struct{}{}
		}
	})
	must(b, err)
	defer sub.Unsubscribe()

	ctx := context.Background()
	b.ResetTimer()
	t0 := time.Now()
	// Several starters, as a real client fleet would: one sequential starter caps the
	// rate at one start's latency (a status read plus a publish).
	next := make(chan int)
	var starters sync.WaitGroup
	for w := 0; w < 16; w++ {
		starters.Add(1)
		go func() {
			defer starters.Done()
			for i := range next {
				id := fmt.Sprintf("bench-%d-%d", inflight, i)
				mu.Lock()
				started[id] = time.Now()
				mu.Unlock()
				if err := c.StartOrchestration(ctx, id, "FanOut5", nil); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		slots <- struct{}{}
		next <- i
	}
	close(next)
	starters.Wait()
	for i := 0; i < b.N; i++ {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("only %d of %d instances finished", i, b.N)
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d instances failed", failed)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orch/s")
	b.ReportMetric(float64(5*b.N)/elapsed.Seconds(), "act/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}
