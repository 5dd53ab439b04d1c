package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Deletion validations (duroxide's deletion.rs): delete, cascade, force and the
// fence against a turn in flight, and the tree primitives.

var deletionTests = []Test{
	{"test_delete_terminal_instances", TestDeleteTerminalInstances},
	{"test_delete_running_rejected_force_succeeds", TestDeleteRunningRejectedForceSucceeds},
	{"test_delete_nonexistent_instance", TestDeleteNonexistentInstance},
	{"test_delete_cleans_queues_and_locks", TestDeleteCleansQueuesAndLocks},
	{"test_cascade_delete_hierarchy", TestCascadeDeleteHierarchy},
	{"test_force_delete_prevents_ack_recreation", TestForceDeletePreventsAckRecreation},
	{"test_list_children", TestListChildren},
	{"test_delete_get_parent_id", TestDeleteGetParentID},
	{"test_delete_get_instance_tree", TestDeleteGetInstanceTree},
	{"test_delete_instances_atomic", TestDeleteInstancesAtomic},
	{"test_delete_instances_atomic_force", TestDeleteInstancesAtomicForce},
	{"test_delete_instances_atomic_orphan_detection", TestDeleteInstancesAtomicOrphanDetection},
	{"test_stale_activity_after_delete_recreate", TestStaleActivityAfterDeleteRecreate},
	{"test_stale_sub_orchestration_result_after_delete_recreate", TestStaleSubOrchestrationResultAfterDeleteRecreate},
	{"test_stale_cancel_after_parent_delete", TestStaleCancelAfterParentDelete},
}

func (h *harness) deleteInstance(instance string, force bool) *store.DeleteResult {
	h.t.Helper()
	r, err := h.mg.DeleteInstance(h.ctx, instance, force)
	if err != nil {
		h.t.Fatalf("delete %q (force %v): %v", instance, force, err)
	}
	return r
}

// createChild creates a completed sub-orchestration of parent (duroxide's
// create_child_instance).
func (h *harness) createChild(instance, parent string) {
	h.t.Helper()
	h.createDone(instance, parent, store.StatusCompleted, "done")
}

func errContains(err error, words ...string) bool {
	msg := strings.ToLower(err.Error())
	for _, w := range words {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

// TestDeleteTerminalInstances: completed, failed and cancelled instances are
// deleted without force, with accurate counts.
func TestDeleteTerminalInstances(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	h.createDone("delete-term-completed", "", store.StatusCompleted, "done")
	h.createDone("delete-term-failed", "", store.StatusFailed, "error: something went wrong")
	h.createDone("delete-term-cancelled", "", store.StatusFailed, "cancelled: user requested cancellation")
	h.mustExist("delete-term-completed", "delete-term-failed", "delete-term-cancelled")

	r := h.deleteInstance("delete-term-completed", false)
	if r.InstancesDeleted < 1 || r.ExecutionsDeleted < 1 || r.EventsDeleted < 1 {
		t.Fatalf("delete result %+v: want at least 1 instance, 1 execution, 1 event", r)
	}
	h.mustBeGone("delete-term-completed")
	for _, id := range []string{"delete-term-failed", "delete-term-cancelled"} {
		if r := h.deleteInstance(id, false); r.InstancesDeleted < 1 {
			t.Fatalf("delete %q: result %+v", id, r)
		}
		h.mustBeGone(id)
	}
}

// TestDeleteRunningRejectedForceSucceeds: a running instance is deleted only with
// force.
func TestDeleteRunningRejectedForceSucceeds(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "delete-running-force"
	h.createInstance(id)
	_, err := h.mg.DeleteInstance(h.ctx, id, false)
	if !errors.Is(err, store.ErrInstanceStillRunning) || !errContains(err, "running") {
		t.Fatalf("delete of a running instance without force: %v; want store.ErrInstanceStillRunning mentioning running", err)
	}
	h.mustExist(id)
	if r := h.deleteInstance(id, true); r.InstancesDeleted < 1 {
		t.Fatalf("force delete result %+v", r)
	}
	h.mustBeGone(id)
}

// TestDeleteNonexistentInstance: deleting a missing instance is a not-found error.
func TestDeleteNonexistentInstance(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	_, err := h.mg.DeleteInstance(h.ctx, "does-not-exist-12345", false)
	if !errors.Is(err, store.ErrNotFound) || !errContains(err, "not found") {
		t.Fatalf("delete of a missing instance: %v; want store.ErrNotFound mentioning not found", err)
	}
}

// TestDeleteCleansQueuesAndLocks: a delete removes the instance's queued work and
// the id can be reused at once by a new instance.
func TestDeleteCleansQueuesAndLocks(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "delete-queues-locks"
	h.enqueue(startItem(id))
	h.enqueueWork(store.WorkItem{Type: store.ActivityExecute, Instance: id, ExecutionID: 1, ID: 1, Name: "TestActivity", Input: "{}"})
	item := h.fetch(30 * time.Second)
	md := testMetadata()
	md.Status = store.StatusCompleted
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(id, 1)}, Metadata: md})

	if r := h.deleteInstance(id, false); r.QueueMessagesDeleted < 1 {
		t.Fatalf("delete result %+v: want at least 1 queue message deleted", r)
	}

	const newName, newInput = "ReusedOrch", `{"reused": true}`
	h.enqueue(store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: newName, Version: "2.0.0", Input: newInput, ExecutionID: 1})
	item = h.fetch(30 * time.Second)
	if item.Instance != id || len(item.Messages) != 1 || item.Messages[0].Item.Name != newName {
		t.Fatalf("fetched %q with %d messages; want the new start of %q (%s)", item.Instance, len(item.Messages), id, newName)
	}
	ev := started(id, 1)
	ev.Name, ev.Version, ev.Input = newName, "2.0.0", newInput
	if err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{ev},
		Metadata: store.ExecutionMetadata{OrchestrationName: newName, OrchestrationVersion: "2.0.0"}}); err != nil {
		t.Fatalf("recreate after delete: %v", err)
	}
	if info := h.info(id); info.Name != newName {
		t.Fatalf("recreated instance is %q, want %q (not stale data)", info.Name, newName)
	}
	h.deleteInstance(id, true)
}

// TestCascadeDeleteHierarchy: sub-orchestrations cannot be deleted directly (even
// with force); deleting the root deletes three levels, with aggregated counts.
func TestCascadeDeleteHierarchy(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const root, child1, child2, grandchild = "cascade-root", "cascade-child1", "cascade-child2", "cascade-grandchild"
	h.createDone(root, "", store.StatusCompleted, "done")
	h.createDone(child1, root, store.StatusCompleted, "done")
	h.createDone(child2, root, store.StatusCompleted, "done")
	h.createDone(grandchild, child1, store.StatusCompleted, "done")
	h.mustExist(root, child1, child2, grandchild)

	_, err := h.mg.DeleteInstance(h.ctx, child1, false)
	if !errors.Is(err, store.ErrCannotDeleteSubOrchestration) || !errContains(err, "sub-orchestration", "root", "parent") {
		t.Fatalf("delete of a sub-orchestration: %v; want store.ErrCannotDeleteSubOrchestration", err)
	}
	if _, err := h.mg.DeleteInstance(h.ctx, child1, true); err == nil {
		t.Fatal("force delete of a sub-orchestration succeeded")
	}
	if _, err := h.mg.DeleteInstance(h.ctx, grandchild, false); err == nil {
		t.Fatal("delete of a nested sub-orchestration succeeded")
	}

	r := h.deleteInstance(root, false)
	if r.InstancesDeleted < 1 || r.ExecutionsDeleted < 4 {
		t.Fatalf("delete result %+v: want the executions of all 4 instances", r)
	}
	h.mustBeGone(root, child1, child2, grandchild)
}

// TestForceDeletePreventsAckRecreation: a turn in flight when its instance is
// force-deleted cannot commit, and the instance is not recreated.
func TestForceDeletePreventsAckRecreation(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "zombie-prevention"
	h.fetchAck(startItem(id), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(id, 1)}, Metadata: testMetadata()})

	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: id, Name: "test-event", Data: "{}"})
	item := h.fetch(30 * time.Second)

	if r := h.deleteInstance(id, true); r.InstancesDeleted < 1 {
		t.Fatalf("force delete result %+v", r)
	}
	ev := event(2, id, 1, history.ExternalEvent)
	ev.Name, ev.Data = "test-event", "{}"
	if err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{ev}}); err == nil {
		t.Fatal("ack of a turn of a force-deleted instance succeeded")
	}
	h.mustBeGone(id)
}

// TestListChildren: direct children only; empty for a leaf and a missing instance.
func TestListChildren(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const root = "list-children-root"
	child1, child2 := root+"::sub::2", root+"::sub::3"
	grandchild := child2 + "::sub::4"
	h.createCompleted(root)
	h.createChild(child1, root)
	h.createChild(child2, root)
	h.createChild(grandchild, child2)

	children := h.children(root)
	if len(children) != 2 || !slices.Contains(children, child1) || !slices.Contains(children, child2) {
		t.Fatalf("children of the root %v, want exactly %q and %q", children, child1, child2)
	}
	if children := h.children(child2); len(children) != 1 || children[0] != grandchild {
		t.Fatalf("children of %q: %v, want [%q]", child2, children, grandchild)
	}
	if children := h.children(grandchild); len(children) != 0 {
		t.Fatalf("children of a leaf: %v", children)
	}
	if children := h.children("non-existent"); len(children) != 0 {
		t.Fatalf("children of a missing instance: %v", children)
	}
	h.deleteInstance(root, true)
}

func (h *harness) children(instance string) []string {
	h.t.Helper()
	c, err := h.mg.ListChildren(h.ctx, instance)
	if err != nil {
		h.t.Fatalf("list children of %q: %v", instance, err)
	}
	return c
}

// TestDeleteGetParentID: none for a root, the parent for a child, an error for a
// missing instance.
func TestDeleteGetParentID(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const root = "parent-id-root"
	child := root + "::sub::2"
	h.createCompleted(root)
	h.createChild(child, root)

	if p, err := h.mg.ParentID(h.ctx, root); err != nil || p != "" {
		t.Fatalf("parent of the root: %q, %v; want none", p, err)
	}
	if p, err := h.mg.ParentID(h.ctx, child); err != nil || p != root {
		t.Fatalf("parent of the child: %q, %v; want %q", p, err, root)
	}
	if _, err := h.mg.ParentID(h.ctx, "non-existent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("parent of a missing instance: %v; want store.ErrNotFound", err)
	}
	h.deleteInstance(root, true)
}

// TestDeleteGetInstanceTree: the tree of the root holds all four instances; a
// leaf's tree is the leaf alone.
func TestDeleteGetInstanceTree(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const root = "tree-root"
	child1, child2 := root+"::sub::2", root+"::sub::3"
	grandchild := child2 + "::sub::4"
	h.createCompleted(root)
	h.createChild(child1, root)
	h.createChild(child2, root)
	h.createChild(grandchild, child2)

	tree, err := h.mg.InstanceTree(h.ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if tree.RootID != root || len(tree.AllIDs) != 4 {
		t.Fatalf("tree %+v: want root %q and 4 instances", tree, root)
	}
	for _, id := range []string{root, child1, child2, grandchild} {
		if !slices.Contains(tree.AllIDs, id) {
			t.Fatalf("tree %v is missing %q", tree.AllIDs, id)
		}
	}
	leaf, err := h.mg.InstanceTree(h.ctx, grandchild)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.AllIDs) != 1 {
		t.Fatalf("tree of a leaf %v, want the leaf alone", leaf.AllIDs)
	}
	h.deleteInstance(root, true)
}

// TestDeleteInstancesAtomic: a list of instances is deleted in one call.
func TestDeleteInstancesAtomic(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	ids := []string{"atomic-del-1", "atomic-del-2", "atomic-del-3"}
	for _, id := range ids {
		h.createCompleted(id)
	}
	h.mustExist(ids...)
	r, err := h.mg.DeleteInstances(h.ctx, ids, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.InstancesDeleted < 1 || r.ExecutionsDeleted < 3 {
		t.Fatalf("delete result %+v: want at least 3 executions", r)
	}
	h.mustBeGone(ids...)
}

// TestDeleteInstancesAtomicForce: a running instance in the list fails the call
// without force (deleting nothing) and is deleted with force.
func TestDeleteInstancesAtomicForce(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const completed, running = "atomic-force-completed", "atomic-force-running"
	h.createCompleted(completed)
	h.createInstance(running)
	ids := []string{completed, running}
	if _, err := h.mg.DeleteInstances(h.ctx, ids, false); !errors.Is(err, store.ErrInstanceStillRunning) {
		t.Fatalf("delete with a running instance, no force: %v; want store.ErrInstanceStillRunning", err)
	}
	h.mustExist(completed, running)
	r, err := h.mg.DeleteInstances(h.ctx, ids, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.InstancesDeleted < 1 {
		t.Fatalf("force delete result %+v", r)
	}
	h.mustBeGone(completed, running)
}

// TestDeleteInstancesAtomicOrphanDetection: deleting a parent without its child
// fails and deletes nothing; with the child it succeeds.
func TestDeleteInstancesAtomicOrphanDetection(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const root = "orphan-detect-root"
	child := root + "::sub::2"
	h.createCompleted(root)
	h.createChild(child, root)
	h.mustExist(root, child)

	_, err := h.mg.DeleteInstances(h.ctx, []string{root}, false)
	if !errors.Is(err, store.ErrWouldOrphan) || !errContains(err, "child", "orphan", "tree") {
		t.Fatalf("delete of a parent without its child: %v; want store.ErrWouldOrphan mentioning child/orphan/tree", err)
	}
	h.mustExist(root, child)
	if _, err := h.mg.DeleteInstances(h.ctx, []string{root, child}, false); err != nil {
		t.Fatalf("delete of the whole tree: %v", err)
	}
	h.mustBeGone(root, child)
}

// TestStaleActivityAfterDeleteRecreate: an activity running on another node when its
// instance is force-deleted cannot complete into an instance recreated under the same
// id: its ack fails, and its completion, should it arrive anyway (an ack that raced
// the delete), is dropped because it carries the deleted incarnation.
func TestStaleActivityAfterDeleteRecreate(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "stale-activity-recreate"
	h.fetchAck(startItem(id), store.Commit{ExecutionID: 1,
		HistoryDelta: []history.Event{started(id, 1), scheduled(2, id, 1, "OldActivity", `"old-input"`)},
		WorkerItems:  []store.WorkItem{{Type: store.ActivityExecute, Instance: id, ExecutionID: 1, ID: 2, Name: "OldActivity", Input: `"old-input"`}},
		Metadata:     testMetadata()})
	node2 := h.f.NewWorker(t, h.p, DefaultOnly(), 30*time.Second)
	old := h.fetchWorkFrom(node2, 30*time.Second)
	if old.Item.Incarnation == "" {
		t.Fatalf("the work item carries no incarnation: %+v", old.Item)
	}

	if r := h.deleteInstance(id, true); r.InstancesDeleted < 1 {
		t.Fatalf("force delete result %+v", r)
	}
	h.mustBeGone(id)

	h.fetchAck(startItem(id), store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(id, 1),
		scheduled(2, id, 1, "NewActivity", `"new-input"`)}, Metadata: testMetadata()})
	if info := h.info(id); info.Name != testOrch {
		t.Fatalf("recreated instance is %q, want %q", info.Name, testOrch)
	}

	stale := activityDone(id, 1, 2, `"stale-result-from-old-instance"`)
	if err := node2.AckWorkItem(h.ctx, old.LockToken, &stale); err == nil {
		t.Fatal("ack, on another node, of a work item of the deleted instance succeeded")
	}
	// The same completion published anyway, as an ack that passed its checks just
	// before the delete would have: it carries the old incarnation.
	raced := stale
	raced.Incarnation = old.Item.Incarnation
	h.enqueue(raced)

	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: id, Name: "probe-event", Data: "{}"})
	item := h.fetch(30 * time.Second)
	for _, m := range item.Messages {
		if m.Item.Type == store.ActivityCompleted {
			t.Fatalf("the recreated instance received the stale completion: %+v", item.Messages)
		}
	}
	if err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1, Metadata: store.ExecutionMetadata{Status: store.StatusCompleted}}); err != nil {
		t.Fatalf("ack of the probe turn: %v", err)
	}
	h.fetchNone(30*time.Second, "the stale completion was dropped, not left queued")
	_, _ = h.mg.DeleteInstance(h.ctx, id, true)
}

// TestStaleSubOrchestrationResultAfterDeleteRecreate (duroxide-go's own): a child's
// start carries its parent's incarnation, the child's result to the parent carries it
// back, and a result of the deleted parent never reaches a parent recreated under
// the same id.
func TestStaleSubOrchestrationResultAfterDeleteRecreate(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const parent, child = "stale-sub-parent", "stale-sub-parent::sub::2"
	subScheduled := history.Event{EventID: 2, InstanceID: parent, ExecutionID: 1,
		Type: history.SubOrchestrationScheduled, Name: testOrch, Instance: child, Input: "{}"}
	h.enqueue(startItem(parent))
	p := h.fetch(30 * time.Second)
	incP := p.Incarnation
	if incP == "" {
		t.Fatal("the fetch of a new instance names no incarnation")
	}
	h.ack(p.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(parent, 1), subScheduled},
		OrchestratorItems: []store.WorkItem{{Type: store.StartOrchestration, Instance: child, Name: testOrch, Input: "{}",
			ParentInstance: parent, ParentExecutionID: 1, ParentID: 2}},
		Metadata: testMetadata()})

	c := h.fetch(30 * time.Second)
	if c.Instance != child || len(c.Messages) != 1 {
		t.Fatalf("fetched %q with %d messages, want the child's start", c.Instance, len(c.Messages))
	}
	if st := c.Messages[0].Item; st.Origin != parent || st.OriginIncarnation != incP {
		t.Fatalf("child start origin %q/%q, want %q/%q", st.Origin, st.OriginIncarnation, parent, incP)
	}
	childStarted := started(child, 1)
	childStarted.ParentInstance, childStarted.ParentExecution, childStarted.ParentID = parent, 1, 2
	result := store.WorkItem{Type: store.SubOrchCompleted, Instance: parent, ExecutionID: 1, ID: 2, Result: `"child-result"`}
	h.ack(c.LockToken, store.Commit{ExecutionID: 1,
		HistoryDelta:      []history.Event{childStarted, event(2, child, 1, history.OrchestrationCompleted)},
		OrchestratorItems: []store.WorkItem{result},
		Metadata:          store.ExecutionMetadata{Status: store.StatusCompleted, OrchestrationName: testOrch, ParentInstanceID: parent}})

	p = h.fetch(30 * time.Second)
	if p.Instance != parent || len(p.Messages) != 1 || p.Messages[0].Item.Type != store.SubOrchCompleted {
		t.Fatalf("fetched %q with %+v, want the child's result for the parent", p.Instance, p.Messages)
	}
	if got := p.Messages[0].Item.Incarnation; got != incP || p.Incarnation != incP {
		t.Fatalf("child result incarnation %q, parent fetched as %q; want both %q", got, p.Incarnation, incP)
	}
	h.abandon(p.LockToken, 0, true)

	if r := h.deleteInstance(parent, true); r.InstancesDeleted < 1 {
		t.Fatalf("force delete result %+v", r)
	}
	h.mustBeGone(parent)
	h.enqueue(startItem(parent))
	p = h.fetch(30 * time.Second)
	if p.Incarnation == "" || p.Incarnation == incP {
		t.Fatalf("the recreated parent has incarnation %q; want a new one (the deleted one was %q)", p.Incarnation, incP)
	}
	h.ack(p.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(parent, 1), subScheduled},
		Metadata: testMetadata()})

	// The deleted parent's child result arrives late (its child finished on a node
	// that dispatched after the delete).
	stale := result
	stale.Incarnation = incP
	h.enqueue(stale)
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: parent, Name: "probe-event", Data: "{}"})
	p = h.fetch(30 * time.Second)
	for _, m := range p.Messages {
		if m.Item.Type == store.SubOrchCompleted {
			t.Fatalf("the recreated parent received the deleted parent's child result: %+v", p.Messages)
		}
	}
	h.abandon(p.LockToken, 0, true)
}

// TestStaleCancelAfterParentDelete (duroxide-go's own): a parent's cancellation of its
// child carries the parent's incarnation; once the parent is deleted, a cancellation
// it sent that arrives late does not cancel an instance created again under the
// child's id.
func TestStaleCancelAfterParentDelete(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const parent, child = "stale-cancel-parent", "stale-cancel-parent::sub::2"
	subScheduled := history.Event{EventID: 2, InstanceID: parent, ExecutionID: 1,
		Type: history.SubOrchestrationScheduled, Name: testOrch, Instance: child, Input: "{}"}
	h.enqueue(startItem(parent))
	p := h.fetch(30 * time.Second)
	incP := p.Incarnation
	h.ack(p.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(parent, 1), subScheduled},
		OrchestratorItems: []store.WorkItem{{Type: store.StartOrchestration, Instance: child, Name: testOrch, Input: "{}",
			ParentInstance: parent, ParentExecutionID: 1, ParentID: 2}},
		Metadata: testMetadata()})
	c := h.fetch(30 * time.Second)
	childStarted := started(child, 1)
	childStarted.ParentInstance, childStarted.ParentExecution, childStarted.ParentID = parent, 1, 2
	h.ack(c.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{childStarted},
		Metadata: store.ExecutionMetadata{OrchestrationName: testOrch, ParentInstanceID: parent}})

	cancel := store.WorkItem{Type: store.CancelInstance, Instance: child, Reason: "parent-cancel"}
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: parent, Name: "Trigger", Data: "{}"})
	p = h.fetch(30 * time.Second)
	h.ack(p.LockToken, store.Commit{ExecutionID: 1, OrchestratorItems: []store.WorkItem{cancel}})
	c = h.fetch(30 * time.Second)
	if c.Instance != child || len(c.Messages) != 1 {
		t.Fatalf("fetched %q with %+v, want the child's cancellation", c.Instance, c.Messages)
	}
	if got := c.Messages[0].Item; got.Type != store.CancelInstance || got.Origin != parent || got.OriginIncarnation != incP {
		t.Fatalf("child received %+v; want a CancelInstance from %q, incarnation %q", got, parent, incP)
	}
	h.abandon(c.LockToken, 0, true)

	if r := h.deleteInstance(parent, true); r.InstancesDeleted < 1 {
		t.Fatalf("force delete result %+v", r)
	}
	h.mustBeGone(parent, child)
	h.createInstance(child) // the id is used again, for an unrelated instance

	stale := cancel
	stale.Origin, stale.OriginIncarnation = parent, incP
	h.enqueue(stale)
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: child, Name: "probe-event", Data: "{}"})
	c = h.fetch(30 * time.Second)
	for _, m := range c.Messages {
		if m.Item.Type == store.CancelInstance {
			t.Fatalf("the recreated instance received the deleted parent's cancellation: %+v", c.Messages)
		}
	}
	h.abandon(c.LockToken, 0, true)
}
