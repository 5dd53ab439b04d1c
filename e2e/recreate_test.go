package e2e

import (
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// TestRecreatedInstanceCompletesActivities: an instance deleted and started again
// under the same id at once (well within the inbox's two-minute deduplication
// window) gets its activities' completions. When the completion's deduplication id
// named only (instance, execution, activity id), the same in both incarnations,
// JetStream dropped the new incarnation's completion as a duplicate of the old one
// and the instance waited forever (found by TestChaosKillNodes); the id now names the
// incarnation too.
func TestRecreatedInstanceCompletesActivities(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Greet", func(_ *duroxide.ActivityContext, name string) (string, error) {
		return "hi " + name, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Greeter", func(ctx *duroxide.OrchestrationContext, name string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Greet", name))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := ctxT(t)
	for i, name := range []string{"first", "second", "third"} {
		if i > 0 {
			_, err := c.DeleteInstance(ctx, "again", false)
			must(t, err)
		}
		must(t, c.StartOrchestration(ctx, "again", "Greeter", name))
		st := waitDone(t, c, "again", 15*time.Second)
		var out string
		if err := st.Decode(&out); err != nil || out != "hi "+name {
			t.Fatalf("incarnation %d: output %q, err %v; want %q", i+1, out, err, "hi "+name)
		}
	}
}
