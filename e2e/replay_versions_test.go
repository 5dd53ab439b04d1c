package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/store"
)

// TestReplayVersionOutsideRangeIsNotRun: every execution is pinned to the engine
// version of the node that started it. A node whose SupportedReplayVersions excludes
// that version does not run the execution's later turns (the store does not hand it
// out); a node with the default range (0.0.0 to EngineVersion) does.
func TestReplayVersionOutsideRangeIsNotRun(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Waits", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	dir := t.TempDir()
	old := &store.VersionRange{Max: store.MustParseSemver("0.0.1")}
	if store.MustParseSemver(duroxide.EngineVersion).Compare(old.Max) <= 0 {
		t.Fatalf("EngineVersion %s must be above %s for this test", duroxide.EngineVersion, old.Max)
	}
	rt1, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: dir, SupportedReplayVersions: old})
	must(t, err)
	c := rt1.Client()
	ctx := context.Background()
	// The first turn runs anywhere: a new instance has no pinned version yet. It
	// pins the execution to EngineVersion.
	must(t, c.StartOrchestration(ctx, "pinned", "Waits", nil))
	waitFor(t, "the first turn", func() bool { return len(mustHistory(t, c, "pinned")) == 2 })
	must(t, c.RaiseEvent(ctx, "pinned", "go", "x"))
	// The runtime polls every second: give it several polls to (wrongly) run the turn.
	time.Sleep(2500 * time.Millisecond)
	st, err := c.GetStatus(ctx, "pinned")
	must(t, err)
	if st.State != duroxide.StateRunning || len(mustHistory(t, c, "pinned")) != 2 {
		t.Fatalf("a runtime supporting only %s ran a turn of an execution pinned at %s: %s", old, duroxide.EngineVersion, st.State)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	must(t, rt1.Shutdown(sctx))
	cancel()

	rt2 := startRuntime(t, reg, duroxide.Options{DataDir: dir})
	st = waitDone(t, rt2.Client(), "pinned", 20*time.Second)
	var out string
	must(t, st.Decode(&out))
	if st.State != duroxide.StateCompleted || out != "x" {
		t.Fatalf("default range: %s %q, want Completed with \"x\"", st.State, out)
	}
}

// TestSupportedReplayVersionsValidated: Start rejects a range whose Min is above its
// Max.
func TestSupportedReplayVersionsValidated(t *testing.T) {
	rng := &store.VersionRange{Min: store.MustParseSemver("2.0.0"), Max: store.MustParseSemver("1.0.0")}
	rt, err := duroxide.Start(context.Background(), duroxide.NewRegistry(), duroxide.Options{DataDir: t.TempDir(), SupportedReplayVersions: rng})
	if err == nil {
		_ = rt.Shutdown(context.Background())
		t.Fatal("Start accepted SupportedReplayVersions [2.0.0, 1.0.0]")
	}
	if !errors.Is(err, duroxide.ErrInvalidInput) {
		t.Fatalf("Start: %v, want ErrInvalidInput", err)
	}
}

// TestReplayEngineUpgradeMovesPartitions: a node whose SupportedReplayVersions
// cannot replay the engine version another live node pins executions to (an old
// node during an engine upgrade) gives up its inbox partitions, so executions pinned
// by the new engine never wait on it.
func TestReplayEngineUpgradeMovesPartitions(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Waits", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	opts := duroxide.Options{Listen: "127.0.0.1:0", Cluster: duroxide.ClusterOptions{PartitionLease: time.Second},
		SupportedReplayVersions: &store.VersionRange{Max: store.MustParseSemver("0.0.1")}}
	old := startRuntime(t, reg, opts)
	opts.Listen, opts.NATSURL, opts.SupportedReplayVersions = "", old.ClientURL(), nil
	upgraded := startRuntime(t, reg, opts)
	waitFor(t, "the upgraded node to own every partition", func() bool {
		return len(upgraded.Partitions()) == 16 && len(old.Partitions()) == 0
	})
	ctx := context.Background()
	c := old.Client()
	for i := 0; i < 10; i++ {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("eng-%d", i), "Waits", nil))
	}
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("eng-%d", i)
		waitFor(t, id+"'s first turn", func() bool { return len(mustHistory(t, c, id)) == 2 })
		must(t, c.RaiseEvent(ctx, id, "go", "x"))
	}
	for i := 0; i < 10; i++ {
		st := waitDone(t, c, fmt.Sprintf("eng-%d", i), 20*time.Second)
		if st.State != duroxide.StateCompleted {
			t.Fatalf("eng-%d: %s %+v", i, st.State, st.Failure)
		}
	}
}
