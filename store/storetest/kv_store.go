package storetest

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// KV store validations (duroxide's kv_store.rs). The tests commit KeyValueSet,
// KeyValueCleared and KeyValuesCleared events in turn deltas and check the store's
// two views of an instance's key-value store: the snapshot a fetch hands out
// (OrchestrationItem.KV: what the instance's ended executions left, never the running
// execution's changes) and the client read ([store.KVReader]: that snapshot merged
// with the running execution's changes, a clear winning over an older value).

var kvStoreTests = []Test{
	{"test_kv_set_and_get", TestKVSetAndGet},
	{"test_kv_overwrite", TestKVOverwrite},
	{"test_kv_clear_single", TestKVClearSingle},
	{"test_kv_clear_all", TestKVClearAll},
	{"test_kv_get_nonexistent", TestKVGetNonexistent},
	{"test_kv_snapshot_in_fetch", TestKVSnapshotInFetch},
	{"test_kv_snapshot_after_clear_single", TestKVSnapshotAfterClearSingle},
	{"test_kv_snapshot_after_clear_all", TestKVSnapshotAfterClearAll},
	{"test_kv_execution_id_tracking", TestKVExecutionIDTracking},
	{"test_kv_cross_execution_overwrite", TestKVCrossExecutionOverwrite},
	{"test_kv_cross_execution_remove_readd", TestKVCrossExecutionRemoveReadd},
	{"test_kv_prune_preserves_overwritten", TestKVPrunePreservesOverwritten},
	{"test_kv_prune_preserves_all_keys", TestKVPrunePreservesAllKeys},
	{"test_kv_instance_isolation", TestKVInstanceIsolation},
	{"test_kv_delete_instance_cascades", TestKVDeleteInstanceCascades},
	{"test_kv_clear_nonexistent_key", TestKVClearNonexistentKey},
	{"test_kv_get_unknown_instance", TestKVGetUnknownInstance},
	{"test_kv_set_after_clear", TestKVSetAfterClear},
	{"test_kv_empty_value", TestKVEmptyValue},
	{"test_kv_large_value", TestKVLargeValue},
	{"test_kv_special_chars_in_key", TestKVSpecialCharsInKey},
	{"test_kv_snapshot_empty", TestKVSnapshotEmpty},
	{"test_kv_snapshot_cross_execution", TestKVSnapshotCrossExecution},
	{"test_kv_prune_current_execution_protected", TestKVPruneCurrentExecutionProtected},
	{"test_kv_delete_instance_with_children", TestKVDeleteInstanceWithChildren},
	{"test_kv_clear_isolation", TestKVClearIsolation},
	{"test_kv_delta_snapshot_excludes_current_execution", TestKVDeltaSnapshotExcludesCurrentExecution},
	{"test_kv_delta_snapshot_includes_completed_execution", TestKVDeltaSnapshotIncludesCompletedExecution},
	{"test_kv_delta_client_reads_merged", TestKVDeltaClientReadsMerged},
	{"test_kv_delta_tombstone_overrides_store", TestKVDeltaTombstoneOverridesStore},
	{"test_kv_delta_clear_all_tombstones_store", TestKVDeltaClearAllTombstonesStore},
	{"test_kv_delta_merged_on_completion", TestKVDeltaMergedOnCompletion},
	{"test_kv_delta_merged_on_can", TestKVDeltaMergedOnCAN},
	{"test_kv_delta_delete_instance_cascades", TestKVDeltaDeleteInstanceCascades},
	{"test_kv_delta_prune_untouched_key_survives", TestKVDeltaPruneUntouchedKeySurvives},
}

// kvReader returns the store's client KV read side (duroxide's get_kv_value, a
// Provider method): a store must implement [store.KVReader] to pass this category.
func (h *harness) kvReader() store.KVReader {
	h.t.Helper()
	r, ok := h.p.(store.KVReader)
	if !ok {
		h.t.Fatalf("%T does not implement store.KVReader (client KV reads)", h.p)
	}
	return r
}

// kvGet is duroxide's get_kv_value: (value, true), or ("", false) for a missing key
// or instance.
func (h *harness) kvGet(instance, key string) (string, bool) {
	h.t.Helper()
	v, ok, err := h.kvReader().GetKVValue(h.ctx, instance, key)
	if err != nil {
		h.t.Fatalf("kv value %q of %q: %v", key, instance, err)
	}
	return v, ok
}

// wantKV asserts a client read of key: want nil means absent.
func (h *harness) wantKV(instance, key string, want *string, why string) {
	h.t.Helper()
	v, ok := h.kvGet(instance, key)
	switch {
	case want == nil && ok:
		h.t.Fatalf("%s: key %q of %q = %q, want absent", why, key, instance, v)
	case want != nil && !ok:
		h.t.Fatalf("%s: key %q of %q absent, want %q", why, key, instance, *want)
	case want != nil && v != *want:
		h.t.Fatalf("%s: key %q of %q = %q, want %q", why, key, instance, v, *want)
	}
}

// ackKV is duroxide's ack_with_delta: poke the instance, fetch it and ack delta for
// execution exec (empty metadata).
func (h *harness) ackKV(instance string, exec uint64, delta ...history.Event) {
	h.t.Helper()
	h.enqueue(poke(instance, "poke"))
	item := h.fetch(30 * time.Second)
	if item.Instance != instance {
		h.t.Fatalf("fetched %q, want %q", item.Instance, instance)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: exec, HistoryDelta: delta})
}

// kvFetch pokes the instance and fetches it (the snapshot is item.KV); the caller
// acks the item.
func (h *harness) kvFetch(instance string) *store.OrchestrationItem {
	h.t.Helper()
	h.enqueue(poke(instance, "poke"))
	item := h.fetch(30 * time.Second)
	if item.Instance != instance {
		h.t.Fatalf("fetched %q, want %q", item.Instance, instance)
	}
	return item
}

// wantSnapshot asserts a fetch's KV snapshot is exactly want.
func (h *harness) wantSnapshot(item *store.OrchestrationItem, want map[string]string, why string) {
	h.t.Helper()
	got := make(map[string]string, len(item.KV))
	for k, e := range item.KV {
		got[k] = e.Value
	}
	if !maps.Equal(got, want) {
		h.t.Fatalf("%s: snapshot of %q = %v, want %v", why, item.Instance, got, want)
	}
}

// kvCompleteInstance is duroxide's complete_instance: a turn that completes
// execution exec (OrchestrationCompleted, status Completed, output "done").
func (h *harness) kvCompleteInstance(instance string, exec uint64) {
	h.t.Helper()
	item := h.kvFetch(instance)
	ev := event(9999, instance, exec, history.OrchestrationCompleted)
	ev.Output = `"done"`
	md := testMetadata()
	md.Status, md.Output = store.StatusCompleted, `"done"`
	h.ack(item.LockToken, store.Commit{ExecutionID: exec, HistoryDelta: []history.Event{ev}, Metadata: md})
}

// kvContinueAsNew is duroxide's continue_as_new helper: a turn ends execution
// newExec-1 as ContinuedAsNew, then a ContinueAsNew message starts execution newExec
// (its turn commits OrchestrationStarted). duroxide's ending turn has an empty delta
// and only the status in the metadata; a turn without history records nothing here,
// so it carries the OrchestrationContinuedAsNew event the runtime writes.
func (h *harness) kvContinueAsNew(instance string, newExec uint64) {
	h.t.Helper()
	prev := newExec - 1
	item := h.kvFetch(instance)
	var last uint64
	if n := len(item.History); n > 0 {
		last = item.History[n-1].EventID
	}
	can := event(last+1, instance, prev, history.OrchestrationContinuedAsNew)
	can.Input = "{}"
	md := testMetadata()
	md.Status = store.StatusContinuedAsNew
	h.ack(item.LockToken, store.Commit{ExecutionID: prev, HistoryDelta: []history.Event{can}, Metadata: md})

	h.enqueue(store.WorkItem{Type: store.ContinueAsNew, Instance: instance, Name: testOrch, Version: "1.0.0", Input: "{}", ExecutionID: newExec})
	item = h.fetch(30 * time.Second)
	if item.Instance != instance {
		h.t.Fatalf("fetched %q, want %q", item.Instance, instance)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: newExec, HistoryDelta: []history.Event{started(instance, newExec)}, Metadata: testMetadata()})
}

func kvSetEvent(id uint64, instance string, exec uint64, key, value string, at int64) history.Event {
	e := event(id, instance, exec, history.KeyValueSet)
	e.Key, e.Value, e.LastUpdatedAtMs = key, value, at
	return e
}

func kvClearEvent(id uint64, instance string, exec uint64, key string) history.Event {
	e := event(id, instance, exec, history.KeyValueCleared)
	e.Key = key
	return e
}

func kvClearAllEvent(id uint64, instance string, exec uint64) history.Event {
	return event(id, instance, exec, history.KeyValuesCleared)
}

// TestKVSetAndGet: a committed KeyValueSet is readable.
func TestKVSetAndGet(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-set")
	h.ackKV("kv-set", 1, kvSetEvent(100, "kv-set", 1, "counter", "42", 0))
	h.wantKV("kv-set", "counter", strp("42"), "after the set")
}

// TestKVOverwrite: a later KeyValueSet of the same key replaces the value.
func TestKVOverwrite(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-over")
	h.ackKV("kv-over", 1, kvSetEvent(100, "kv-over", 1, "status", "old", 0))
	h.wantKV("kv-over", "status", strp("old"), "initial value")
	h.ackKV("kv-over", 1, kvSetEvent(101, "kv-over", 1, "status", "new", 0))
	h.wantKV("kv-over", "status", strp("new"), "after the overwrite")
}

// TestKVClearSingle: KeyValueCleared removes the key.
func TestKVClearSingle(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-clr1")
	h.ackKV("kv-clr1", 1, kvSetEvent(100, "kv-clr1", 1, "remove_me", "x", 0))
	h.wantKV("kv-clr1", "remove_me", strp("x"), "before the clear")
	h.ackKV("kv-clr1", 1, kvClearEvent(101, "kv-clr1", 1, "remove_me"))
	h.wantKV("kv-clr1", "remove_me", nil, "after the clear")
}

// TestKVClearAll: KeyValuesCleared removes every key of the instance.
func TestKVClearAll(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-clra")
	h.ackKV("kv-clra", 1, kvSetEvent(100, "kv-clra", 1, "a", "1", 0), kvSetEvent(101, "kv-clra", 1, "b", "2", 0))
	h.wantKV("kv-clra", "a", strp("1"), "before the clear")
	h.wantKV("kv-clra", "b", strp("2"), "before the clear")
	h.ackKV("kv-clra", 1, kvClearAllEvent(102, "kv-clra", 1))
	h.wantKV("kv-clra", "a", nil, "after clear-all")
	h.wantKV("kv-clra", "b", nil, "after clear-all")
}

// TestKVGetNonexistent: a key never set is absent.
func TestKVGetNonexistent(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-none")
	h.wantKV("kv-none", "nope", nil, "a key never set")
}

// TestKVSnapshotInFetch: after an execution that set keys completes, a fetch hands
// out its keys in the snapshot.
func TestKVSnapshotInFetch(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-fetch")
	h.ackKV("kv-fetch", 1, kvSetEvent(100, "kv-fetch", 1, "x", "10", 0), kvSetEvent(101, "kv-fetch", 1, "y", "20", 0))
	h.kvCompleteInstance("kv-fetch", 1)
	item := h.kvFetch("kv-fetch")
	h.wantSnapshot(item, map[string]string{"x": "10", "y": "20"}, "after the completed execution")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})
}

// TestKVSnapshotAfterClearSingle: a key cleared before the execution completed is not
// in the next snapshot; the other key is.
func TestKVSnapshotAfterClearSingle(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-fclr1")
	h.ackKV("kv-fclr1", 1, kvSetEvent(100, "kv-fclr1", 1, "keep", "yes", 0), kvSetEvent(101, "kv-fclr1", 1, "remove", "bye", 0))
	h.ackKV("kv-fclr1", 1, kvClearEvent(102, "kv-fclr1", 1, "remove"))
	h.kvCompleteInstance("kv-fclr1", 1)
	item := h.kvFetch("kv-fclr1")
	h.wantSnapshot(item, map[string]string{"keep": "yes"}, "after the clear and the completion")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})
}

// TestKVSnapshotAfterClearAll: after sets and a clear-all, the snapshot is empty.
func TestKVSnapshotAfterClearAll(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-fclra")
	h.ackKV("kv-fclra", 1, kvSetEvent(100, "kv-fclra", 1, "a", "1", 0), kvSetEvent(101, "kv-fclra", 1, "b", "2", 0))
	h.ackKV("kv-fclra", 1, kvClearAllEvent(102, "kv-fclra", 1))
	item := h.kvFetch("kv-fclra")
	h.wantSnapshot(item, map[string]string{}, "after clear-all")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})
}

// TestKVExecutionIDTracking: a key set in execution 1 and overwritten in execution 2
// reads execution 2's value, also after execution 1 is pruned.
func TestKVExecutionIDTracking(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-exec")
	h.ackKV("kv-exec", 1, kvSetEvent(100, "kv-exec", 1, "shared", "from_exec_1", 0))
	h.wantKV("kv-exec", "shared", strp("from_exec_1"), "set in execution 1")
	h.kvContinueAsNew("kv-exec", 2)
	h.ackKV("kv-exec", 2, kvSetEvent(200, "kv-exec", 2, "shared", "from_exec_2", 0))
	h.wantKV("kv-exec", "shared", strp("from_exec_2"), "overwritten in execution 2")
	h.prune("kv-exec", store.PruneOptions{KeepLast: 1})
	h.wantKV("kv-exec", "shared", strp("from_exec_2"), "after execution 1 was pruned (execution 2 wrote it last)")
}

// TestKVCrossExecutionOverwrite: execution 2 overwrites a key of execution 1.
func TestKVCrossExecutionOverwrite(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-xexec")
	h.ackKV("kv-xexec", 1, kvSetEvent(100, "kv-xexec", 1, "k", "v1", 0))
	h.wantKV("kv-xexec", "k", strp("v1"), "set in execution 1")
	h.kvContinueAsNew("kv-xexec", 2)
	h.ackKV("kv-xexec", 2, kvSetEvent(200, "kv-xexec", 2, "k", "v2", 0))
	h.wantKV("kv-xexec", "k", strp("v2"), "overwritten in execution 2")
}

// TestKVCrossExecutionRemoveReadd: set in execution 1, cleared in 2, set again in 3.
func TestKVCrossExecutionRemoveReadd(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-xrm")
	h.ackKV("kv-xrm", 1, kvSetEvent(100, "kv-xrm", 1, "cycle", "exec1", 0))
	h.wantKV("kv-xrm", "cycle", strp("exec1"), "set in execution 1")
	h.kvContinueAsNew("kv-xrm", 2)
	h.ackKV("kv-xrm", 2, kvClearEvent(200, "kv-xrm", 2, "cycle"))
	h.wantKV("kv-xrm", "cycle", nil, "cleared in execution 2")
	h.kvContinueAsNew("kv-xrm", 3)
	h.ackKV("kv-xrm", 3, kvSetEvent(300, "kv-xrm", 3, "cycle", "exec3", 0))
	h.wantKV("kv-xrm", "cycle", strp("exec3"), "set again in execution 3")
}

// TestKVPrunePreservesOverwritten: pruning execution 1 keeps a key execution 2
// overwrote, with execution 2's value.
func TestKVPrunePreservesOverwritten(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-prn1")
	h.ackKV("kv-prn1", 1, kvSetEvent(100, "kv-prn1", 1, "survive", "v1", 0))
	h.kvContinueAsNew("kv-prn1", 2)
	h.ackKV("kv-prn1", 2, kvSetEvent(200, "kv-prn1", 2, "survive", "v2", 0))
	h.prune("kv-prn1", store.PruneOptions{KeepLast: 1})
	h.wantKV("kv-prn1", "survive", strp("v2"), "after execution 1 was pruned")
}

// TestKVPrunePreservesAllKeys: the store is instance-scoped: a key only execution 1
// set survives the pruning of execution 1.
func TestKVPrunePreservesAllKeys(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-prn2")
	h.ackKV("kv-prn2", 1, kvSetEvent(100, "kv-prn2", 1, "orphan", "survives", 0))
	h.kvContinueAsNew("kv-prn2", 2)
	h.ackKV("kv-prn2", 2, kvSetEvent(200, "kv-prn2", 2, "keeper", "alive", 0))
	h.wantKV("kv-prn2", "orphan", strp("survives"), "before the prune")
	h.wantKV("kv-prn2", "keeper", strp("alive"), "before the prune")
	h.prune("kv-prn2", store.PruneOptions{KeepLast: 1})
	h.wantKV("kv-prn2", "orphan", strp("survives"), "after the prune (KV outlives executions)")
	h.wantKV("kv-prn2", "keeper", strp("alive"), "after the prune")
}

// TestKVInstanceIsolation: the same key in two instances holds two values.
func TestKVInstanceIsolation(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-iso-a")
	h.createInstance("kv-iso-b")
	h.ackKV("kv-iso-a", 1, kvSetEvent(100, "kv-iso-a", 1, "shared_name", "from_a", 0))
	h.ackKV("kv-iso-b", 1, kvSetEvent(100, "kv-iso-b", 1, "shared_name", "from_b", 0))
	h.wantKV("kv-iso-a", "shared_name", strp("from_a"), "instance a")
	h.wantKV("kv-iso-b", "shared_name", strp("from_b"), "instance b")
}

// TestKVDeleteInstanceCascades: deleting a completed instance removes its store.
func TestKVDeleteInstanceCascades(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-del")
	h.ackKV("kv-del", 1, kvSetEvent(100, "kv-del", 1, "doomed", "bye", 0))
	h.kvCompleteInstance("kv-del", 1)
	h.wantKV("kv-del", "doomed", strp("bye"), "before the delete")
	h.deleteInstance("kv-del", false)
	h.wantKV("kv-del", "doomed", nil, "after the delete")
}

// TestKVClearNonexistentKey: clearing a key never set commits and leaves it absent.
func TestKVClearNonexistentKey(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-clrne")
	h.ackKV("kv-clrne", 1, kvClearEvent(100, "kv-clrne", 1, "never_existed"))
	h.wantKV("kv-clrne", "never_existed", nil, "a cleared key never set")
}

// TestKVGetUnknownInstance: a read of a missing instance is absent, not an error.
func TestKVGetUnknownInstance(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.wantKV("no-such-instance", "key", nil, "a missing instance")
}

// TestKVSetAfterClear: clear-all then a set in one delta leaves only the new key.
func TestKVSetAfterClear(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-sac")
	h.ackKV("kv-sac", 1, kvSetEvent(100, "kv-sac", 1, "old_a", "1", 0), kvSetEvent(101, "kv-sac", 1, "old_b", "2", 0))
	h.ackKV("kv-sac", 1, kvClearAllEvent(102, "kv-sac", 1), kvSetEvent(103, "kv-sac", 1, "new_x", "fresh", 0))
	h.wantKV("kv-sac", "old_a", nil, "cleared before the set")
	h.wantKV("kv-sac", "old_b", nil, "cleared before the set")
	h.wantKV("kv-sac", "new_x", strp("fresh"), "set after the clear")
}

// TestKVEmptyValue: an empty value is a value, not an absent key.
func TestKVEmptyValue(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-empty")
	h.ackKV("kv-empty", 1, kvSetEvent(100, "kv-empty", 1, "blank", "", 0))
	h.wantKV("kv-empty", "blank", strp(""), "an empty value")
}

// TestKVLargeValue: a 16 KiB value (the runtime's limit) round-trips.
func TestKVLargeValue(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-big")
	big := strings.Repeat("x", 16*1024)
	h.ackKV("kv-big", 1, kvSetEvent(100, "kv-big", 1, "payload", big, 0))
	v, ok := h.kvGet("kv-big", "payload")
	if !ok || v != big {
		t.Fatalf("16 KiB value: present %v, %d bytes, want the %d bytes set", ok, len(v), len(big))
	}
}

// TestKVSpecialCharsInKey: keys with spaces, non-ASCII letters, dots, slashes and
// emoji work.
func TestKVSpecialCharsInKey(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-chars")
	keys := []struct{ k, v string }{
		{"key with spaces", "v1"},
		{"日本語キー", "v2"},
		{"dotted.key.name", "v3"},
		{"path/like/key", "v4"},
		{"emoji🎉key", "v5"},
	}
	var delta []history.Event
	for i, kv := range keys {
		delta = append(delta, kvSetEvent(100+uint64(i), "kv-chars", 1, kv.k, kv.v, 0))
	}
	h.ackKV("kv-chars", 1, delta...)
	for _, kv := range keys {
		h.wantKV("kv-chars", kv.k, strp(kv.v), "a key with special characters")
	}
}

// TestKVSnapshotEmpty: an instance without KV gets an empty snapshot.
func TestKVSnapshotEmpty(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-sempty")
	item := h.kvFetch("kv-sempty")
	h.wantSnapshot(item, map[string]string{}, "a fresh instance")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})
}

// TestKVSnapshotCrossExecution: the snapshot holds the key execution 1 set (merged
// at the continue-as-new), not the key the running execution 2 set.
func TestKVSnapshotCrossExecution(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-scross")
	h.ackKV("kv-scross", 1, kvSetEvent(100, "kv-scross", 1, "A", "from_exec1", 0))
	h.kvContinueAsNew("kv-scross", 2)
	h.ackKV("kv-scross", 2, kvSetEvent(200, "kv-scross", 2, "B", "from_exec2", 0))
	item := h.kvFetch("kv-scross")
	h.wantSnapshot(item, map[string]string{"A": "from_exec1"}, "prior executions only")
	h.ack(item.LockToken, store.Commit{ExecutionID: 2})
}

// TestKVPruneCurrentExecutionProtected: pruning a one-execution instance keeps its
// store.
func TestKVPruneCurrentExecutionProtected(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-prncur")
	h.ackKV("kv-prncur", 1, kvSetEvent(100, "kv-prncur", 1, "alive", "yes", 0))
	h.prune("kv-prncur", store.PruneOptions{KeepLast: 1})
	h.wantKV("kv-prncur", "alive", strp("yes"), "after pruning the only execution's instance")
}

// TestKVDeleteInstanceWithChildren: deleting a parent removes its store and its
// child's.
func TestKVDeleteInstanceWithChildren(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-parent")
	h.ackKV("kv-parent", 1, kvSetEvent(100, "kv-parent", 1, "parent_key", "parent_val", 0))

	child := startItem("kv-child")
	child.ParentInstance, child.ParentID = "kv-parent", 1
	ev := started("kv-child", 1)
	ev.ParentInstance, ev.ParentID = "kv-parent", 1
	md := testMetadata()
	md.ParentInstanceID = "kv-parent"
	h.fetchAck(child, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{ev}, Metadata: md})

	h.ackKV("kv-child", 1, kvSetEvent(100, "kv-child", 1, "child_key", "child_val", 0))
	h.kvCompleteInstance("kv-child", 1)
	h.kvCompleteInstance("kv-parent", 1)
	h.wantKV("kv-parent", "parent_key", strp("parent_val"), "before the delete")
	h.wantKV("kv-child", "child_key", strp("child_val"), "before the delete")

	h.deleteInstance("kv-parent", false)
	h.wantKV("kv-parent", "parent_key", nil, "the parent after the delete")
	h.wantKV("kv-child", "child_key", nil, "the child after its parent's delete")
}

// TestKVClearIsolation: clearing one instance's store leaves another's alone.
func TestKVClearIsolation(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-ciso-a")
	h.createInstance("kv-ciso-b")
	h.ackKV("kv-ciso-a", 1, kvSetEvent(100, "kv-ciso-a", 1, "shared", "from_a", 0))
	h.ackKV("kv-ciso-b", 1, kvSetEvent(100, "kv-ciso-b", 1, "shared", "from_b", 0))
	h.ackKV("kv-ciso-a", 1, kvClearAllEvent(101, "kv-ciso-a", 1))
	h.wantKV("kv-ciso-a", "shared", nil, "instance a after its clear-all")
	h.wantKV("kv-ciso-b", "shared", strp("from_b"), "instance b after a's clear-all")
}
