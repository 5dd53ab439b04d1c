package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

var atomicityTests = []Test{
	{"test_atomicity_failure_rollback", TestAtomicityFailureRollback},
	{"test_multi_operation_atomic_ack", TestMultiOperationAtomicAck},
	{"test_lock_released_only_on_successful_ack", TestLockReleasedOnlyOnSuccessfulAck},
	{"test_concurrent_ack_prevention", TestConcurrentAckPrevention},
}

// TestAtomicityFailureRollback: an ack that fails (a duplicate event id) writes
// nothing, and the instance stays locked.
func TestAtomicityFailureRollback(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})
	if n := len(h.history("instance-A", 0)); n != 1 {
		t.Fatalf("history has %d events, want 1", n)
	}

	h.enqueue(startItem("instance-A"))
	item2 := h.fetch(30 * time.Second)
	err := h.p.AckOrchestrationItem(h.ctx, item2.LockToken, store.Commit{ExecutionID: 1,
		HistoryDelta: []history.Event{started("instance-A", 1)}}) // event id 1 again
	if err == nil {
		t.Fatal("ack with a duplicate event id succeeded; want an error")
	}
	if n := len(h.history("instance-A", 0)); n != 1 {
		t.Fatalf("history has %d events after the failed ack, want 1 (unchanged)", n)
	}
	h.fetchNone(30*time.Second, "the failed ack must keep the instance locked")
}

// TestMultiOperationAtomicAck: one ack with history, worker items and orchestrator
// items lands all of them.
func TestMultiOperationAtomicAck(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)
	timer := event(5, "instance-A", 1, history.TimerCreated)
	timer.FireAtMs = 1234567890
	delta := []history.Event{
		started("instance-A", 1),
		scheduled(2, "instance-A", 1, "Activity1", `"input1"`),
		scheduled(3, "instance-A", 1, "Activity2", `"input2"`),
		scheduled(4, "instance-A", 1, "Activity3", `"input3"`),
		timer,
	}
	work := []store.WorkItem{
		activity("instance-A", 1, 1, "Activity1"),
		activity("instance-A", 1, 2, "Activity2"),
		activity("instance-A", 1, 3, "Activity3"),
	}
	orch := []store.WorkItem{
		{Type: store.TimerFired, Instance: "instance-A", ExecutionID: 1, ID: 1, FireAtMs: 1234567890},
		{Type: store.ExternalRaised, Instance: "instance-A", Name: "TestEvent", Data: `"test-data"`},
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: delta, WorkerItems: work, OrchestratorItems: orch})

	if n := len(h.history("instance-A", 0)); n != 5 {
		t.Fatalf("history has %d events, want 5", n)
	}
	for i := 0; i < 3; i++ {
		h.fetchWork(30 * time.Second)
	}
	h.fetchNoWork(30*time.Second, "the ack enqueued exactly 3 worker items")

	item1 := h.fetch(30 * time.Second)
	if len(item1.Messages) != 2 {
		t.Fatalf("got %d orchestrator messages, want TimerFired and ExternalRaised", len(item1.Messages))
	}
	if item1.Messages[0].Item.Type != store.TimerFired || item1.Messages[1].Item.Type != store.ExternalRaised {
		t.Fatalf("messages %s, %s; want TimerFired, ExternalRaised", item1.Messages[0].Item.Type, item1.Messages[1].Item.Type)
	}
}

// TestLockReleasedOnlyOnSuccessfulAck: an ack with an invalid token fails and leaves
// the lock in place until it expires.
func TestLockReleasedOnlyOnSuccessfulAck(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	h.fetch(h.lock)
	h.fetchNone(h.lock, "the instance is locked")

	bad := started("instance-A", 1)
	bad.EventID = 2
	if err := h.p.AckOrchestrationItem(h.ctx, "invalid-lock-token", store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{bad}}); err == nil {
		t.Fatal("ack with an invalid lock token succeeded")
	}
	h.fetchNone(h.lock, "the lock must still be held after a failed ack")

	sleep(h.lock + 100*time.Millisecond)
	item2 := h.fetch(h.lock)
	if item2.Instance != "instance-A" {
		t.Fatalf("fetched %q after the lock expired, want instance-A", item2.Instance)
	}
}

// TestConcurrentAckPrevention: two concurrent acks with one token: exactly one wins.
func TestConcurrentAckPrevention(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1,
				HistoryDelta: []history.Event{started("instance-A", 1)}})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d acks succeeded (errors %v), want exactly 1", ok, errs)
	}
}
