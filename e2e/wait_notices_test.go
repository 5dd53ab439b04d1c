package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
)

// Many waits of one Client share one subscription to the status notices (instead of
// one each), it is dropped when the last wait ends, and every wait still gets its
// instance's result.
func TestWaitsShareOneNoticeSubscription(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "WaitGo", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0"})
	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{})
	must(t, err)
	const n = 30
	id := func(i int) string { return fmt.Sprintf("shared-wait-%d", i) }
	for i := range n {
		must(t, c.StartOrchestration(ctx, id(i), "WaitGo", ""))
	}
	base := nc.NumSubscriptions() // the request mux exists: the starts made requests

	var wg sync.WaitGroup
	results := make([]*duroxide.Status, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.WaitForOrchestration(ctx, id(i))
		}()
	}
	// Watch the subscriptions while the waits run: from the first one seen, for one
	// more second (every wait has subscribed by then if each made its own).
	most, seen := base, time.Time{}
	tick := time.NewTicker(time.Millisecond)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); <-tick.C {
		most = max(most, nc.NumSubscriptions())
		if seen.IsZero() && most > base {
			seen = time.Now()
		}
		if !seen.IsZero() && time.Since(seen) > time.Second {
			break
		}
	}
	tick.Stop()
	for i := range n {
		must(t, c.RaiseEvent(ctx, id(i), "go", fmt.Sprintf("r%d", i)))
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("wait %d: %v", i, errs[i])
		}
		var out string
		must(t, results[i].Decode(&out))
		if results[i].State != duroxide.StateCompleted || out != fmt.Sprintf("r%d", i) {
			t.Fatalf("wait %d: %s %q", i, results[i].State, out)
		}
	}
	if most-base != 1 {
		t.Errorf("%d waits used %d subscriptions at once, want 1 shared", n, most-base)
	}
	if got := nc.NumSubscriptions(); got != base {
		t.Errorf("after the waits ended %d subscriptions, want %d (the shared one dropped)", got, base)
	}
}
