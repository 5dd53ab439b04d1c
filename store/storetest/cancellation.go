package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// cancellationTests keep duroxide's names, which come from the time fetch and renew
// reported the orchestration's state; they now assert that fetch and renew do not
// depend on it, and cover cancellation by removing work items ("lock stealing").
var cancellationTests = []Test{
	{"test_fetch_returns_running_state_for_active_orchestration", TestFetchReturnsRunningStateForActiveOrchestration},
	{"test_fetch_returns_terminal_state_when_orchestration_completed", TestFetchReturnsTerminalStateWhenOrchestrationCompleted},
	{"test_fetch_returns_terminal_state_when_orchestration_failed", TestFetchReturnsTerminalStateWhenOrchestrationFailed},
	{"test_fetch_returns_terminal_state_when_orchestration_continued_as_new", TestFetchReturnsTerminalStateWhenOrchestrationContinuedAsNew},
	{"test_fetch_returns_missing_state_when_instance_deleted", TestFetchReturnsMissingStateWhenInstanceDeleted},
	{"test_renew_returns_running_when_orchestration_active", TestRenewReturnsRunningWhenOrchestrationActive},
	{"test_renew_returns_terminal_when_orchestration_completed", TestRenewReturnsTerminalWhenOrchestrationCompleted},
	{"test_renew_returns_missing_when_instance_deleted", TestRenewReturnsMissingWhenInstanceDeleted},
	{"test_ack_work_item_none_deletes_without_enqueue", TestAckWorkItemNoneDeletesWithoutEnqueue},
	{"test_cancelled_activities_deleted_from_worker_queue", TestCancelledActivitiesDeletedFromWorkerQueue},
	{"test_ack_work_item_fails_when_entry_deleted", TestAckWorkItemFailsWhenEntryDeleted},
	{"test_renew_fails_when_entry_deleted", TestRenewFailsWhenEntryDeleted},
	{"test_cancelling_nonexistent_activities_is_idempotent", TestCancellingNonexistentActivitiesIsIdempotent},
	{"test_batch_cancellation_deletes_multiple_activities", TestBatchCancellationDeletesMultipleActivities},
	{"test_same_activity_in_worker_items_and_cancelled_is_noop", TestSameActivityInWorkerItemsAndCancelledIsNoop},
	{"test_orphan_activity_after_instance_force_deletion", TestOrphanActivityAfterInstanceForceDeletion},
}

func cancelActivity(instance string, id uint64) store.WorkItem {
	return store.WorkItem{Type: store.ActivityExecute, Instance: instance, ExecutionID: 1, ID: id,
		Name: fmt.Sprintf("Activity%d", id), Input: "{}"}
}

func scheduledRef(instance string, id uint64) store.ScheduledActivity {
	return store.ScheduledActivity{Instance: instance, ExecutionID: 1, ID: id}
}

// startWith starts the instance in one turn that also commits extra events,
// worker items and cancellations, with the given status.
func (h *harness) startWith(instance, status string, extra []history.Event, work []store.WorkItem, cancelled []store.ScheduledActivity) {
	h.t.Helper()
	h.enqueue(startItem(instance))
	item := h.fetch(30 * time.Second)
	if item.Instance != instance {
		h.t.Fatalf("start %q: fetched %q", instance, item.Instance)
	}
	md := store.ExecutionMetadata{OrchestrationName: testOrch, OrchestrationVersion: "1.0.0", Status: status}
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: append([]history.Event{started(instance, 1)}, extra...),
		WorkerItems: work, Metadata: md, CancelledActivities: cancelled})
}

// nextTurn triggers another turn of the instance (an external event) and commits c.
func (h *harness) nextTurn(instance string, c store.Commit) {
	h.t.Helper()
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: instance, Name: "Trigger", Data: "{}"})
	item := h.fetch(30 * time.Second)
	if item.Instance != instance {
		h.t.Fatalf("turn of %q: fetched %q", instance, item.Instance)
	}
	h.ack(item.LockToken, c)
}

// TestFetchReturnsRunningStateForActiveOrchestration: an activity of a running
// orchestration is fetchable.
func TestFetchReturnsRunningStateForActiveOrchestration(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.startWith("inst-running", store.StatusRunning, nil, []store.WorkItem{cancelActivity("inst-running", 1)}, nil)
	h.fetchWork(30 * time.Second)
}

// TestFetchReturnsTerminalStateWhenOrchestrationCompleted: an activity stays
// fetchable after its orchestration completed (the store does not filter by status).
func TestFetchReturnsTerminalStateWhenOrchestrationCompleted(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-completed"
	h.startWith(inst, store.StatusCompleted, []history.Event{completedEvent(2, inst, `"done"`)},
		[]store.WorkItem{cancelActivity(inst, 1)}, nil)
	h.fetchWork(30 * time.Second)
}

// TestFetchReturnsTerminalStateWhenOrchestrationFailed: an activity stays fetchable
// after its orchestration failed.
func TestFetchReturnsTerminalStateWhenOrchestrationFailed(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-failed"
	failed := event(2, inst, 1, history.OrchestrationFailed)
	failed.Details = &history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed, Message: "boom"}
	h.startWith(inst, store.StatusFailed, []history.Event{failed}, []store.WorkItem{cancelActivity(inst, 1)}, nil)
	h.fetchWork(30 * time.Second)
}

// TestFetchReturnsTerminalStateWhenOrchestrationContinuedAsNew: an activity stays
// fetchable after its execution continued as new.
func TestFetchReturnsTerminalStateWhenOrchestrationContinuedAsNew(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-can"
	can := event(2, inst, 1, history.OrchestrationContinuedAsNew)
	can.Input = `"new-input"`
	h.startWith(inst, store.StatusContinuedAsNew, []history.Event{can}, []store.WorkItem{cancelActivity(inst, 1)}, nil)
	h.fetchWork(30 * time.Second)
}

// TestFetchReturnsMissingStateWhenInstanceDeleted: an activity of an instance that
// does not exist is fetchable.
func TestFetchReturnsMissingStateWhenInstanceDeleted(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(cancelActivity("inst-missing", 1))
	h.fetchWork(30 * time.Second)
}

// TestRenewReturnsRunningWhenOrchestrationActive: renewing the lock of a running
// orchestration's activity succeeds.
func TestRenewReturnsRunningWhenOrchestrationActive(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.startWith("inst-renew-run", store.StatusRunning, nil, []store.WorkItem{cancelActivity("inst-renew-run", 1)}, nil)
	w := h.fetchWork(30 * time.Second)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, 30*time.Second); err != nil {
		t.Fatalf("renew: %v", err)
	}
}

// TestRenewReturnsTerminalWhenOrchestrationCompleted: renewing an activity's lock
// still succeeds after its orchestration completed.
func TestRenewReturnsTerminalWhenOrchestrationCompleted(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-renew-term"
	h.startWith(inst, store.StatusRunning, nil, []store.WorkItem{cancelActivity(inst, 1)}, nil)
	w := h.fetchWork(30 * time.Second)
	h.nextTurn(inst, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{completedEvent(2, inst, `"done"`)},
		Metadata: store.ExecutionMetadata{Status: store.StatusCompleted, Output: `"done"`}})
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, 30*time.Second); err != nil {
		t.Fatalf("renew after the orchestration completed: %v", err)
	}
}

// TestRenewReturnsMissingWhenInstanceDeleted: renewing the lock of an activity whose
// instance does not exist succeeds.
func TestRenewReturnsMissingWhenInstanceDeleted(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(cancelActivity("inst-renew-missing", 1))
	w := h.fetchWork(30 * time.Second)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, 30*time.Second); err != nil {
		t.Fatalf("renew: %v", err)
	}
}

// TestAckWorkItemNoneDeletesWithoutEnqueue: acking without a completion removes the
// item and enqueues nothing.
func TestAckWorkItemNoneDeletesWithoutEnqueue(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(cancelActivity("inst-ack-none", 1))
	w := h.fetchWork(30 * time.Second)
	h.ackWork(w.LockToken, nil)
	h.fetchNoWork(100*time.Millisecond, "the acked item is gone")
	h.fetchNone(100*time.Millisecond, "no completion was enqueued")
}

// TestCancelledActivitiesDeletedFromWorkerQueue: the activities an orchestration
// ack cancels are removed from the worker queue, the others stay.
func TestCancelledActivitiesDeletedFromWorkerQueue(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-cancel-delete"
	h.startWith(inst, store.StatusRunning, nil,
		[]store.WorkItem{cancelActivity(inst, 1), cancelActivity(inst, 2), cancelActivity(inst, 3)}, nil)
	w := h.fetchWork(30 * time.Second)
	if err := h.p.AbandonWorkItem(h.ctx, w.LockToken, 0, false); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	h.nextTurn(inst, store.Commit{ExecutionID: 1,
		CancelledActivities: []store.ScheduledActivity{scheduledRef(inst, 1), scheduledRef(inst, 2)}})
	w = h.fetchWork(30 * time.Second)
	if w.Item.ID != 3 {
		t.Fatalf("fetched activity %d; only activity 3 should remain", w.Item.ID)
	}
	h.fetchNoWork(100*time.Millisecond, "activities 1 and 2 were cancelled, 3 is locked")
}

// TestAckWorkItemFailsWhenEntryDeleted: acking a work item whose entry is gone fails
// with a permanent error (ErrLockLost); no completion is enqueued.
func TestAckWorkItemFailsWhenEntryDeleted(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-ack-stolen"
	h.enqueueWork(cancelActivity(inst, 1))
	w := h.fetchWork(30 * time.Second)
	h.ackWork(w.LockToken, nil)
	done := activityDone(inst, 1, 1, `"done"`)
	if err := h.p.AckWorkItem(h.ctx, w.LockToken, &done); !isLockLost(err) {
		t.Fatalf("ack of a deleted entry: %v; want ErrLockLost", err)
	}

	// The same through an orchestration turn that cancels the running activity, with
	// the activity running on another node (another store on the same queues).
	const inst2 = "inst-ack-stolen-by-cancel"
	h.startWith(inst2, store.StatusRunning, nil, []store.WorkItem{cancelActivity(inst2, 1)}, nil)
	node2 := h.f.NewWorker(t, h.p, DefaultOnly(), 30*time.Second)
	w = h.fetchWorkFrom(node2, 30*time.Second)
	h.nextTurn(inst2, store.Commit{ExecutionID: 1, CancelledActivities: []store.ScheduledActivity{scheduledRef(inst2, 1)}})
	done = activityDone(inst2, 1, 1, `"done"`)
	if err := node2.AckWorkItem(h.ctx, w.LockToken, &done); !isLockLost(err) {
		t.Fatalf("ack, on another node, of a cancelled activity: %v; want ErrLockLost", err)
	}
	h.fetchNone(30*time.Second, "the cancelled activity's completion was not enqueued")
}

// TestRenewFailsWhenEntryDeleted: renewing the lock of a work item whose entry is
// gone fails (the worker's cancellation signal).
func TestRenewFailsWhenEntryDeleted(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(cancelActivity("inst-renew-stolen", 1))
	w := h.fetchWork(30 * time.Second)
	h.ackWork(w.LockToken, nil)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, 30*time.Second); !isLockLost(err) {
		t.Fatalf("renew of a deleted entry: %v; want ErrLockLost", err)
	}

	// Cancelled by a turn while it runs on another node (another store).
	const inst2 = "inst-renew-stolen-by-cancel"
	h.startWith(inst2, store.StatusRunning, nil, []store.WorkItem{cancelActivity(inst2, 1)}, nil)
	node2 := h.f.NewWorker(t, h.p, DefaultOnly(), 30*time.Second)
	w = h.fetchWorkFrom(node2, 30*time.Second)
	if err := node2.RenewWorkItemLock(h.ctx, w.LockToken, 30*time.Second); err != nil {
		t.Fatalf("renew of a running activity: %v", err)
	}
	h.nextTurn(inst2, store.Commit{ExecutionID: 1, CancelledActivities: []store.ScheduledActivity{scheduledRef(inst2, 1)}})
	if err := node2.RenewWorkItemLock(h.ctx, w.LockToken, 30*time.Second); !isLockLost(err) {
		t.Fatalf("renew, on another node, of a cancelled activity: %v; want ErrLockLost", err)
	}
}

// TestCancellingNonexistentActivitiesIsIdempotent: cancelling activities that have
// no work item is not an error.
func TestCancellingNonexistentActivitiesIsIdempotent(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-cancel-idempotent"
	h.startWith(inst, "", nil, nil, []store.ScheduledActivity{scheduledRef(inst, 999), scheduledRef(inst, 1)})
	if got := h.history(inst, 1); len(got) != 1 {
		t.Fatalf("history has %d events; want the OrchestrationStarted", len(got))
	}
}

// TestBatchCancellationDeletesMultipleActivities: one ack cancels many activities.
func TestBatchCancellationDeletesMultipleActivities(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-batch-cancel"
	var work []store.WorkItem
	var refs []store.ScheduledActivity
	for i := uint64(1); i <= 5; i++ {
		work = append(work, cancelActivity(inst, i))
		refs = append(refs, scheduledRef(inst, i))
	}
	h.startWith(inst, store.StatusRunning, nil, work, nil)
	h.nextTurn(inst, store.Commit{ExecutionID: 1, CancelledActivities: refs})
	h.fetchNoWork(100*time.Millisecond, "all 5 activities were cancelled")
}

// TestSameActivityInWorkerItemsAndCancelledIsNoop: an activity scheduled and
// cancelled in the same ack is not left in the worker queue (insert before delete).
func TestSameActivityInWorkerItemsAndCancelledIsNoop(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "inst-schedule-then-cancel"
	dropped := cancelActivity(inst, 2)
	dropped.Name = "DroppedActivity"
	normal := cancelActivity(inst, 3)
	normal.Name = "NormalActivity"
	h.startWith(inst, store.StatusRunning, nil, []store.WorkItem{dropped, normal},
		[]store.ScheduledActivity{scheduledRef(inst, 2)})
	w := h.fetchWork(30 * time.Second)
	if w.Item.ID != 3 || w.Item.Name != "NormalActivity" {
		t.Fatalf("fetched activity %d %s; only NormalActivity (3) should be queued", w.Item.ID, w.Item.Name)
	}
	h.ackWork(w.LockToken, nil)
	h.fetchNoWork(100*time.Millisecond, "the scheduled-then-cancelled activity is not queued")
}

// TestOrphanActivityAfterInstanceForceDeletion: after a forced delete, an activity of
// the instance may or may not still be fetched; if it is, completing it is harmless.
func TestOrphanActivityAfterInstanceForceDeletion(t *testing.T, f Factory) {
	h := newHarness(t, f)
	mg := f.Management(t, h.p)
	const inst = "inst-orphan-activity"
	act := cancelActivity(inst, 1)
	act.Name, act.Input = "TestActivity", `"test-input"`
	h.startWith(inst, store.StatusRunning, nil, []store.WorkItem{act}, nil)
	res, err := mg.DeleteInstance(h.ctx, inst, true)
	if err != nil {
		t.Fatalf("force delete: %v", err)
	}
	if res.InstancesDeleted == 0 {
		t.Fatalf("force delete removed no instance")
	}
	if _, err := mg.InstanceInfo(h.ctx, inst); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("instance info after delete: %v; want ErrNotFound", err)
	}
	w, err := h.p.FetchWorkItem(h.ctx, 5*time.Second, noWorkWindow)
	if err != nil {
		t.Fatalf("fetch work item: %v", err)
	}
	if w != nil {
		done := activityDone(inst, 1, 1, `"orphan-result"`)
		h.ackWork(w.LockToken, &done)
	}
	if _, err := h.p.InstanceSummary(h.ctx, inst); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("summary after the orphan completion: %v; want ErrNotFound", err)
	}
}
