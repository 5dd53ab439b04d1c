package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

var queueSemanticsTests = []Test{
	{"test_worker_queue_fifo_ordering", TestWorkerQueueFIFOOrdering},
	{"test_worker_peek_lock_semantics", TestWorkerPeekLockSemantics},
	{"test_worker_ack_atomicity", TestWorkerAckAtomicity},
	{"test_timer_delayed_visibility", TestTimerDelayedVisibility},
	{"test_lost_lock_token_handling", TestLostLockTokenHandling},
	{"test_worker_item_immediate_visibility", TestWorkerItemImmediateVisibility},
	{"test_worker_delayed_visibility_skips_future_items", TestWorkerDelayedVisibilitySkipsFutureItems},
	{"test_orphan_queue_messages_dropped", TestOrphanQueueMessagesDropped},
}

// TestWorkerQueueFIFOOrdering: work items come out in the order they went in.
func TestWorkerQueueFIFOOrdering(t *testing.T, f Factory) {
	h := newHarness(t, f)
	for i := uint64(0); i < 5; i++ {
		w := activity("instance-A", 1, i, fmt.Sprintf("Activity%d", i))
		w.Input = fmt.Sprintf(`"input%d"`, i)
		h.enqueueWork(w)
	}
	for i := uint64(0); i < 5; i++ {
		w := h.fetchWork(30 * time.Second)
		if w.Item.ID != i || w.Item.Name != fmt.Sprintf("Activity%d", i) {
			t.Fatalf("fetch %d: item %d %s", i, w.Item.ID, w.Item.Name)
		}
	}
	h.fetchNoWork(30*time.Second, "all 5 items are locked")
}

// TestWorkerPeekLockSemantics: a fetched item stays in the queue, locked, until acked.
func TestWorkerPeekLockSemantics(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("instance-A", 1, 1, "Activity1"))
	w := h.fetchWork(30 * time.Second)
	if w.Item.Type != store.ActivityExecute {
		t.Fatalf("fetched %s", w.Item.Type)
	}
	h.fetchNoWork(30*time.Second, "the item is locked")
	done := activityDone("instance-A", 1, 1, `"result1"`)
	h.ackWork(w.LockToken, &done)
	h.fetchNoWork(30*time.Second, "the acked item is gone")
}

// TestWorkerAckAtomicity: acking a work item removes it and enqueues its completion.
func TestWorkerAckAtomicity(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})

	h.enqueueWork(activity("instance-A", 1, 1, "Activity1"))
	w := h.fetchWork(30 * time.Second)
	done := activityDone("instance-A", 1, 1, `"result1"`)
	h.ackWork(w.LockToken, &done)
	h.fetchNoWork(30*time.Second, "the acked item is gone")

	got := h.fetch(30 * time.Second)
	if got.Instance != "instance-A" || len(got.Messages) != 1 || got.Messages[0].Item.Type != store.ActivityCompleted {
		t.Fatalf("fetched %q with %d messages, want instance-A with the ActivityCompleted", got.Instance, len(got.Messages))
	}
}

// TestTimerDelayedVisibility: a delayed message is not fetchable before its time, and
// is after.
func TestTimerDelayedVisibility(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})

	const delay = 2 * time.Second
	due := time.Now().Add(delay)
	if err := h.p.EnqueueForOrchestrator(h.ctx, store.WorkItem{Type: store.TimerFired, Instance: "instance-A", ExecutionID: 1, ID: 1}, delay); err != nil {
		t.Fatalf("enqueue with delay: %v", err)
	}
	h.fetchNone(30*time.Second, "the timer is not due yet")
	// Long-poll from before the due time: the timer must be fetched at the due time,
	// not before, and at most timerLateness after it.
	item2, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, delay+waitFor, nil)
	fetched := time.Now()
	if err != nil {
		t.Fatalf("fetch orchestration item: %v", err)
	}
	if item2 == nil || item2.Instance != "instance-A" || len(item2.Messages) != 1 || item2.Messages[0].Item.Type != store.TimerFired {
		t.Fatalf("fetched %+v, want instance-A with the TimerFired", item2)
	}
	if early := due.Sub(fetched); early > 0 {
		t.Fatalf("the timer was fetched %v before it was due", early)
	}
	if late := fetched.Sub(due); late > timerLateness {
		t.Fatalf("the timer was fetched %v after it was due; want at most %v", late, timerLateness)
	}
}

// TestLostLockTokenHandling: a work item whose token was lost comes back once its
// lock expires.
func TestLostLockTokenHandling(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("instance-A", 1, 1, "Activity1"))
	h.fetchWork(h.lock) // the token is dropped: a crashed worker
	h.fetchNoWork(h.lock, "the item is locked")
	sleep(h.lock + 100*time.Millisecond)
	if w := h.fetchWork(h.lock); w.Item.Type != store.ActivityExecute {
		t.Fatalf("refetched %s", w.Item.Type)
	}
}

// TestWorkerItemImmediateVisibility: a new work item is fetchable right away, and
// so is an abandoned one (at attempt 2): both fetches poll well under the lock
// timeout.
func TestWorkerItemImmediateVisibility(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-immediate-vis", 1, 1, "TestActivity"))
	w := h.fetchWorkWithin(h.lock, shortPoll(h.lock), "a newly enqueued item")
	if w.Item.Type != store.ActivityExecute || w.Item.Name != "TestActivity" || w.AttemptCount != 1 {
		t.Fatalf("fetched %s %s at attempt %d; want TestActivity at attempt 1", w.Item.Type, w.Item.Name, w.AttemptCount)
	}
	if err := h.p.AbandonWorkItem(h.ctx, w.LockToken, 0, false); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	w2 := h.fetchWorkWithin(h.lock, shortPoll(h.lock), "the abandoned item")
	if w2.Item.Name != "TestActivity" || w2.AttemptCount != 2 {
		t.Fatalf("refetched %s at attempt %d; want TestActivity at attempt 2", w2.Item.Name, w2.AttemptCount)
	}
	done := activityDone("test-immediate-vis", 1, 1, `"done"`)
	h.ackWork(w2.LockToken, &done)
}

// TestWorkerDelayedVisibilitySkipsFutureItems: an item abandoned with a delay is
// skipped, and the next one is fetched, until the delay ran out.
func TestWorkerDelayedVisibilitySkipsFutureItems(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-delayed-vis", 1, 1, "Activity1"))
	h.enqueueWork(activity("test-delayed-vis", 1, 2, "Activity2"))
	w1 := h.fetchWork(h.lock)
	if w1.Item.ID != 1 {
		t.Fatalf("first fetch: item %d, want 1", w1.Item.ID)
	}
	const delay = 500 * time.Millisecond
	if err := h.p.AbandonWorkItem(h.ctx, w1.LockToken, delay, false); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	w2 := h.fetchWork(h.lock)
	if w2.Item.ID != 2 {
		t.Fatalf("fetch after the delayed abandon: item %d, want 2", w2.Item.ID)
	}
	h.fetchNoWork(h.lock, "item 1 is delayed and item 2 is locked")
	sleep(delay + 100*time.Millisecond)
	w3 := h.fetchWork(h.lock)
	if w3.Item.ID != 1 {
		t.Fatalf("fetch after the delay: item %d, want 1", w3.Item.ID)
	}
	d2 := activityDone("test-delayed-vis", 1, 2, `"done"`)
	d1 := activityDone("test-delayed-vis", 1, 1, `"done"`)
	h.ackWork(w2.LockToken, &d2)
	h.ackWork(w3.LockToken, &d1)
}

// TestOrphanQueueMessagesDropped: queue messages for an instance that does not exist
// are dropped by the fetch; those for an existing instance are delivered.
func TestOrphanQueueMessagesDropped(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(store.WorkItem{Type: store.QueueMessage, Instance: "orphan-test", Name: "ConfigUpdate", Data: `"v1"`})
	h.enqueue(store.WorkItem{Type: store.QueueMessage, Instance: "orphan-test", Name: "ConfigUpdate", Data: `"v2"`})
	h.fetchNone(5*time.Second, "queue messages for a missing instance are dropped")
	// Settle waits until every message still in the queue is visible: the orphans
	// must be gone from the queue, not merely skipped.
	h.fetchNone(5*time.Second, "the orphan messages were deleted, not left in the queue")

	h.createInstance("orphan-test-existing")
	h.enqueue(store.WorkItem{Type: store.QueueMessage, Instance: "orphan-test-existing", Name: "ConfigUpdate", Data: `"v3"`})
	item := h.fetch(5 * time.Second)
	found := false
	for _, m := range item.Messages {
		if m.Item.Type == store.QueueMessage && m.Item.Name == "ConfigUpdate" && m.Item.Data == `"v3"` {
			found = true
		}
	}
	if item.Instance != "orphan-test-existing" || !found {
		t.Fatalf("fetched %q with %+v, want the queue message v3 for orphan-test-existing", item.Instance, item.Messages)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: item.ExecutionID})
}
