package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// TestNewVersionRunsOnCapableNode: during a rolling upgrade, an old node lacks
// version 2.0.0 of an orchestration that a new node has. Inbox partitions go only to
// nodes that can run every live version, so instances started at 2.0.0 never land on
// the old node (which would back off until they failed as unregistered).
func TestNewVersionRunsOnCapableNode(t *testing.T) {
	build := func(withV2 bool) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		must(t, duroxide.RegisterOrchestrationVersion(reg, "Flow", "1.0.0", func(*duroxide.OrchestrationContext, string) (string, error) {
			return "v1", nil
		}))
		if withV2 {
			must(t, duroxide.RegisterOrchestrationVersion(reg, "Flow", "2.0.0", func(*duroxide.OrchestrationContext, string) (string, error) {
				return "v2", nil
			}))
		}
		return reg
	}
	opts := duroxide.Options{Listen: "127.0.0.1:0", MaxAttempts: 2, UnregisteredBaseDelay: 10 * time.Millisecond,
		UnregisteredMaxDelay: 20 * time.Millisecond, Cluster: duroxide.ClusterOptions{PartitionLease: time.Second}}
	old := startRuntime(t, build(false), opts)
	opts.Listen, opts.NATSURL = "", old.ClientURL()
	upgraded := startRuntime(t, build(true), opts)
	waitFor(t, "the upgraded node to own every partition", func() bool {
		return len(upgraded.Partitions()) == 16 && len(old.Partitions()) == 0
	})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		must(t, old.Client().StartOrchestration(ctx, fmt.Sprintf("cap-%d", i), "Flow", nil, duroxide.StartVersion("2.0.0")))
	}
	for i := 0; i < 20; i++ {
		st := waitDone(t, old.Client(), fmt.Sprintf("cap-%d", i), 20*time.Second)
		var out string
		must(t, st.Decode(&out))
		if out != "v2" {
			t.Fatalf("cap-%d: %s %q %+v", i, st.State, out, st.Failure)
		}
	}
}
