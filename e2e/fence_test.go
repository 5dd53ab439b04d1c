package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/testknobs"
)

func fanRegistry(t *testing.T) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Square", func(_ *duroxide.ActivityContext, n int) (int, error) { return n * n, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "SumSquares", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		fs := make([]*duroxide.Future, n)
		for i := range fs {
			fs[i] = ctx.ScheduleActivity("Square", i+1)
		}
		ctx.Join(fs...)
		sum := 0
		for _, f := range fs {
			v, err := duroxide.Await[int](f)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		// Two more turns in sequence.
		for i := 0; i < 2; i++ {
			v, err := duroxide.Await[int](ctx.ScheduleActivity("Square", 1))
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}))
	return reg
}

// checkHistory asserts a history is one valid sequence: contiguous ids, one start,
// one terminal event at the end, and exactly one completion per scheduled activity.
func checkHistory(t *testing.T, id string, evs []history.Event) {
	t.Helper()
	scheduled := map[uint64]bool{}
	completed := map[uint64]int{}
	for i, e := range evs {
		if e.EventID != uint64(i+1) {
			t.Fatalf("%s: event %d has id %d", id, i, e.EventID)
		}
		switch e.Type {
		case history.OrchestrationStarted:
			if i != 0 {
				t.Fatalf("%s: OrchestrationStarted at %d", id, i)
			}
		case history.ActivityScheduled:
			scheduled[e.EventID] = true
		case history.ActivityCompleted, history.ActivityFailed:
			completed[e.SourceEventID]++
		}
		if e.Type.IsTerminal() && i != len(evs)-1 {
			t.Fatalf("%s: terminal event at %d of %d", id, i, len(evs))
		}
	}
	for s := range scheduled {
		if completed[s] != 1 {
			t.Fatalf("%s: activity %d completed %d times", id, s, completed[s])
		}
	}
	if len(completed) != len(scheduled) {
		t.Fatalf("%s: completions for unscheduled activities: %v", id, completed)
	}
}

// TestTwoRuntimesRaceOnSharedPartitions runs two runtimes that both pull every inbox
// partition (no pinning), so they process the same instances concurrently and race
// to commit turns. The history fence must let exactly one commit win each turn: every
// instance completes with the right result and its history stays one valid sequence.
func TestTwoRuntimesRaceOnSharedPartitions(t *testing.T) {
	shared := testknobs.Knobs{SharedPartitions: true}
	opts := duroxide.Options{Listen: "127.0.0.1:0", Partitions: 2, InboxAckWait: 2 * time.Second}
	rt1 := startRuntimeKnobs(t, fanRegistry(t), opts, shared)
	opts2 := duroxide.Options{NATSURL: rt1.ClientURL(), Partitions: 2, InboxAckWait: 2 * time.Second}
	rt2 := startRuntimeKnobs(t, fanRegistry(t), opts2, shared)
	ctx := context.Background()
	const n = 30
	for i := 0; i < n; i++ {
		c := rt1.Client()
		if i%2 == 1 {
			c = rt2.Client()
		}
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("race-%d", i), "SumSquares", 8))
	}
	want := 0
	for i := 1; i <= 8; i++ {
		want += i * i
	}
	want += 2
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("race-%d", i)
		st := waitDone(t, rt1.Client(), id, 60*time.Second)
		var out int
		must(t, st.Decode(&out))
		if out != want {
			t.Errorf("%s: %d, want %d", id, out, want)
		}
		evs, err := rt2.Client().ReadHistory(ctx, id, 0)
		must(t, err)
		checkHistory(t, id, evs)
	}
}
