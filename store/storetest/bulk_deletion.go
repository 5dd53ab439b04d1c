package storetest

import (
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/store"
)

// Bulk deletion validations (duroxide's bulk_deletion.rs).

var bulkDeletionTests = []Test{
	{"test_delete_instance_bulk_filter_combinations", TestDeleteInstanceBulkFilterCombinations},
	{"test_delete_instance_bulk_safety_and_limits", TestDeleteInstanceBulkSafetyAndLimits},
	{"test_delete_instance_bulk_completed_before_filter", TestDeleteInstanceBulkCompletedBeforeFilter},
	{"test_delete_instance_bulk_cascades_to_children", TestDeleteInstanceBulkCascadesToChildren},
}

func (h *harness) deleteBulk(f store.InstanceFilter) *store.DeleteResult {
	h.t.Helper()
	r, err := h.mg.DeleteInstanceBulk(h.ctx, f)
	if err != nil {
		h.t.Fatalf("bulk delete %+v: %v", f, err)
	}
	return r
}

// TestDeleteInstanceBulkFilterCombinations: delete by ids, unknown ids delete
// nothing, the empty filter deletes every remaining finished instance.
func TestDeleteInstanceBulkFilterCombinations(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	ids := []string{"bulk-del-filter-0", "bulk-del-filter-1", "bulk-del-filter-2", "bulk-del-filter-3", "bulk-del-filter-4"}
	for _, id := range ids {
		h.createCompleted(id)
	}
	if r := h.deleteBulk(store.InstanceFilter{InstanceIDs: ids[:2]}); r.InstancesDeleted != 2 {
		t.Fatalf("delete by 2 ids: %d instances deleted, want 2", r.InstancesDeleted)
	}
	h.mustBeGone(ids[0], ids[1])
	h.mustExist(ids[2])

	if r := h.deleteBulk(store.InstanceFilter{InstanceIDs: []string{"does-not-exist-1", "does-not-exist-2"}}); r.InstancesDeleted != 0 {
		t.Fatalf("delete by unknown ids: %d instances deleted, want 0", r.InstancesDeleted)
	}
	if r := h.deleteBulk(store.InstanceFilter{}); r.InstancesDeleted < 3 {
		t.Fatalf("delete with the empty filter: %d instances deleted, want at least the 3 remaining", r.InstancesDeleted)
	}
	h.mustBeGone(ids[2:]...)
}

// TestDeleteInstanceBulkSafetyAndLimits: running instances are skipped; the limit
// bounds each call, so repeated calls delete in batches.
func TestDeleteInstanceBulkSafetyAndLimits(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createCompleted("bulk-del-safe-completed-1")
	h.createCompleted("bulk-del-safe-completed-2")
	h.createInstance("bulk-del-safe-running-1")
	h.createInstance("bulk-del-safe-running-2")
	r := h.deleteBulk(store.InstanceFilter{InstanceIDs: []string{"bulk-del-safe-completed-1", "bulk-del-safe-completed-2",
		"bulk-del-safe-running-1", "bulk-del-safe-running-2"}})
	if r.InstancesDeleted != 2 {
		t.Fatalf("%d instances deleted, want only the 2 completed ones", r.InstancesDeleted)
	}
	h.mustExist("bulk-del-safe-running-1", "bulk-del-safe-running-2")

	for _, id := range []string{"bulk-del-batch-0", "bulk-del-batch-1", "bulk-del-batch-2", "bulk-del-batch-3"} {
		h.createCompleted(id)
	}
	for i, want := range []int64{2, 2, 0} {
		if r := h.deleteBulk(store.InstanceFilter{Limit: 2}); r.InstancesDeleted != want {
			t.Fatalf("batch %d with limit 2: %d instances deleted, want %d", i+1, r.InstancesDeleted, want)
		}
	}
}

// TestDeleteInstanceBulkCompletedBeforeFilter: a cutoff before the completions
// deletes nothing; one after them deletes both (combined with ids).
func TestDeleteInstanceBulkCompletedBeforeFilter(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	ids := []string{"bulk-del-time-1", "bulk-del-time-2"}
	before := time.Now().UnixMilli()
	for _, id := range ids {
		h.createCompleted(id)
	}
	// Completion times are at least before (same clock); a cutoff one millisecond
	// after the last completion is after both.
	after := time.Now().UnixMilli() + 1

	if r := h.deleteBulk(store.InstanceFilter{InstanceIDs: ids, CompletedBefore: time.UnixMilli(before)}); r.InstancesDeleted != 0 {
		t.Fatalf("cutoff before the completions: %d instances deleted, want 0", r.InstancesDeleted)
	}
	h.mustExist(ids...)
	if r := h.deleteBulk(store.InstanceFilter{InstanceIDs: ids, CompletedBefore: time.UnixMilli(after)}); r.InstancesDeleted != 2 {
		t.Fatalf("cutoff after the completions: %d instances deleted, want 2", r.InstancesDeleted)
	}
	h.mustBeGone(ids...)
}

// TestDeleteInstanceBulkCascadesToChildren: deleting roots deletes their children:
// one child, three children, none; several roots in one call.
func TestDeleteInstanceBulkCascadesToChildren(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const parent1, child1 = "bulk-del-cascade-parent1", "bulk-del-cascade-child1"
	const parent2, child2a, child2b, child2c = "bulk-del-cascade-parent2", "bulk-del-cascade-child2a", "bulk-del-cascade-child2b", "bulk-del-cascade-child2c"
	const standalone = "bulk-del-cascade-standalone"
	h.createCompleted(parent1)
	h.createChild(child1, parent1)
	h.createCompleted(parent2)
	h.createChild(child2a, parent2)
	h.createChild(child2b, parent2)
	h.createChild(child2c, parent2)
	h.createCompleted(standalone)
	all := []string{parent1, child1, parent2, child2a, child2b, child2c, standalone}
	h.mustExist(all...)

	if r := h.deleteBulk(store.InstanceFilter{InstanceIDs: []string{parent1, parent2, standalone}}); r.InstancesDeleted != 7 {
		t.Fatalf("%d instances deleted, want 7 (3 roots and 4 children)", r.InstancesDeleted)
	}
	h.mustBeGone(all...)
}
