package e2e

import (
	"context"
	"testing"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// Every execution of a continued-as-new orchestration gets children of its own: the
// generated child id names the execution after the first, so the second execution's
// first child does not collide with (and is not ignored as) the first execution's.
func TestGeneratedChildIDsDifferAcrossContinueAsNew(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Child", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		return n * 10, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Looper", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		got, err := duroxide.Await[int](ctx.ScheduleSubOrchestration("Child", n))
		if err != nil {
			return 0, err
		}
		if n < 3 {
			return 0, ctx.ContinueAsNew(n + 1)
		}
		return got, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	const id = "can-children"
	must(t, c.StartOrchestration(context.Background(), id, "Looper", 1))
	if out := sampleOutput[int](t, waitDone(t, c, id, sampleWait)); out != 30 {
		t.Fatalf("output %d, want 30", out)
	}
	seen := map[string]bool{}
	for exec := uint64(1); exec <= 3; exec++ {
		events, err := c.ReadHistory(context.Background(), id, exec)
		must(t, err)
		for _, e := range events {
			if e.Type != history.SubOrchestrationScheduled {
				continue
			}
			if seen[e.Instance] {
				t.Fatalf("execution %d reuses child id %q", exec, e.Instance)
			}
			seen[e.Instance] = true
			if st := waitDone(t, c, e.Instance, sampleWait); st.State != duroxide.StateCompleted {
				t.Fatalf("child %q: %s", e.Instance, st.State)
			}
		}
	}
	if want := id + "::sub::2"; !seen[want] {
		t.Fatalf("first execution's child is not %q (duroxide's id): %v", want, seen)
	}
}
