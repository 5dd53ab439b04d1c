package storetest

import (
	"fmt"
	"testing"

	"github.com/duroxide-go/duroxide/store"
)

var poisonMessageTests = []Test{
	{"orchestration_attempt_count_starts_at_one", TestOrchestrationAttemptCountStartsAtOne},
	{"orchestration_attempt_count_increments_on_refetch", TestOrchestrationAttemptCountIncrementsOnRefetch},
	{"worker_attempt_count_starts_at_one", TestWorkerAttemptCountStartsAtOne},
	{"worker_attempt_count_increments_on_lock_expiry", TestWorkerAttemptCountIncrementsOnLockExpiry},
	{"attempt_count_is_per_message", TestAttemptCountIsPerMessage},
	{"abandon_work_item_ignore_attempt_decrements", TestAbandonWorkItemIgnoreAttemptDecrements},
	{"abandon_orchestration_item_ignore_attempt_decrements", TestAbandonOrchestrationItemIgnoreAttemptDecrements},
	{"ignore_attempt_never_goes_negative", TestIgnoreAttemptNeverGoesNegative},
	{"max_attempt_count_across_message_batch", TestMaxAttemptCountAcrossMessageBatch},
}

func (h *harness) wantAttempt(item *store.OrchestrationItem, want int, what string) {
	h.t.Helper()
	if item.AttemptCount != want {
		h.t.Fatalf("%s: attempt count %d, want %d", what, item.AttemptCount, want)
	}
}

// TestOrchestrationAttemptCountStartsAtOne: the first fetch reports attempt 1.
func TestOrchestrationAttemptCountStartsAtOne(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("poison-test-1"))
	item := h.fetch(h.lock)
	h.wantAttempt(item, 1, "first fetch")
	if item.Messages[0].Attempt != 1 {
		t.Fatalf("message attempt %d, want 1", item.Messages[0].Attempt)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})
}

// TestOrchestrationAttemptCountIncrementsOnRefetch: each fetch after an abandon
// counts one more attempt.
func TestOrchestrationAttemptCountIncrementsOnRefetch(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("poison-test-2"))
	item1 := h.fetch(h.lock)
	h.wantAttempt(item1, 1, "first fetch")
	h.abandon(item1.LockToken, 0, false)
	item2 := h.fetch(h.lock)
	h.wantAttempt(item2, 2, "second fetch")
	h.abandon(item2.LockToken, 0, false)
	item3 := h.fetch(h.lock)
	h.wantAttempt(item3, 3, "third fetch")
	h.ack(item3.LockToken, store.Commit{ExecutionID: 1})
}

// TestWorkerAttemptCountStartsAtOne: a work item's first fetch reports attempt 1.
func TestWorkerAttemptCountStartsAtOne(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("poison-test-3", 1, 1, "TestActivity"))
	w := h.fetchWork(h.lock)
	if w.AttemptCount != 1 {
		t.Fatalf("attempt count %d, want 1", w.AttemptCount)
	}
	done := activityDone("poison-test-3", 1, 1, `"done"`)
	h.ackWork(w.LockToken, &done)
	if w.Item.Type != store.ActivityExecute {
		t.Fatalf("fetched %s", w.Item.Type)
	}
}

// TestWorkerAttemptCountIncrementsOnLockExpiry: a work item fetched again after its
// lock expired reports attempt 2.
func TestWorkerAttemptCountIncrementsOnLockExpiry(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("poison-test-4", 1, 1, "TestActivity"))
	w1 := h.fetchWork(h.lock)
	if w1.AttemptCount != 1 {
		t.Fatalf("first fetch: attempt count %d, want 1", w1.AttemptCount)
	}
	sleep(h.lock + h.lock/10)
	w2 := h.fetchWork(h.lock)
	if w2.AttemptCount != 2 {
		t.Fatalf("fetch after the lock expired: attempt count %d, want 2", w2.AttemptCount)
	}
	done := activityDone("poison-test-4", 1, 1, `"done"`)
	h.ackWork(w2.LockToken, &done)
}

// TestAttemptCountIsPerMessage: two work items count their attempts independently.
func TestAttemptCountIsPerMessage(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("poison-test-5a", 1, 1, "Activity1"))
	h.enqueueWork(activity("poison-test-5b", 1, 2, "Activity2"))
	w1 := h.fetchWork(h.lock)
	w2 := h.fetchWork(h.lock)
	if w1.AttemptCount != 1 || w2.AttemptCount != 1 {
		t.Fatalf("attempt counts %d and %d, want 1 and 1", w1.AttemptCount, w2.AttemptCount)
	}
	if w1.Item.ID == w2.Item.ID {
		t.Fatalf("fetched item %d twice", w1.Item.ID)
	}
	d1 := activityDone(w1.Item.Instance, 1, w1.Item.ID, `"done"`)
	d2 := activityDone(w2.Item.Instance, 1, w2.Item.ID, `"done"`)
	h.ackWork(w1.LockToken, &d1)
	h.ackWork(w2.LockToken, &d2)
}

// TestAbandonOrchestrationItemIgnoreAttemptDecrements: an abandon with ignoreAttempt
// takes back the fetch it ends.
func TestAbandonOrchestrationItemIgnoreAttemptDecrements(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("poison-test-ignore-2"))
	item1 := h.fetch(h.lock)
	h.wantAttempt(item1, 1, "first fetch")
	h.abandon(item1.LockToken, 0, false)
	item2 := h.fetch(h.lock)
	h.wantAttempt(item2, 2, "second fetch")
	h.abandon(item2.LockToken, 0, true)
	item3 := h.fetch(h.lock)
	h.wantAttempt(item3, 2, "third fetch (the second was given back)")
	h.ack(item3.LockToken, store.Commit{ExecutionID: 1})
}

// TestMaxAttemptCountAcrossMessageBatch: a batch reports the highest attempt of its
// messages.
func TestMaxAttemptCountAcrossMessageBatch(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("poison-batch-test"))
	item1 := h.fetch(h.lock)
	h.wantAttempt(item1, 1, "first fetch")
	if len(item1.Messages) != 1 {
		t.Fatalf("%d messages, want 1", len(item1.Messages))
	}
	h.abandon(item1.LockToken, 0, false)
	item2 := h.fetch(h.lock)
	h.wantAttempt(item2, 2, "second fetch")
	h.enqueue(activityDone("poison-batch-test", 1, 1, `"activity result"`))
	h.f.Settle(t, h.p)
	h.abandon(item2.LockToken, 0, false)
	item3 := h.fetch(h.lock)
	if len(item3.Messages) != 2 {
		t.Fatalf("%d messages, want the start and the completion", len(item3.Messages))
	}
	h.wantAttempt(item3, 3, "third fetch (start at 3, completion at 1)")
	h.ack(item3.LockToken, store.Commit{ExecutionID: 1})
}

// TestAbandonWorkItemIgnoreAttemptDecrements: a work item abandoned with ignoreAttempt
// does not count that delivery.
func TestAbandonWorkItemIgnoreAttemptDecrements(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("poison-test-ignore-w", 1, 1, "TestActivity"))
	w1 := h.fetchWork(h.lock)
	if w1.AttemptCount != 1 {
		t.Fatalf("first fetch: attempt %d", w1.AttemptCount)
	}
	if err := h.p.AbandonWorkItem(h.ctx, w1.LockToken, 0, false); err != nil {
		t.Fatal(err)
	}
	w2 := h.fetchWork(h.lock)
	if w2.AttemptCount != 2 {
		t.Fatalf("second fetch: attempt %d, want 2", w2.AttemptCount)
	}
	if err := h.p.AbandonWorkItem(h.ctx, w2.LockToken, 0, true); err != nil {
		t.Fatal(err)
	}
	w3 := h.fetchWork(h.lock)
	if w3.AttemptCount != 2 {
		t.Fatalf("third fetch: attempt %d, want 2 (the second delivery was given back)", w3.AttemptCount)
	}
	done := activityDone("poison-test-ignore-w", 1, 1, `"done"`)
	h.ackWork(w3.LockToken, &done)
}

// TestIgnoreAttemptNeverGoesNegative: giving back every delivery leaves the attempt
// count at 1, for orchestrator and worker items alike.
func TestIgnoreAttemptNeverGoesNegative(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("poison-test-negative"))
	for i := 0; i < 3; i++ {
		item := h.fetch(h.lock)
		h.wantAttempt(item, 1, fmt.Sprintf("orchestrator fetch %d", i+1))
		h.abandon(item.LockToken, 0, true)
	}
	h.enqueueWork(activity("poison-test-negative", 1, 1, "TestActivity"))
	for i := 0; i < 3; i++ {
		w := h.fetchWork(h.lock)
		if w.AttemptCount != 1 {
			t.Fatalf("worker fetch %d: attempt %d, want 1", i+1, w.AttemptCount)
		}
		if err := h.p.AbandonWorkItem(h.ctx, w.LockToken, 0, true); err != nil {
			t.Fatal(err)
		}
	}
}
