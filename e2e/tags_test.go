package e2e

// Behaviours of duroxide's tests/tag_serde.rs, activity_routing.rs and
// runtime_options.rs: worker tag filters and their limits, an any-tag node, and
// nodes that run only activities or only orchestrations.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

func TestTagFilterLimits(t *testing.T) {
	reg := duroxide.NewRegistry()
	for name, f := range map[string]duroxide.TagFilter{
		"no tags":       duroxide.OnlyTags(),
		"six tags":      duroxide.DefaultAndTags("a", "b", "c", "d", "e", "f"),
		"long tag":      duroxide.OnlyTags(strings.Repeat("t", duroxide.MaxTagNameBytes+1)),
		"empty tag":     duroxide.OnlyTags(""),
		"default and 0": duroxide.DefaultAndTags(),
	} {
		_, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: t.TempDir(), WorkerTags: f})
		if !errors.Is(err, duroxide.ErrInvalidInput) || !strings.Contains(err.Error(), "WorkerTags") {
			t.Errorf("%s: Start returned %v, want ErrInvalidInput naming WorkerTags", name, err)
		}
	}
}

func TestTagTooLongFailsOrchestration(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "LongTag", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("X", "", duroxide.WithTag(strings.Repeat("g", duroxide.MaxTagNameBytes+1))))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "long-tag", "LongTag", ""))
	st := waitDone(t, c, "long-tag", sampleWait)
	if st.State != duroxide.StateFailed || !strings.Contains(st.Failure.Message, "tag") {
		t.Fatalf("%s %+v, want a failure naming the tag", st.State, st.Failure)
	}
}

// An orchestration-only node (ActivityConcurrency -1) and an any-tag activity-only
// node (OrchestrationConcurrency -1) on one server: every activity, tagged or not,
// runs on the activity node.
func TestOrchestrationOnlyAndActivityOnlyNodes(t *testing.T) {
	orchReg, actReg := duroxide.NewRegistry(), duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(orchReg, "Split", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		a := ctx.ScheduleActivity("Where", in)
		b := ctx.ScheduleActivity("Where", in, duroxide.WithTag("gpu"))
		c := ctx.ScheduleActivity("Where", in, duroxide.WithTag("brand-new"))
		ctx.Join(a, b, c)
		var out []string
		for _, f := range []*duroxide.Future{a, b, c} {
			s, err := duroxide.Await[string](f)
			if err != nil {
				return "", err
			}
			out = append(out, s)
		}
		return strings.Join(out, ","), nil
	}))
	must(t, duroxide.RegisterActivity(actReg, "Where", func(ctx *duroxide.ActivityContext, in string) (string, error) {
		return "activity-node:" + ctx.Tag(), nil
	}))
	orchNode := startRuntime(t, orchReg, duroxide.Options{Listen: "127.0.0.1:0", ActivityConcurrency: -1})
	startRuntime(t, actReg, duroxide.Options{NATSURL: orchNode.ClientURL(), OrchestrationConcurrency: -1,
		WorkerTags: duroxide.AnyTags()})
	c := orchNode.Client()
	must(t, c.StartOrchestration(context.Background(), "split", "Split", ""))
	out := sampleOutput[string](t, waitDone(t, c, "split", sampleWait))
	if out != "activity-node:,activity-node:gpu,activity-node:brand-new" {
		t.Fatalf("output %q", out)
	}
}

// A NoTags node runs no activities; its work waits for a node that does.
func TestNoTagsNodeRunsNoActivities(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Mark", func(_ *duroxide.ActivityContext, node string) (string, error) {
		return node, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Marked", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		act := ctx.ScheduleActivity("Mark", "")
		if ctx.Select(act, ctx.ScheduleTimer(200*time.Millisecond)) == 1 {
			// nobody ran it; ask again, a worker node will have joined
			return duroxide.Await[string](ctx.ScheduleActivity("Mark", "worker"))
		}
		return duroxide.Await[string](act)
	}))
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", WorkerTags: duroxide.NoTags()})
	c := rt.Client()
	must(t, c.StartOrchestration(context.Background(), "no-tags", "Marked", ""))
	waitHistory(t, c, "no-tags", "the first activity to be abandoned", func(evs []history.Event) bool {
		return hasEvent(evs, history.ActivityCancelRequested, "")
	})
	startRuntime(t, reg, duroxide.Options{NATSURL: rt.ClientURL(), OrchestrationConcurrency: -1})
	if out := sampleOutput[string](t, waitDone(t, c, "no-tags", sampleWait)); out != "worker" {
		t.Fatalf("output %q, want the worker node's run", out)
	}
}
