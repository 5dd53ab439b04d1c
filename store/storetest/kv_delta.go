package storetest

import (
	"maps"
	"testing"

	"github.com/duroxide-go/duroxide/store"
)

// KV delta validations (part of duroxide's kv_store.rs, see kv_store.go): the running
// execution's changes stay out of the fetch snapshot, merge into the client read, and
// fold into the store when the execution ends.

// TestKVDeltaSnapshotExcludesCurrentExecution: a key the running execution set is
// visible to clients but not in the snapshot (the execution replays its own sets).
func TestKVDeltaSnapshotExcludesCurrentExecution(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-ds1")
	h.ackKV("kv-ds1", 1, kvSetEvent(100, "kv-ds1", 1, "counter", "1", 100))
	h.wantKV("kv-ds1", "counter", strp("1"), "client read of the running execution's set")
	item := h.kvFetch("kv-ds1")
	h.wantSnapshot(item, map[string]string{}, "a key of the running execution")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})
}

// TestKVDeltaSnapshotIncludesCompletedExecution: after a continue-as-new, the new
// execution's snapshot holds the ended execution's key.
func TestKVDeltaSnapshotIncludesCompletedExecution(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-ds2")
	h.ackKV("kv-ds2", 1, kvSetEvent(100, "kv-ds2", 1, "counter", "5", 100))
	h.kvContinueAsNew("kv-ds2", 2)
	item := h.kvFetch("kv-ds2")
	if e, ok := item.KV["counter"]; !ok || e.Value != "5" {
		t.Fatalf("snapshot of execution 2: %v, want counter=5 from execution 1", item.KV)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: 2})
}

// TestKVDeltaClientReadsMerged: a client reads the ended execution's store with the
// running execution's changes over it.
func TestKVDeltaClientReadsMerged(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-dm")
	h.ackKV("kv-dm", 1, kvSetEvent(100, "kv-dm", 1, "color", "red", 100), kvSetEvent(101, "kv-dm", 1, "size", "large", 101))
	h.kvCompleteInstance("kv-dm", 1)
	h.ackKV("kv-dm", 2, kvSetEvent(200, "kv-dm", 2, "color", "blue", 200), kvSetEvent(201, "kv-dm", 2, "shape", "circle", 201))
	h.wantKV("kv-dm", "color", strp("blue"), "the running execution's value over the store's")
	h.wantKV("kv-dm", "size", strp("large"), "a store value the running execution did not touch")
	h.wantKV("kv-dm", "shape", strp("circle"), "a key only the running execution set")
	all, err := h.kvReader().GetKVAllValues(h.ctx, "kv-dm")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"color": "blue", "size": "large", "shape": "circle"}; !maps.Equal(all, want) {
		t.Fatalf("all values %v, want %v", all, want)
	}
}

// TestKVDeltaTombstoneOverridesStore: a key the running execution cleared is absent
// although an ended execution set it.
func TestKVDeltaTombstoneOverridesStore(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-dt")
	h.ackKV("kv-dt", 1, kvSetEvent(100, "kv-dt", 1, "temp", "exists", 100))
	h.kvCompleteInstance("kv-dt", 1)
	h.ackKV("kv-dt", 2, kvClearEvent(200, "kv-dt", 2, "temp"))
	h.wantKV("kv-dt", "temp", nil, "cleared by the running execution")
}

// TestKVDeltaClearAllTombstonesStore: a clear-all of the running execution hides
// every key of the store; a key set after it is visible.
func TestKVDeltaClearAllTombstonesStore(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-dca")
	h.ackKV("kv-dca", 1, kvSetEvent(100, "kv-dca", 1, "a", "1", 100), kvSetEvent(101, "kv-dca", 1, "b", "2", 101))
	h.kvCompleteInstance("kv-dca", 1)
	h.ackKV("kv-dca", 2, kvClearAllEvent(200, "kv-dca", 2), kvSetEvent(201, "kv-dca", 2, "c", "3", 201))
	h.wantKV("kv-dca", "a", nil, "cleared by the running execution's clear-all")
	h.wantKV("kv-dca", "b", nil, "cleared by the running execution's clear-all")
	h.wantKV("kv-dca", "c", strp("3"), "set after the clear-all")
	all, err := h.kvReader().GetKVAllValues(h.ctx, "kv-dca")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"c": "3"}; !maps.Equal(all, want) {
		t.Fatalf("all values %v, want %v", all, want)
	}
}

// TestKVDeltaMergedOnCompletion: a completed execution's key stays readable.
func TestKVDeltaMergedOnCompletion(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-dmc")
	h.ackKV("kv-dmc", 1, kvSetEvent(100, "kv-dmc", 1, "result", "42", 100))
	h.kvCompleteInstance("kv-dmc", 1)
	h.wantKV("kv-dmc", "result", strp("42"), "after the completion")
}

// TestKVDeltaMergedOnCAN: the next execution's snapshot holds the ended execution's
// final values (the last of two sets of a key).
func TestKVDeltaMergedOnCAN(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("kv-dmc2")
	h.ackKV("kv-dmc2", 1, kvSetEvent(100, "kv-dmc2", 1, "version", "1", 100), kvSetEvent(101, "kv-dmc2", 1, "progress", "50%", 101))
	h.ackKV("kv-dmc2", 1, kvSetEvent(102, "kv-dmc2", 1, "progress", "100%", 102))
	h.kvContinueAsNew("kv-dmc2", 2)
	item := h.kvFetch("kv-dmc2")
	if e := item.KV["version"]; e.Value != "1" {
		t.Fatalf("snapshot %v: version %q, want 1", item.KV, e.Value)
	}
	if e := item.KV["progress"]; e.Value != "100%" {
		t.Fatalf("snapshot %v: progress %q, want 100%%", item.KV, e.Value)
	}
	if e := item.KV["progress"]; e.LastUpdatedAtMs != 102 {
		t.Fatalf("snapshot %v: progress updated at %d, want 102", item.KV, e.LastUpdatedAtMs)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: 2})
}

// TestKVDeltaDeleteInstanceCascades: a force delete of a running instance removes
// the running execution's changes too.
func TestKVDeltaDeleteInstanceCascades(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-ddel")
	h.ackKV("kv-ddel", 1, kvSetEvent(100, "kv-ddel", 1, "data", "important", 100))
	h.wantKV("kv-ddel", "data", strp("important"), "before the delete")
	h.deleteInstance("kv-ddel", true)
	h.wantKV("kv-ddel", "data", nil, "after the force delete")
}

// TestKVDeltaPruneUntouchedKeySurvives: keys set only by executions 1 and 2 survive
// their pruning, for clients and in execution 3's snapshot.
func TestKVDeltaPruneUntouchedKeySurvives(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createInstance("kv-dprn")
	h.ackKV("kv-dprn", 1, kvSetEvent(100, "kv-dprn", 1, "stale_config", "from_exec_1", 100))
	h.kvContinueAsNew("kv-dprn", 2)
	h.ackKV("kv-dprn", 2, kvSetEvent(200, "kv-dprn", 2, "other", "unrelated", 200))
	h.kvContinueAsNew("kv-dprn", 3)
	h.wantKV("kv-dprn", "stale_config", strp("from_exec_1"), "before the prune")
	h.wantKV("kv-dprn", "other", strp("unrelated"), "before the prune")
	h.prune("kv-dprn", store.PruneOptions{KeepLast: 1})
	h.wantKV("kv-dprn", "stale_config", strp("from_exec_1"), "after executions 1 and 2 were pruned")
	h.wantKV("kv-dprn", "other", strp("unrelated"), "after executions 1 and 2 were pruned")
	item := h.kvFetch("kv-dprn")
	h.wantSnapshot(item, map[string]string{"stale_config": "from_exec_1", "other": "unrelated"}, "execution 3 after the prune")
	h.ack(item.LockToken, store.Commit{ExecutionID: 3})
}
