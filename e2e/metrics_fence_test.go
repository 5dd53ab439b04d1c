package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duroxide-go/duroxide"
	djs "github.com/duroxide-go/duroxide/jetstream"
)

// TestMetricsCountFenceConflict: another writer appends to an instance's history
// while a turn of it runs; the turn's commit is fenced out, and
// duroxide_history_fence_conflicts_total and duroxide_turns_total{outcome="fenced"}
// count it once.
func TestMetricsCountFenceConflict(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var blocked atomic.Bool
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Fenced", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		v, err := duroxide.Await[string](ctx.WaitForEvent("go"))
		if err != nil {
			return "", err
		}
		if !ctx.IsReplaying() && blocked.CompareAndSwap(false, true) {
			close(entered) // the second turn runs: hold it until the rival wrote
			<-release
		}
		return v, nil
	}))
	promReg := prometheus.NewRegistry()
	rt := startRuntime(t, reg, duroxide.Options{MetricsRegisterer: promReg})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "fx", "Fenced", ""))
	sampleWaitSubscribed(t, c, "fx", "go", sampleWait)
	must(t, c.RaiseEvent(ctx, "fx", "go", "v"))
	select {
	case <-entered:
	case <-time.After(sampleWait):
		t.Fatal("the second turn did not run")
	}
	// The rival: append a copy of the instance's last history record, moving the
	// fence the running turn will commit against.
	js, err := jetstream.New(rt.Conn())
	must(t, err)
	subj := "duroxide.hist." + djs.EncodeToken("fx") + ".1"
	hist, err := js.Stream(ctx, "DUROXIDE_HISTORY")
	must(t, err)
	last, err := hist.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatalf("read the last history record: %v", err)
	}
	if _, err := js.Publish(ctx, subj, last.Data); err != nil {
		t.Fatalf("rival append: %v", err)
	}
	if g := gatherAll(t, promReg); g.value("duroxide_history_fence_conflicts_total") != 0 {
		t.Fatalf("a fence conflict before the turn committed")
	}
	close(release)
	eventuallyMetric(t, promReg, sampleWait, "the fenced commit is counted", func(g gathered) bool {
		return g.value("duroxide_history_fence_conflicts_total") == 1 && g.value("duroxide_turns_total", "outcome=fenced") == 1 &&
			g.value("duroxide_provider_errors_total", "operation=ack_orchestration_item", "error_type=fenced") == 1
	})
}
