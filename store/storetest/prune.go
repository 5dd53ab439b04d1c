package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/duroxide-go/duroxide/store"
)

// Prune validations (duroxide's prune.rs).

var pruneTests = []Test{
	{"test_prune_options_combinations", TestPruneOptionsCombinations},
	{"test_prune_safety", TestPruneSafety},
	{"test_prune_bulk", TestPruneBulk},
	{"test_prune_bulk_includes_running_instances", TestPruneBulkIncludesRunningInstances},
}

func (h *harness) prune(instance string, opts store.PruneOptions) *store.PruneResult {
	h.t.Helper()
	r, err := h.mg.PruneExecutions(h.ctx, instance, opts)
	if err != nil {
		h.t.Fatalf("prune %q %+v: %v", instance, opts, err)
	}
	return r
}

// TestPruneOptionsCombinations: keep-last keeps the latest executions; empty
// options keep only the current one.
func TestPruneOptionsCombinations(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "prune-options-test"
	h.createMultiExec(id, testOrch, 4, store.StatusCompleted)
	if execs := h.executions(id); len(execs) != 4 {
		t.Fatalf("executions %v, want 4", execs)
	}
	if r := h.prune(id, store.PruneOptions{KeepLast: 2}); r.InstancesProcessed != 1 {
		t.Fatalf("prune result %+v: want 1 instance processed", r)
	}
	execs := h.executions(id)
	if len(execs) != 2 || !(slices.Contains(execs, 3) || slices.Contains(execs, 4)) {
		t.Fatalf("executions after keep-last 2: %v, want 2 of the latest", execs)
	}

	const id2 = "prune-options-empty"
	h.createMultiExec(id2, testOrch, 3, store.StatusCompleted)
	current := h.info(id2).CurrentExecutionID
	h.prune(id2, store.PruneOptions{})
	if execs := h.executions(id2); len(execs) != 1 || execs[0] != current {
		t.Fatalf("executions after empty options: %v, want only the current %d", execs, current)
	}
}

// TestPruneSafety: the current execution is never pruned (keep-last 0 included); a
// missing instance is an error; on a completed instance, keep-last none, 0 and 1
// all prune every other execution.
func TestPruneSafety(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "prune-safety-current"
	h.createMultiExec(id, testOrch, 3, store.StatusCompleted)
	h.prune(id, store.PruneOptions{KeepLast: 0})
	if cur := h.info(id).CurrentExecutionID; cur != 3 {
		t.Fatalf("current execution %d after keep-last 0, want 3", cur)
	}
	if execs := h.executions(id); !slices.Contains(execs, 3) {
		t.Fatalf("executions %v: the current execution 3 was pruned", execs)
	}

	if _, err := h.mg.PruneExecutions(h.ctx, "does-not-exist-prune", store.PruneOptions{KeepLast: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prune of a missing instance: %v; want store.ErrNotFound", err)
	}

	// duroxide's None, Some(0) and Some(1); the Go option has no "unset", so None
	// is the zero PruneOptions and Some(0) an explicit KeepLast 0 (the same value).
	for _, c := range []struct {
		label string
		opts  store.PruneOptions
	}{{"none", store.PruneOptions{}}, {"some0", store.PruneOptions{KeepLast: 0}}, {"some1", store.PruneOptions{KeepLast: 1}}} {
		id := fmt.Sprintf("prune-terminal-%s", c.label)
		h.createMultiExec(id, testOrch, 4, store.StatusCompleted)
		info := h.info(id)
		if info.Status != store.StatusCompleted {
			t.Fatalf("%s: status %q, want Completed", id, info.Status)
		}
		r := h.prune(id, c.opts)
		if execs := h.executions(id); len(execs) != 1 || execs[0] != info.CurrentExecutionID {
			t.Fatalf("keep-last %s: executions %v, want only the current %d", c.label, execs, info.CurrentExecutionID)
		}
		if r.ExecutionsDeleted < 3 {
			t.Fatalf("keep-last %s: %d executions deleted, want 3", c.label, r.ExecutionsDeleted)
		}
	}
}

// TestPruneBulk: a bulk prune by ids prunes the listed instances to one execution
// and leaves the others alone.
func TestPruneBulk(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	for i := range 3 {
		h.createMultiExec(fmt.Sprintf("prune-bulk-%d", i), testOrch, 4, store.StatusCompleted)
	}
	r, err := h.mg.PruneExecutionsBulk(h.ctx, store.InstanceFilter{InstanceIDs: []string{"prune-bulk-0", "prune-bulk-1"}},
		store.PruneOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.InstancesProcessed != 2 || r.ExecutionsDeleted < 4 {
		t.Fatalf("bulk prune result %+v: want 2 instances processed and at least 4 executions deleted", r)
	}
	for _, id := range []string{"prune-bulk-0", "prune-bulk-1"} {
		if execs := h.executions(id); len(execs) != 1 {
			t.Fatalf("%s: executions %v, want 1", id, execs)
		}
	}
	if execs := h.executions("prune-bulk-2"); len(execs) != 4 {
		t.Fatalf("prune-bulk-2 (not listed): executions %v, want all 4", execs)
	}
}

// TestPruneBulkIncludesRunningInstances: a bulk prune prunes the old executions of
// a running continue-as-new chain and keeps the running one.
func TestPruneBulkIncludesRunningInstances(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "prune-running-inst"
	h.createMultiExec(id, "LongRunning", 3, store.StatusRunning)
	if execs := h.executions(id); len(execs) != 3 {
		t.Fatalf("executions %v, want 3", execs)
	}
	if info := h.info(id); info.Status != store.StatusRunning || info.CurrentExecutionID != 3 {
		t.Fatalf("info %+v: want Running in execution 3", info)
	}
	r, err := h.mg.PruneExecutionsBulk(h.ctx, store.InstanceFilter{InstanceIDs: []string{id}}, store.PruneOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.InstancesProcessed != 1 || r.ExecutionsDeleted != 2 {
		t.Fatalf("bulk prune result %+v: want 1 instance processed and 2 executions deleted", r)
	}
	if execs := h.executions(id); len(execs) != 1 || execs[0] != 3 {
		t.Fatalf("executions after prune %v, want [3]", execs)
	}
	if info := h.info(id); info.Status != store.StatusRunning {
		t.Fatalf("status after prune %q, want Running", info.Status)
	}
}
