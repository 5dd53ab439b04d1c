package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// TestNamespacesAreIsolated runs two applications on one NATS server under different
// namespaces: the same instance id lives independently in each, and neither sees the
// other's instances.
func TestNamespacesAreIsolated(t *testing.T) {
	reg := func(tag string) *duroxide.Registry {
		r := duroxide.NewRegistry()
		must(t, duroxide.RegisterOrchestration(r, "Who", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
			return tag + ":" + in, nil
		}))
		return r
	}
	alpha := startRuntime(t, reg("alpha"), duroxide.Options{Namespace: "alpha", Listen: "127.0.0.1:0"})
	beta := startRuntime(t, reg("beta"), duroxide.Options{Namespace: "beta", NATSURL: alpha.ClientURL()})
	ctx := context.Background()
	must(t, alpha.Client().StartOrchestration(ctx, "same-id", "Who", "a"))
	must(t, beta.Client().StartOrchestration(ctx, "same-id", "Who", "b"))
	must(t, alpha.Client().StartOrchestration(ctx, "alpha-only", "Who", "x"))
	for rt, want := range map[*duroxide.Runtime]string{alpha: "alpha:a", beta: "beta:b"} {
		st := waitDone(t, rt.Client(), "same-id", 10*time.Second)
		var out string
		must(t, st.Decode(&out))
		if out != want {
			t.Errorf("output %q, want %q", out, want)
		}
	}
	waitDone(t, alpha.Client(), "alpha-only", 10*time.Second)
	st, err := beta.Client().GetStatus(ctx, "alpha-only")
	must(t, err)
	if st.State != duroxide.StateNotFound {
		t.Fatalf("beta sees alpha's instance: %+v", st)
	}
}
