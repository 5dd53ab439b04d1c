package e2e

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
)

// TestCommitOutageIsNotPoison: while the history stream does not answer (its leader
// died with a node and the next one is not elected yet), every turn's commit fails
// and its messages are redelivered. Those deliveries never reached the orchestration
// code's outcome, so they must not count towards MaxAttempts: once the stream answers
// again the instance completes instead of failing as poison. (Found by
// TestChaosKillNodes: a valid TimerFired "delivered 12 times (max 10)" failed its
// instance during a leader election.) The outage is made real by taking the history
// subjects away from the stream, so commits get no responders.
func TestCommitOutageIsNotPoison(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "AwaitGo", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	var mu sync.Mutex
	var logs []string
	const maxAttempts = 3
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", MaxAttempts: maxAttempts,
		Logger: slog.New(captureHandler{mu: &mu, msgs: &logs})})
	c := rt.Client()
	ctx := ctxT(t)
	must(t, c.StartOrchestration(ctx, "outage", "AwaitGo", nil))
	waitFor(t, "the instance to start", func() bool {
		st, err := c.GetStatus(ctx, "outage")
		return err == nil && st.State == duroxide.StateRunning
	})

	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	hist, err := js.Stream(ctx, "DUROXIDE_HISTORY")
	must(t, err)
	cfg := hist.CachedInfo().Config
	subjects := cfg.Subjects
	cfg.Subjects = []string{"outage.nothing"}
	_, err = js.UpdateStream(ctx, cfg)
	must(t, err)

	must(t, c.RaiseEvent(ctx, "outage", "go", "after the outage"))
	failedCommits := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, m := range logs {
			if m == "outage:commit turn" {
				n++
			}
		}
		return n
	}
	waitFor(t, "commits to fail more often than MaxAttempts", func() bool { return failedCommits() > 2*maxAttempts })

	cfg.Subjects = subjects
	_, err = js.UpdateStream(ctx, cfg)
	must(t, err)
	st := waitDone(t, c, "outage", 30*time.Second)
	var out string
	if err := st.Decode(&out); err != nil || out != "after the outage" {
		t.Fatalf("after %d failed commits: state %s, output %q, failure %+v; want Completed with %q",
			failedCommits(), st.State, out, st.Failure, "after the outage")
	}
}
