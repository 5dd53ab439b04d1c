package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// BenchmarkListPaging lists the Completed instances of a namespace holding 10,000
// of them, 100 per page, following the cursor; one op is one page.
func BenchmarkListPaging(b *testing.B) {
	const n, pageSize = 10000, 100
	reg := duroxide.NewRegistry()
	must(b, duroxide.RegisterOrchestration(reg, "Noop", func(ctx *duroxide.OrchestrationContext, i int) (int, error) { return i, nil }))
	rt := startRuntime(b, reg, duroxide.Options{})
	c := rt.Client()
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				if err := c.StartOrchestration(ctx, fmt.Sprintf("page-%05d", i), "Noop", i); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		m, err := c.SystemMetrics(ctx)
		if err == nil && m.CompletedInstances == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("setup: %+v, %v", m, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ResetTimer()
	cursor, seen := "", 0
	for i := 0; i < b.N; i++ {
		p, err := c.ListInstances(ctx, duroxide.ListOptions{Status: "Completed", Limit: pageSize, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		seen += len(p.InstanceIDs)
		cursor = p.Next
		if cursor == "" {
			if seen != n {
				b.Fatalf("paged through %d instances, want %d", seen, n)
			}
			seen = 0
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/page")
}
