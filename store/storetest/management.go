package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Management validations (duroxide's management.rs) and get_instance_stats
// validations (the seed file's instance-stats cases), run through the store's
// [Management] side.

var managementTests = []Test{
	{"test_list_instances", TestListInstances},
	{"test_list_instances_by_status", TestListInstancesByStatus},
	{"test_list_executions", TestListExecutions},
	{"test_get_instance_info", TestGetInstanceInfo},
	{"test_get_execution_info", TestGetExecutionInfo},
	{"test_get_system_metrics", TestGetSystemMetrics},
	{"test_get_queue_depths", TestGetQueueDepths},
}

var instanceStatsTests = []Test{
	{"test_get_instance_stats_nonexistent", TestGetInstanceStatsNonexistent},
	{"test_get_instance_stats_history", TestGetInstanceStatsHistory},
	{"test_get_instance_stats_kv", TestGetInstanceStatsKV},
	{"test_get_instance_stats_carry_forward", TestGetInstanceStatsCarryForward},
	{"test_get_instance_stats_kv_delta_only", TestGetInstanceStatsKVDeltaOnly},
	{"test_get_instance_stats_kv_merged", TestGetInstanceStatsKVMerged},
}

// newMgmtHarness is newHarness with the store's management side started.
func newMgmtHarness(t *testing.T, f Factory) *harness {
	t.Helper()
	h := newHarness(t, f)
	h.mg = f.Management(t, h.p)
	return h
}

// fetchAck enqueues item, fetches it and acks the given commit.
func (h *harness) fetchAck(item store.WorkItem, c store.Commit) {
	h.t.Helper()
	h.enqueue(item)
	got := h.fetch(30 * time.Second)
	if got.Instance != item.Instance {
		h.t.Fatalf("fetched %q, want %q", got.Instance, item.Instance)
	}
	h.ack(got.LockToken, c)
}

// createDone creates an instance in one turn that starts it and ends it with status
// (Completed or Failed) and output; parent, if set, makes it a sub-orchestration
// (duroxide's create_completed_instance_with_parent).
func (h *harness) createDone(instance, parent, status, output string) {
	h.t.Helper()
	it := startItem(instance)
	ev := started(instance, 1)
	md := testMetadata()
	md.Status, md.Output = status, output
	if parent != "" {
		it.ParentInstance, it.ParentID = parent, 1
		ev.ParentInstance, ev.ParentID = parent, 1
		md.ParentInstanceID = parent
	}
	h.fetchAck(it, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{ev}, Metadata: md})
}

func (h *harness) createCompleted(instance string) {
	h.t.Helper()
	h.createDone(instance, "", store.StatusCompleted, "done")
}

// createMultiExec creates an instance with n executions chained by ContinueAsNew
// messages: executions 1..n-1 end ContinuedAsNew, execution n ends with lastStatus
// (Running leaves it running). Each execution has one event (duroxide's
// create_multi_execution_instance and create_running_multi_execution_instance).
func (h *harness) createMultiExec(instance, name string, n uint64, lastStatus string) {
	h.t.Helper()
	for exec := uint64(1); exec <= n; exec++ {
		status := store.StatusContinuedAsNew
		if exec == n {
			status = lastStatus
		}
		it := startItem(instance)
		it.Name = name
		if exec > 1 {
			it = store.WorkItem{Type: store.ContinueAsNew, Instance: instance, Name: name, Version: "1.0.0", Input: "{}", ExecutionID: exec}
		}
		ev := started(instance, exec)
		ev.Name = name
		md := store.ExecutionMetadata{Status: status, OrchestrationName: name, OrchestrationVersion: "1.0.0"}
		if status == store.StatusRunning {
			md.Status = ""
		}
		h.fetchAck(it, store.Commit{ExecutionID: exec, HistoryDelta: []history.Event{ev}, Metadata: md})
	}
}

func (h *harness) info(instance string) *store.InstanceInfo {
	h.t.Helper()
	info, err := h.mg.InstanceInfo(h.ctx, instance)
	if err != nil {
		h.t.Fatalf("instance info of %q: %v", instance, err)
	}
	return info
}

// exists reports whether the instance's info can be read; any error other than
// store.ErrNotFound fails the test.
func (h *harness) exists(instance string) bool {
	h.t.Helper()
	_, err := h.mg.InstanceInfo(h.ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		h.t.Fatalf("instance info of %q: %v", instance, err)
	}
	return true
}

func (h *harness) mustExist(instances ...string) {
	h.t.Helper()
	for _, id := range instances {
		if !h.exists(id) {
			h.t.Fatalf("instance %q does not exist", id)
		}
	}
}

func (h *harness) mustBeGone(instances ...string) {
	h.t.Helper()
	for _, id := range instances {
		if h.exists(id) {
			h.t.Fatalf("instance %q still exists", id)
		}
	}
}

func (h *harness) executions(instance string) []uint64 {
	h.t.Helper()
	execs, err := h.mg.ListExecutions(h.ctx, instance)
	if err != nil {
		h.t.Fatalf("list executions of %q: %v", instance, err)
	}
	return execs
}

func (h *harness) stats(instance string) *store.InstanceStats {
	h.t.Helper()
	st, err := h.mg.InstanceStats(h.ctx, instance)
	if err != nil {
		h.t.Fatalf("instance stats of %q: %v", instance, err)
	}
	return st
}

// TestListInstances: ListAllInstances returns every created instance.
func TestListInstances(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	ids := []string{"mgmt-inst-0", "mgmt-inst-1", "mgmt-inst-2"}
	for _, id := range ids {
		h.createInstance(id)
	}
	got, err := h.mg.ListAllInstances(h.ctx, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 3 {
		t.Fatalf("listed %v, want at least the 3 created instances", got)
	}
	for _, id := range ids {
		if !slices.Contains(got, id) {
			t.Fatalf("listed %v, missing %q", got, id)
		}
	}
}

// TestListInstancesByStatus: a completed instance is listed under Completed.
func TestListInstancesByStatus(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createDone("mgmt-completed", "", store.StatusCompleted, "done")
	got, err := h.mg.ListAllInstances(h.ctx, store.ListQuery{Status: store.StatusCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "mgmt-completed") {
		t.Fatalf("Completed listing %v does not include mgmt-completed", got)
	}
}

// TestListExecutions: a new instance lists execution 1.
func TestListExecutions(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.fetchAck(startItem("mgmt-multi-exec"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("mgmt-multi-exec", 1)}})
	if execs := h.executions("mgmt-multi-exec"); !slices.Contains(execs, 1) {
		t.Fatalf("executions %v, want 1 listed", execs)
	}
}

// TestGetInstanceInfo: the instance info carries the name and version from the
// metadata and the current execution.
func TestGetInstanceInfo(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	ev := started("mgmt-info", 1)
	ev.Name, ev.Version, ev.Input = "InfoOrch", "2.0.0", `"test"`
	h.fetchAck(startItem("mgmt-info"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{ev},
		Metadata: store.ExecutionMetadata{OrchestrationName: "InfoOrch", OrchestrationVersion: "2.0.0"}})
	info := h.info("mgmt-info")
	if info.InstanceID != "mgmt-info" || info.Name != "InfoOrch" || info.Version != "2.0.0" || info.CurrentExecutionID != 1 {
		t.Fatalf("info %+v, want mgmt-info InfoOrch 2.0.0 execution 1", info)
	}
}

// TestGetExecutionInfo: the execution info carries the status and output of the
// metadata.
func TestGetExecutionInfo(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.fetchAck(startItem("mgmt-exec-info"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("mgmt-exec-info", 1)},
		Metadata: store.ExecutionMetadata{Status: store.StatusCompleted, Output: "result"}})
	info, err := h.mg.ExecutionInfo(h.ctx, "mgmt-exec-info", 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.ExecutionID != 1 || info.Status != store.StatusCompleted || info.Output != "result" {
		t.Fatalf("execution info %+v, want execution 1 Completed with output \"result\"", info)
	}
}

// TestGetSystemMetrics: a new instance raises the instance total; events are
// counted.
func TestGetSystemMetrics(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	base, err := h.mg.SystemMetrics(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.fetchAck(startItem("mgmt-metrics"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("mgmt-metrics", 1)},
		Metadata: testMetadata()})
	m, err := h.mg.SystemMetrics(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.TotalInstances <= base.TotalInstances {
		t.Fatalf("total instances %d, want more than the baseline %d", m.TotalInstances, base.TotalInstances)
	}
	if m.TotalEvents <= 0 {
		t.Fatalf("total events %d, want > 0", m.TotalEvents)
	}
}

// TestGetQueueDepths: an enqueued message raises the orchestrator queue depth.
func TestGetQueueDepths(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	base, err := h.mg.QueueDepths(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.enqueue(startItem("mgmt-queue"))
	d, err := h.mg.QueueDepths(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.OrchestratorQueue <= base.OrchestratorQueue {
		t.Fatalf("orchestrator queue %d, want more than the baseline %d", d.OrchestratorQueue, base.OrchestratorQueue)
	}
}

// TestGetInstanceStatsNonexistent: a missing instance has no stats.
func TestGetInstanceStatsNonexistent(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	if st, err := h.mg.InstanceStats(h.ctx, "no-such-instance"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stats of a missing instance: %+v, %v; want store.ErrNotFound", st, err)
	}
}

// TestGetInstanceStatsHistory: history counts and sizes of a one-event instance.
func TestGetInstanceStatsHistory(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("stats-hist")
	st := h.stats("stats-hist")
	if st.HistoryEventCount < 1 || st.HistorySizeBytes <= 0 {
		t.Fatalf("stats %+v: want at least 1 event and a non-zero size", st)
	}
	if st.KVUserKeyCount != 0 || st.KVTotalValueBytes != 0 || st.QueuePendingCount != 0 {
		t.Fatalf("stats %+v: want no KV keys, no KV bytes, no carry-forward", st)
	}
}

func kvSet(id uint64, instance, key, value string, at int64) history.Event {
	e := event(id, instance, 1, history.KeyValueSet)
	e.Key, e.Value, e.LastUpdatedAtMs = key, value, at
	return e
}

func completedEvent(id uint64, instance, output string) history.Event {
	e := event(id, instance, 1, history.OrchestrationCompleted)
	e.Output = output
	return e
}

func poke(instance, name string) store.WorkItem {
	return store.WorkItem{Type: store.ExternalRaised, Instance: instance, Name: name, Data: "{}"}
}

var completedDone = store.ExecutionMetadata{Status: store.StatusCompleted, Output: "done"}

// TestGetInstanceStatsKV: KV keys set in a turn that completes the instance (so
// the delta is merged into the store) are counted with their value sizes.
func TestGetInstanceStatsKV(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("stats-kv")
	h.fetchAck(poke("stats-kv", "poke"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{
		kvSet(100, "stats-kv", "k1", "aaa", 0),
		kvSet(101, "stats-kv", "k2", "bbbbb", 0),
		completedEvent(102, "stats-kv", "done"),
	}, Metadata: completedDone})
	st := h.stats("stats-kv")
	if st.KVUserKeyCount != 2 || st.KVTotalValueBytes != 8 {
		t.Fatalf("stats %+v: want 2 KV keys and 3 + 5 = 8 bytes", st)
	}
}

// TestGetInstanceStatsCarryForward: the current execution's carried-forward
// messages are the pending queue count.
func TestGetInstanceStatsCarryForward(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	ev := started("cf-stats", 1)
	ev.CarryForward = []history.QueuedMessage{
		{Name: "raised-1", Data: `{"data":"a"}`},
		{Name: "raised-2", Data: `{"data":"b"}`},
		{Name: "raised-3", Data: `{"data":"c"}`},
	}
	h.fetchAck(startItem("cf-stats"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{ev}, Metadata: testMetadata()})
	st := h.stats("cf-stats")
	if st.QueuePendingCount != 3 {
		t.Fatalf("stats %+v: want 3 carry-forward messages", st)
	}
	if st.HistoryEventCount < 1 || st.HistorySizeBytes <= 0 || st.KVUserKeyCount != 0 {
		t.Fatalf("stats %+v: want at least 1 event, a non-zero size, no KV keys", st)
	}
}

// TestGetInstanceStatsKVDeltaOnly: KV keys set by a running execution (not yet
// merged into the store) are counted.
func TestGetInstanceStatsKVDeltaOnly(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-delta-stats")
	h.fetchAck(poke("kv-delta-stats", "poke"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{
		kvSet(100, "kv-delta-stats", "dk1", "xxx", 0),
		kvSet(101, "kv-delta-stats", "dk2", "yyyyyy", 0),
		scheduled(102, "kv-delta-stats", 1, "Noop", "{}"),
	}})
	st := h.stats("kv-delta-stats")
	if st.KVUserKeyCount != 2 || st.KVTotalValueBytes != 9 || st.QueuePendingCount != 0 {
		t.Fatalf("stats %+v: want 2 delta-only keys, 3 + 6 = 9 bytes, no carry-forward", st)
	}
}

// TestGetInstanceStatsKVMerged: keys set while running, one overwritten in the
// completing turn, count once each after the merge, with the new value's size.
func TestGetInstanceStatsKVMerged(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "kv-merged-stats"
	h.createInstance(id)
	h.fetchAck(poke(id, "poke1"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{
		kvSet(100, id, "mk1", "aaa", 0),
		kvSet(101, id, "mk2", "bb", 0),
		scheduled(102, id, 1, "Noop", "{}"),
	}})
	if st := h.stats(id); st.KVUserKeyCount != 2 || st.KVTotalValueBytes != 5 {
		t.Fatalf("delta phase: stats %+v, want 2 keys and 3 + 2 = 5 bytes", st)
	}
	h.fetchAck(poke(id, "poke2"), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{
		kvSet(200, id, "mk1", "zzzzz", 1),
		completedEvent(201, id, "done"),
	}, Metadata: completedDone})
	st := h.stats(id)
	if st.KVUserKeyCount != 2 || st.KVTotalValueBytes != 7 || st.QueuePendingCount != 0 {
		t.Fatalf("merged: stats %+v, want 2 keys (overwrite, not duplicate), 5 + 2 = 7 bytes, no carry-forward", st)
	}
}
