package e2e

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jetstreamapi "github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/testknobs"
	"github.com/duroxide-go/duroxide/jetstream"
)

// logSignal is a slog handler that closes ch the first time a record with message
// msg is logged, and discards everything.
type logSignal struct {
	msg  string
	ch   chan struct{}
	once *sync.Once
}

func newLogSignal(msg string) logSignal {
	return logSignal{msg: msg, ch: make(chan struct{}), once: &sync.Once{}}
}

func (h logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h logSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h logSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logSignal) WithGroup(string) slog.Handler      { return h }

// TestStaleActivityNeverReachesRecreatedInstance: an activity runs on node A for an
// instance orchestrated on node B; the instance is force-deleted and created again
// under the same id (its new activity has the same execution and event id), then the
// old activity returns. Its result is dropped on node A and the new instance
// completes with its own activity's result only.
func TestStaleActivityNeverReachesRecreatedInstance(t *testing.T) {
	gates := map[string]chan struct{}{"old": make(chan struct{}), "new": make(chan struct{})}
	running := map[string]chan struct{}{"old": make(chan struct{}), "new": make(chan struct{})}
	var onces sync.Map
	reg := func() *duroxide.Registry {
		reg := duroxide.NewRegistry()
		must(t, duroxide.RegisterActivity(reg, "Gate", func(ctx *duroxide.ActivityContext, in string) (string, error) {
			o, _ := onces.LoadOrStore(in, &sync.Once{})
			o.(*sync.Once).Do(func() { close(running[in]) })
			select {
			case <-gates[in]:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			return in + "-result", nil
		}))
		must(t, duroxide.RegisterOrchestration(reg, "Stale", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
			return duroxide.Await[string](ctx.ScheduleActivity("Gate", in))
		}))
		return reg
	}
	orchNode := startRuntime(t, reg(), duroxide.Options{Listen: "127.0.0.1:0", ActivityConcurrency: -1})
	dropped := newLogSignal("activity result dropped: its lock was lost")
	startRuntime(t, reg(), duroxide.Options{NATSURL: orchNode.ClientURL(), OrchestrationConcurrency: -1,
		Logger: slog.New(dropped)})
	c := orchNode.Client()
	ctx := context.Background()
	const id = "recreated-1"
	waitClosed := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			st, err := c.GetStatus(ctx, id)
			q, _ := c.QueueDepths(ctx)
			t.Fatalf("timed out waiting for %s: %+v %v %+v", what, st, err, q)
		}
	}

	must(t, c.StartOrchestration(ctx, id, "Stale", "old"))
	waitClosed(running["old"], "the old activity to run on node A")
	if _, err := c.DeleteInstance(ctx, id, true); err != nil {
		t.Fatalf("force delete: %v", err)
	}
	must(t, c.StartOrchestration(ctx, id, "Stale", "new"))
	waitClosed(running["new"], "the recreated instance's activity to run on node A")

	// Release the old activity: node A must drop its result (its work item is gone),
	// and the recreated instance must not complete with it.
	finished := make(chan *duroxide.Status, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		st, err := c.WaitForOrchestration(wctx, id)
		if err == nil {
			finished <- st
		}
	}()
	close(gates["old"])
	select {
	case <-dropped.ch:
	case st := <-finished:
		t.Fatalf("the recreated instance finished before its own activity did: %s %s", st.State, st.Output)
	case <-time.After(20 * time.Second):
		t.Fatal("node A neither dropped the old activity's result nor delivered it")
	}

	close(gates["new"])
	var st *duroxide.Status
	select {
	case st = <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("the recreated instance did not finish")
	}
	if st.State != duroxide.StateCompleted || string(st.Output) != `"new-result"` {
		t.Fatalf("recreated instance: %s %s; want Completed \"new-result\"", st.State, st.Output)
	}
	evs, err := c.ReadHistory(ctx, id, 0)
	must(t, err)
	for _, e := range evs {
		if strings.Contains(e.Output, "old") || strings.Contains(e.Input, "old") {
			t.Fatalf("the recreated instance's history holds the old incarnation's data: %+v", e)
		}
	}
}

// TestForcedDeleteBeforeDispatchLeavesNothing: a turn commits (an activity, a timer,
// a sub-orchestration and a detached start) and stops before its outbox is
// dispatched; the instance is force-deleted; then the dispatch goes on. Nothing of
// the deleted instance may run or reappear: no activity run, no child, no detached
// instance, no timer turn, no history or views, and the queues drain.
func TestForcedDeleteBeforeDispatchLeavesNothing(t *testing.T) {
	const parent, child, detached = "undo-1", "undo-child", "undo-detached"
	var activityRuns, childRuns atomic.Int32
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Count", func(ctx *duroxide.ActivityContext, in string) (string, error) {
		activityRuns.Add(1)
		return in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Child", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		childRuns.Add(1)
		return in, nil
	}))
	const timer = 2 * time.Second
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		act := ctx.ScheduleActivity("Count", in)
		tm := ctx.ScheduleTimer(timer)
		sub := ctx.ScheduleSubOrchestration("Child", in, duroxide.WithInstanceID(child))
		if err := ctx.StartOrchestration(detached, "Child", in); err != nil {
			return "", err
		}
		if _, err := duroxide.Await[string](act); err != nil {
			return "", err
		}
		if err := tm.Get(nil); err != nil {
			return "", err
		}
		return duroxide.Await[string](sub)
	}))

	reached, release := make(chan struct{}), make(chan struct{})
	var hooked atomic.Bool
	hooks := jetstream.Hooks{AfterCommit: func(instance string) error {
		if instance == parent && hooked.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
		return nil
	}}
	rt := startRuntimeKnobs(t, reg, duroxide.Options{}, testknobs.Knobs{StoreHooks: hooks})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, parent, "Parent", `x`))
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("the parent's first turn never committed")
	}
	committed := time.Now()
	if n := countEvents(t, c, parent); n[history.ActivityScheduled] != 1 || n[history.TimerCreated] != 1 ||
		n[history.SubOrchestrationScheduled] != 1 || n[history.OrchestrationChained] != 1 {
		t.Fatalf("committed turn: %v; want the activity, timer, child and detached start scheduled", n)
	}
	if _, err := c.DeleteInstance(ctx, parent, true); err != nil {
		t.Fatalf("force delete: %v", err)
	}
	close(release) // the outbox of the deleted instance is dispatched now

	// Wait past the timer's due time for the queues to drain.
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := c.QueueDepths(ctx)
		must(t, err)
		drained := q.OrchestratorQueue == 0 && q.WorkerQueue == 0 && q.TimerQueue == 0
		if drained && time.Since(committed) > timer+500*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("queues not drained 30 s after the delete: %+v", q)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	if n := activityRuns.Load(); n != 0 {
		t.Errorf("the deleted instance's activity ran %d times", n)
	}
	if n := childRuns.Load(); n != 0 {
		t.Errorf("the deleted instance's child or detached orchestration ran %d times", n)
	}
	for _, id := range []string{parent, child, detached} {
		st, err := c.GetStatus(ctx, id)
		must(t, err)
		if st.State != duroxide.StateNotFound {
			t.Errorf("%s exists after the forced delete: %s", id, st.State)
		}
		evs, err := c.ReadHistory(ctx, id, 0)
		must(t, err)
		if len(evs) != 0 {
			t.Errorf("%s has %d history events after the forced delete", id, len(evs))
		}
	}
	// The views (built by the projector from the history stream) hold none of them.
	waitFor(t, "the views to drop the deleted instance", func() bool {
		ids, err := c.ListAllInstances(ctx, duroxide.ListOptions{})
		must(t, err)
		for _, id := range ids {
			if strings.HasPrefix(id, "undo") {
				return false
			}
		}
		return true
	})
}

// TestForcedDeleteBeforeKVMaterializeLeavesNoKVState: a terminal turn that set a KV
// value commits and stops before its KV store is written to the kvstate bucket; the
// instance is force-deleted; then the turn goes on. Its KV document must not outlive
// the instance.
func TestForcedDeleteBeforeKVMaterializeLeavesNoKVState(t *testing.T) {
	const id = "undo-kv"
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "SetsKV", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		ctx.SetValue("k", in)
		return in, nil
	}))
	reached, release := make(chan struct{}), make(chan struct{})
	var hooked atomic.Bool
	hooks := jetstream.Hooks{AfterCommit: func(instance string) error {
		if instance == id && hooked.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
		return nil
	}}
	rt := startRuntimeKnobs(t, reg, duroxide.Options{}, testknobs.Knobs{StoreHooks: hooks})
	c := rt.Client()
	ctx := context.Background()
	// The store publishes the status notice after the KV store is written and the
	// outbox dispatched: it marks the end of the turn.
	notices, err := rt.Conn().SubscribeSync("duroxide.evt." + id)
	must(t, err)
	must(t, c.StartOrchestration(ctx, id, "SetsKV", "v"))
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("the terminal turn never committed")
	}
	if _, err := c.DeleteInstance(ctx, id, true); err != nil {
		t.Fatalf("force delete: %v", err)
	}
	close(release)
	if _, err := notices.NextMsg(20 * time.Second); err != nil {
		t.Fatalf("the turn did not finish: %v", err)
	}
	js, err := jetstreamapi.New(rt.Conn())
	must(t, err)
	kv, err := js.KeyValue(ctx, "duroxide_kvstate")
	must(t, err)
	if e, err := kv.Get(ctx, id); err == nil {
		t.Fatalf("the deleted instance's KV store reappeared: %s", e.Value())
	} else if !errors.Is(err, jetstreamapi.ErrKeyNotFound) {
		t.Fatalf("read kv state: %v", err)
	}
	if st, err := c.GetStatus(ctx, id); err != nil || st.State != duroxide.StateNotFound {
		t.Fatalf("status after the forced delete: %+v %v", st, err)
	}
}
