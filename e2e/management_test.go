package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// storeEnv is a runtime that runs no orchestrations or activities (only its
// projector), plus a second store on the same server that the test drives by hand,
// as duroxide's provider validation tests do.
type storeEnv struct {
	t  *testing.T
	rt *duroxide.Runtime
	st *jetstream.Store
	c  *duroxide.Client
}

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	rt := startRuntime(t, duroxide.NewRegistry(), duroxide.Options{OrchestrationConcurrency: -1, ActivityConcurrency: -1})
	st, err := jetstream.Open(context.Background(), rt.Conn(), jetstream.Config{})
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return &storeEnv{t: t, rt: rt, st: st, c: rt.Client()}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startedEvent(inst, name, version string, id uint64) history.Event {
	return history.Event{EventID: id, InstanceID: inst, ExecutionID: 1, TimestampMs: time.Now().UnixMilli(),
		Type: history.OrchestrationStarted, Name: name, Version: version, Input: "{}"}
}

// turn enqueues msg, fetches the instance and acks with the given delta and metadata.
func (e *storeEnv) turn(msg store.WorkItem, exec uint64, delta []history.Event, md store.ExecutionMetadata) {
	e.t.Helper()
	ctx := ctxT(e.t)
	must(e.t, e.st.EnqueueForOrchestrator(ctx, msg, 0))
	item, err := e.st.FetchOrchestrationItem(ctx, 30*time.Second, 5*time.Second, nil)
	must(e.t, err)
	if item == nil || item.Instance != msg.Instance {
		e.t.Fatalf("fetch: got %+v, want an item for %q", item, msg.Instance)
	}
	must(e.t, e.st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: exec, HistoryDelta: delta, Metadata: md}))
}

func startItem(inst string) store.WorkItem {
	return store.WorkItem{Type: store.StartOrchestration, Instance: inst, Name: "TestOrch", Input: "{}"}
}

func poke(inst, name string) store.WorkItem {
	return store.WorkItem{Type: store.ExternalRaised, Instance: inst, Name: name, Data: "{}"}
}

// createInstance is duroxide's create_instance: a start acked with OrchestrationStarted.
func (e *storeEnv) createInstance(inst string) {
	e.turn(startItem(inst), 1, []history.Event{startedEvent(inst, "TestOrch", "1.0.0", 1)},
		store.ExecutionMetadata{OrchestrationName: "TestOrch", OrchestrationVersion: "1.0.0"})
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestManagementListInstances(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		e.createInstance(fmt.Sprintf("mgmt-inst-%d", i))
	}
	ids, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{})
	must(t, err)
	if len(ids) < 3 {
		t.Fatalf("listed %v", ids)
	}
	for i := 0; i < 3; i++ {
		if !contains(ids, fmt.Sprintf("mgmt-inst-%d", i)) {
			t.Fatalf("mgmt-inst-%d missing from %v", i, ids)
		}
	}
}

func TestManagementListInstancesByStatus(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	e.turn(startItem("mgmt-completed"), 1, []history.Event{startedEvent("mgmt-completed", "TestOrch", "1.0.0", 1)},
		store.ExecutionMetadata{Status: "Completed", Output: "done", OrchestrationName: "TestOrch", OrchestrationVersion: "1.0.0"})
	e.createInstance("mgmt-running")
	completed, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{Status: "Completed"})
	must(t, err)
	if !contains(completed, "mgmt-completed") || contains(completed, "mgmt-running") {
		t.Fatalf("completed = %v", completed)
	}
	running, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{Status: "Running"})
	must(t, err)
	if !contains(running, "mgmt-running") || contains(running, "mgmt-completed") {
		t.Fatalf("running = %v", running)
	}
	if _, err := e.c.ListInstances(ctx, duroxide.ListOptions{Status: "Bogus"}); !errors.Is(err, duroxide.ErrInvalidInput) {
		t.Fatalf("unknown status: err = %v, want ErrInvalidInput", err)
	}
	byName, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{Name: "TestOrch"})
	must(t, err)
	if len(byName) != 2 {
		t.Fatalf("by name = %v", byName)
	}
	none, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{Name: "Other"})
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("by other name = %v", none)
	}
	future, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{CreatedAfter: time.Now().Add(time.Hour)})
	must(t, err)
	if len(future) != 0 {
		t.Fatalf("created in the future = %v", future)
	}
}

func TestManagementListExecutionsAndInfo(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	e.turn(startItem("mgmt-multi-exec"), 1, []history.Event{startedEvent("mgmt-multi-exec", "TestOrch", "1.0.0", 1)}, store.ExecutionMetadata{})
	execs, err := e.c.ListExecutions(ctx, "mgmt-multi-exec")
	must(t, err)
	if len(execs) != 1 || execs[0] != 1 {
		t.Fatalf("executions = %v", execs)
	}

	e.turn(startItem("mgmt-info"), 1, []history.Event{{EventID: 1, InstanceID: "mgmt-info", ExecutionID: 1,
		Type: history.OrchestrationStarted, Name: "InfoOrch", Version: "2.0.0", Input: "test"}},
		store.ExecutionMetadata{OrchestrationName: "InfoOrch", OrchestrationVersion: "2.0.0"})
	info, err := e.c.InstanceInfo(ctx, "mgmt-info")
	must(t, err)
	if info.InstanceID != "mgmt-info" || info.Name != "InfoOrch" || info.Version != "2.0.0" || info.CurrentExecutionID != 1 {
		t.Fatalf("info = %+v", info)
	}
	if _, err := e.c.InstanceInfo(ctx, "nope"); !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("missing: err = %v", err)
	}

	e.turn(startItem("mgmt-exec-info"), 1, []history.Event{startedEvent("mgmt-bulk-del", "TestOrch", "1.0.0", 1)},
		store.ExecutionMetadata{Status: "Completed", Output: "result"})
	ei, err := e.c.ExecutionInfo(ctx, "mgmt-exec-info", 1)
	must(t, err)
	if ei.ExecutionID != 1 || ei.Status != "Completed" || ei.Output != "result" || ei.EventCount != 1 {
		t.Fatalf("execution info = %+v", ei)
	}
	if _, err := e.c.ExecutionInfo(ctx, "mgmt-exec-info", 2); !errors.Is(err, duroxide.ErrExecutionNotFound) {
		t.Fatalf("missing execution: err = %v", err)
	}
}

func TestManagementSystemMetricsAndQueueDepths(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	base, err := e.c.SystemMetrics(ctx)
	must(t, err)
	e.createInstance("mgmt-metrics")
	m, err := e.c.SystemMetrics(ctx)
	must(t, err)
	if m.TotalInstances <= base.TotalInstances || m.TotalEvents <= 0 || m.RunningInstances != base.RunningInstances+1 ||
		m.TotalExecutions != base.TotalExecutions+1 {
		t.Fatalf("metrics %+v after %+v", m, base)
	}

	d0, err := e.c.QueueDepths(ctx)
	must(t, err)
	must(t, e.st.EnqueueForOrchestrator(ctx, startItem("mgmt-queue"), 0))
	d1, err := e.c.QueueDepths(ctx)
	must(t, err)
	if d1.OrchestratorQueue <= d0.OrchestratorQueue {
		t.Fatalf("orchestrator queue %d -> %d", d0.OrchestratorQueue, d1.OrchestratorQueue)
	}
	must(t, e.st.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.TimerFired, Instance: "mgmt-queue", ExecutionID: 1, ID: 2,
		FireAtMs: time.Now().Add(time.Hour).UnixMilli()}, time.Hour))
	d2, err := e.c.QueueDepths(ctx)
	must(t, err)
	if d2.TimerQueue != d1.TimerQueue+1 || d2.OrchestratorQueue != d1.OrchestratorQueue {
		t.Fatalf("after a timer: %+v, before %+v", d2, d1)
	}
}

func TestInstanceStatsMissing(t *testing.T) {
	e := newStoreEnv(t)
	if _, err := e.c.InstanceStats(ctxT(t), "no-such-instance"); !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("err = %v, want ErrInstanceNotFound", err)
	}
}

func TestInstanceStatsHistory(t *testing.T) {
	e := newStoreEnv(t)
	e.createInstance("stats-hist")
	s, err := e.c.InstanceStats(ctxT(t), "stats-hist")
	must(t, err)
	if s.HistoryEventCount < 1 || s.HistorySizeBytes <= 0 || s.KVUserKeyCount != 0 || s.KVTotalValueBytes != 0 || s.QueuePendingCount != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func kvSet(inst string, id uint64, key, value string, ms int64) history.Event {
	return history.Event{EventID: id, InstanceID: inst, ExecutionID: 1, Type: history.KeyValueSet, Key: key, Value: value, LastUpdatedAtMs: ms}
}

func TestInstanceStatsKV(t *testing.T) {
	e := newStoreEnv(t)
	e.createInstance("stats-kv")
	e.turn(poke("stats-kv", "poke"), 1, []history.Event{
		kvSet("stats-kv", 100, "k1", "aaa", 0), kvSet("stats-kv", 101, "k2", "bbbbb", 0),
		{EventID: 102, InstanceID: "stats-kv", ExecutionID: 1, Type: history.OrchestrationCompleted, Output: "done"},
	}, store.ExecutionMetadata{Status: "Completed", Output: "done"})
	s, err := e.c.InstanceStats(ctxT(t), "stats-kv")
	must(t, err)
	if s.KVUserKeyCount != 2 || s.KVTotalValueBytes != 8 {
		t.Fatalf("stats = %+v, want 2 keys, 8 bytes", s)
	}
}

func TestInstanceStatsCarryForward(t *testing.T) {
	e := newStoreEnv(t)
	ev := startedEvent("cf-stats", "TestOrch", "1.0.0", 1)
	ev.CarryForward = []history.QueuedMessage{{Name: "raised-1", Data: `{"data":"a"}`}, {Name: "raised-2", Data: `{"data":"b"}`}, {Name: "raised-3", Data: `{"data":"c"}`}}
	e.turn(startItem("cf-stats"), 1, []history.Event{ev}, store.ExecutionMetadata{OrchestrationName: "TestOrch", OrchestrationVersion: "1.0.0"})
	s, err := e.c.InstanceStats(ctxT(t), "cf-stats")
	must(t, err)
	if s.QueuePendingCount != 3 || s.HistoryEventCount < 1 || s.HistorySizeBytes <= 0 || s.KVUserKeyCount != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestInstanceStatsKVDeltaOnly(t *testing.T) {
	e := newStoreEnv(t)
	e.createInstance("kv-delta-stats")
	e.turn(poke("kv-delta-stats", "poke"), 1, []history.Event{
		kvSet("kv-delta-stats", 100, "dk1", "xxx", 0), kvSet("kv-delta-stats", 101, "dk2", "yyyyyy", 0),
		{EventID: 102, InstanceID: "kv-delta-stats", ExecutionID: 1, Type: history.ActivityScheduled, Name: "Noop", Input: "{}"},
	}, store.ExecutionMetadata{})
	s, err := e.c.InstanceStats(ctxT(t), "kv-delta-stats")
	must(t, err)
	if s.KVUserKeyCount != 2 || s.KVTotalValueBytes != 9 || s.QueuePendingCount != 0 {
		t.Fatalf("stats = %+v, want 2 keys, 9 bytes", s)
	}
}

func TestInstanceStatsKVMerged(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	const id = "kv-merged-stats"
	e.createInstance(id)
	e.turn(poke(id, "poke1"), 1, []history.Event{
		kvSet(id, 100, "mk1", "aaa", 0), kvSet(id, 101, "mk2", "bb", 0),
		{EventID: 102, InstanceID: id, ExecutionID: 1, Type: history.ActivityScheduled, Name: "Noop", Input: "{}"},
	}, store.ExecutionMetadata{})
	s, err := e.c.InstanceStats(ctx, id)
	must(t, err)
	if s.KVUserKeyCount != 2 || s.KVTotalValueBytes != 5 {
		t.Fatalf("delta phase: %+v", s)
	}
	e.turn(poke(id, "poke2"), 1, []history.Event{
		kvSet(id, 200, "mk1", "zzzzz", 1),
		{EventID: 201, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationCompleted, Output: "done"},
	}, store.ExecutionMetadata{Status: "Completed", Output: "done"})
	s, err = e.c.InstanceStats(ctx, id)
	must(t, err)
	if s.KVUserKeyCount != 2 || s.KVTotalValueBytes != 7 || s.QueuePendingCount != 0 {
		t.Fatalf("merged phase: %+v, want 2 keys, 7 bytes", s)
	}
	v, ok, err := e.c.GetValue(ctx, id, "mk1")
	must(t, err)
	if !ok || v != "zzzzz" {
		t.Fatalf("mk1 = %q %v", v, ok)
	}
}

func deleteRegistry(t *testing.T) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Child", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		ctx.SetValue("child", "x")
		return n * 2, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		ctx.SetValue("parent", "y")
		a, err := duroxide.Await[int](ctx.ScheduleSubOrchestration("Child", n))
		if err != nil {
			return 0, err
		}
		b, err := duroxide.Await[int](ctx.ScheduleSubOrchestration("Child", n+1))
		return a + b, err
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Waiter", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		ctx.SetValue("w", "1")
		_, err := duroxide.Await[any](ctx.WaitForEvent("go"))
		return "went", err
	}))
	return reg
}

func TestDeleteInstanceCascades(t *testing.T) {
	rt := startRuntime(t, deleteRegistry(t), duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	must(t, c.StartOrchestration(ctx, "del-parent", "Parent", 1))
	waitDone(t, c, "del-parent", 30*time.Second)
	before, err := c.SystemMetrics(ctx)
	must(t, err)
	tree, err := c.InstanceTree(ctx, "del-parent")
	must(t, err)
	if tree.Size() != 3 || tree.RootID != "del-parent" || tree.IsRootOnly() {
		t.Fatalf("tree %+v", tree)
	}
	if _, err := c.DeleteInstance(ctx, tree.AllIDs[1], false); !errors.Is(err, duroxide.ErrCannotDeleteSubOrchestration) {
		t.Fatalf("delete child: %v", err)
	}
	if _, err := c.DeleteInstance(ctx, "nope", false); !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	res, err := c.DeleteInstance(ctx, "del-parent", false)
	must(t, err)
	if res.InstancesDeleted != 3 || res.ExecutionsDeleted != 3 || res.EventsDeleted < 6 {
		t.Fatalf("result %+v", res)
	}
	for _, id := range tree.AllIDs {
		st, err := c.GetStatus(ctx, id)
		must(t, err)
		if st.State != duroxide.StateNotFound {
			t.Fatalf("%s still %s", id, st.State)
		}
		if _, err := c.InstanceInfo(ctx, id); !errors.Is(err, duroxide.ErrInstanceNotFound) {
			t.Fatalf("info of deleted %s: %v", id, err)
		}
		kv, err := c.GetAllValues(ctx, id)
		must(t, err)
		if len(kv) != 0 {
			t.Fatalf("kv of deleted %s: %v", id, kv)
		}
	}
	after, err := c.SystemMetrics(ctx)
	must(t, err)
	if after.TotalInstances != before.TotalInstances-3 || after.CompletedInstances != before.CompletedInstances-3 ||
		after.TotalEvents != before.TotalEvents-res.EventsDeleted || after.TotalExecutions != before.TotalExecutions-3 {
		t.Fatalf("metrics %+v -> %+v (deleted %+v)", before, after, res)
	}
	ids, err := c.ListAllInstances(ctx, duroxide.ListOptions{})
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("listed after delete: %v", ids)
	}
}

func TestDeleteRunningNeedsForceAndStaysDeleted(t *testing.T) {
	rt := startRuntime(t, deleteRegistry(t), duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	must(t, c.StartOrchestration(ctx, "del-run", "Waiter", nil))
	if _, err := c.WaitForValue(ctx, "del-run", "w"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteInstance(ctx, "del-run", false); !errors.Is(err, duroxide.ErrInstanceStillRunning) {
		t.Fatalf("delete running: %v", err)
	}
	res, err := c.DeleteInstance(ctx, "del-run", true)
	must(t, err)
	if res.InstancesDeleted != 1 {
		t.Fatalf("result %+v", res)
	}
	// A message that arrives afterwards must not bring the instance back.
	must(t, c.RaiseEvent(ctx, "del-run", "go", nil))
	time.Sleep(300 * time.Millisecond)
	st, err := c.GetStatus(ctx, "del-run")
	must(t, err)
	if st.State != duroxide.StateNotFound {
		t.Fatalf("deleted instance came back: %+v", st)
	}
	m, err := c.SystemMetrics(ctx)
	must(t, err)
	if m.TotalInstances != 0 || m.RunningInstances != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestDeleteInstanceBulk(t *testing.T) {
	rt := startRuntime(t, deleteRegistry(t), duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("bulk-%d", i)
		must(t, c.StartOrchestration(ctx, id, "Child", i))
		waitDone(t, c, id, 30*time.Second)
	}
	must(t, c.StartOrchestration(ctx, "bulk-running", "Waiter", nil))
	_, err := c.WaitForValue(ctx, "bulk-running", "w")
	must(t, err)
	res, err := c.DeleteInstanceBulk(ctx, duroxide.InstanceFilter{CompletedBefore: time.Now().Add(-time.Hour)})
	must(t, err)
	if res.InstancesDeleted != 0 {
		t.Fatalf("cutoff in the past deleted %+v", res)
	}
	res, err = c.DeleteInstanceBulk(ctx, duroxide.InstanceFilter{Limit: 2})
	must(t, err)
	if res.InstancesDeleted != 2 {
		t.Fatalf("first batch %+v", res)
	}
	res, err = c.DeleteInstanceBulk(ctx, duroxide.InstanceFilter{InstanceIDs: []string{"bulk-0", "bulk-1", "bulk-2", "bulk-running", "unknown"}})
	must(t, err)
	if res.InstancesDeleted != 1 {
		t.Fatalf("second batch %+v", res)
	}
	ids, err := c.ListAllInstances(ctx, duroxide.ListOptions{})
	must(t, err)
	if len(ids) != 1 || ids[0] != "bulk-running" {
		t.Fatalf("left %v", ids)
	}
}

func TestPruneExecutionsKeepLastAndBulk(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Looper", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		if n < 4 {
			return 0, ctx.ContinueAsNew(n + 1)
		}
		_, err := duroxide.Await[any](ctx.WaitForEvent("stop"))
		return n, err
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	for _, id := range []string{"loop-a", "loop-b"} {
		must(t, c.StartOrchestration(ctx, id, "Looper", 1))
	}
	for _, id := range []string{"loop-a", "loop-b"} {
		for {
			st, err := c.GetStatus(ctx, id)
			must(t, err)
			if st.ExecutionID == 4 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	res, err := c.PruneExecutions(ctx, "loop-a", duroxide.PruneOptions{CompletedBefore: time.Now().Add(-time.Hour)})
	must(t, err)
	if res.ExecutionsDeleted != 0 {
		t.Fatalf("prune with a cutoff in the past: %+v", res)
	}
	if _, err := c.PruneExecutions(ctx, "nope", duroxide.PruneOptions{}); !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("prune missing: %v", err)
	}
	res, err = c.PruneExecutions(ctx, "loop-a", duroxide.PruneOptions{KeepLast: 2})
	must(t, err)
	if res.ExecutionsDeleted != 2 {
		t.Fatalf("prune keep 2: %+v", res)
	}
	execs, err := c.ListExecutions(ctx, "loop-a")
	must(t, err)
	if len(execs) != 2 || execs[0] != 3 || execs[1] != 4 {
		t.Fatalf("left %v", execs)
	}
	bulk, err := c.PruneExecutionsBulk(ctx, duroxide.InstanceFilter{}, duroxide.PruneOptions{})
	must(t, err)
	if bulk.InstancesProcessed != 2 || bulk.ExecutionsDeleted != 4 {
		t.Fatalf("bulk %+v", bulk)
	}
	m, err := c.SystemMetrics(ctx)
	must(t, err)
	if m.TotalExecutions != 2 || m.RunningInstances != 2 {
		t.Fatalf("metrics %+v", m)
	}
	// Still running after the prunes.
	must(t, c.RaiseEvent(ctx, "loop-a", "stop", nil))
	if st := waitDone(t, c, "loop-a", 30*time.Second); st.State != duroxide.StateCompleted {
		t.Fatalf("loop-a %+v", st)
	}
}

// A turn in flight when its instance is force-deleted must not recreate it.
func TestForceDeleteFencesInFlightTurn(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	e.createInstance("fenced")
	must(t, e.st.EnqueueForOrchestrator(ctx, poke("fenced", "p"), 0))
	item, err := e.st.FetchOrchestrationItem(ctx, 30*time.Second, 5*time.Second, nil)
	must(t, err)
	if item == nil {
		t.Fatal("no item")
	}
	res, err := e.c.DeleteInstance(ctx, "fenced", true)
	must(t, err)
	if res.InstancesDeleted != 1 || res.EventsDeleted != 1 {
		t.Fatalf("delete %+v", res)
	}
	err = e.st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{
		{EventID: 2, InstanceID: "fenced", ExecutionID: 1, Type: history.ExternalEvent, Name: "p"}}})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("ack after force delete: %v, want ErrFenced", err)
	}
	if _, err := e.st.InstanceSummary(ctx, "fenced"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("instance recreated: %v", err)
	}
	if _, err := e.c.InstanceInfo(ctx, "fenced"); !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("view recreated: %v", err)
	}
}

func TestListInstancesPaging(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	for i := 0; i < 5; i++ {
		e.createInstance(fmt.Sprintf("page-%d", i))
	}
	var got []string
	cursor, pages := "", 0
	for {
		p, err := e.c.ListInstances(ctx, duroxide.ListOptions{Status: "Running", Limit: 2, Cursor: cursor})
		must(t, err)
		got = append(got, p.InstanceIDs...)
		pages++
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if fmt.Sprint(got) != "[page-0 page-1 page-2 page-3 page-4]" || pages != 3 {
		t.Fatalf("paged %v in %d pages", got, pages)
	}
	if _, err := e.c.ListInstances(ctx, duroxide.ListOptions{Cursor: "x"}); !errors.Is(err, duroxide.ErrInvalidInput) {
		t.Fatalf("bad cursor: %v", err)
	}
	recent, err := e.c.ListAllInstances(ctx, duroxide.ListOptions{CreatedAfter: time.Now().Add(-time.Minute), CreatedBefore: time.Now().Add(time.Minute)})
	must(t, err)
	if len(recent) != 5 {
		t.Fatalf("created in the last minute: %v", recent)
	}
}

// Two runtimes share one projector consumer: the views count every turn once.
func TestProjectionsWithTwoRuntimes(t *testing.T) {
	reg := func() *duroxide.Registry {
		r := duroxide.NewRegistry()
		must(t, duroxide.RegisterActivity(r, "Inc", func(_ *duroxide.ActivityContext, i int) (int, error) { return i + 1, nil }))
		must(t, duroxide.RegisterOrchestration(r, "Steps", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
			for i := 0; i < 3; i++ {
				var err error
				if n, err = duroxide.Await[int](ctx.ScheduleActivity("Inc", n)); err != nil {
					return 0, err
				}
			}
			if n%2 == 0 {
				return 0, errors.New("even")
			}
			return n, nil
		}))
		return r
	}
	rt1 := startRuntime(t, reg(), duroxide.Options{Listen: "127.0.0.1:0", Partitions: 4})
	rt2 := startRuntime(t, reg(), duroxide.Options{NATSURL: rt1.ClientURL(), Partitions: 4})
	ctx := ctxT(t)
	const n = 40
	for i := 0; i < n; i++ {
		c := rt1.Client()
		if i%2 == 1 {
			c = rt2.Client()
		}
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("two-%d", i), "Steps", i))
	}
	var events int64
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("two-%d", i)
		waitDone(t, rt1.Client(), id, 60*time.Second)
		h, err := rt1.Client().ReadHistory(ctx, id, 0)
		must(t, err)
		events += int64(len(h))
	}
	for _, c := range []*duroxide.Client{rt1.Client(), rt2.Client()} {
		m, err := c.SystemMetrics(ctx)
		must(t, err)
		want := duroxide.SystemMetrics{TotalInstances: n, TotalExecutions: n, CompletedInstances: n / 2, FailedInstances: n / 2, TotalEvents: events}
		if *m != want {
			t.Fatalf("metrics %+v, want %+v", *m, want)
		}
		failed, err := c.ListAllInstances(ctx, duroxide.ListOptions{Status: "Failed"})
		must(t, err)
		if len(failed) != n/2 {
			t.Fatalf("failed: %v", failed)
		}
	}
}
