package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

var lockExpirationTests = []Test{
	{"test_lock_expires_after_timeout", TestLockExpiresAfterTimeout},
	{"test_abandon_releases_lock_immediately", TestAbandonReleasesLockImmediately},
	{"test_lock_renewal_on_ack", TestLockRenewalOnAck},
	{"test_concurrent_lock_attempts_respect_expiration", TestConcurrentLockAttemptsRespectExpiration},
	{"test_worker_lock_renewal_success", TestWorkerLockRenewalSuccess},
	{"test_worker_lock_renewal_invalid_token", TestWorkerLockRenewalInvalidToken},
	{"test_worker_lock_renewal_after_expiration", TestWorkerLockRenewalAfterExpiration},
	{"test_worker_lock_renewal_extends_timeout", TestWorkerLockRenewalExtendsTimeout},
	{"test_worker_lock_renewal_after_ack", TestWorkerLockRenewalAfterAck},
	{"test_abandon_work_item_releases_lock", TestAbandonWorkItemReleasesLock},
	{"test_abandon_work_item_with_delay", TestAbandonWorkItemWithDelay},
	{"test_worker_ack_fails_after_lock_expiry", TestWorkerAckFailsAfterLockExpiry},
	{"test_orchestration_lock_renewal_after_expiration", TestOrchestrationLockRenewalAfterExpiration},
}

// TestLockExpiresAfterTimeout: an expired lock frees the instance and its token no
// longer works.
func TestLockExpiresAfterTimeout(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(h.lock)
	h.fetchNone(h.lock, "the instance is locked")
	sleep(h.lock + 100*time.Millisecond)
	item2 := h.fetch(h.lock)
	if item2.Instance != "instance-A" || item2.LockToken == item.LockToken {
		t.Fatalf("after expiry fetched %q with token %q (old %q)", item2.Instance, item2.LockToken, item.LockToken)
	}
	if err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1}); err == nil {
		t.Fatal("ack with the expired token succeeded")
	}
}

// TestAbandonReleasesLockImmediately: abandon frees the instance without waiting for
// the lock to expire.
func TestAbandonReleasesLockImmediately(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(h.lock)
	h.fetchNone(h.lock, "the instance is locked")
	h.abandon(item.LockToken, 0, false)
	h.f.Settle(t, h.p)
	item2, err := h.p.FetchOrchestrationItem(h.ctx, h.lock, 0, nil)
	if err != nil || item2 == nil || item2.Instance != "instance-A" {
		t.Fatalf("fetch right after abandon: %+v %v, want instance-A", item2, err)
	}
}

// TestLockRenewalOnAck: a successful ack releases the lock at once, so a message that
// arrived during the lock is fetchable right after.
func TestLockRenewalOnAck(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(h.lock)
	h.fetchNone(h.lock, "the instance is locked")
	h.enqueue(startItem("instance-A"))
	h.fetchNone(h.lock, "the new message waits for the lock")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})
	h.f.Settle(t, h.p)
	item2, err := h.p.FetchOrchestrationItem(h.ctx, h.lock, 0, nil)
	if err != nil || item2 == nil || item2.Instance != "instance-A" {
		t.Fatalf("fetch right after the ack: %+v %v, want instance-A", item2, err)
	}
}

// TestConcurrentLockAttemptsRespectExpiration: concurrent fetchers get nothing until
// the lock expires.
//
// The lock may start as early as the locking fetch is called, so a fetcher that
// received the instance breaks the contract if its fetch returned before that time
// plus the lock timeout. One that returned later ran after the lock could have
// expired (the test process stalled for a lock timeout): the contract allows that
// hand-over.
func TestConcurrentLockAttemptsRespectExpiration(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	h.f.Settle(t, h.p)
	called := time.Now()
	if item, err := h.p.FetchOrchestrationItem(h.ctx, h.lock, waitFor, nil); err != nil || item == nil {
		t.Fatalf("fetch orchestration item: %+v %v", item, err)
	}
	var wg sync.WaitGroup
	got := make([]*store.OrchestrationItem, 5)
	returned := make([]time.Time, len(got))
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			item, err := h.p.FetchOrchestrationItem(h.ctx, h.lock, 0, nil)
			returned[i] = time.Now()
			if err != nil {
				t.Errorf("fetcher %d: %v", i, err)
			}
			got[i] = item
		}()
	}
	sleep(200 * time.Millisecond)
	wg.Wait()
	for i, item := range got {
		if item == nil {
			continue
		}
		if at := returned[i].Sub(called); at < h.lock {
			t.Fatalf("fetcher %d got %q while it was locked: %v after the locking fetch was called, lock %v", i, item.Instance, at, h.lock)
		}
		t.Logf("fetcher %d ran %v after the locking fetch was called, past the %v lock: its item proves nothing", i, returned[i].Sub(called), h.lock)
	}
	sleep(max(h.lock-200*time.Millisecond, 0) + 100*time.Millisecond)
	if item2 := h.fetch(h.lock); item2.Instance != "instance-A" {
		t.Fatalf("fetched %q after expiry", item2.Instance)
	}
}

// TestWorkerLockRenewalSuccess: a held work item's lock can be renewed and stays held.
func TestWorkerLockRenewalSuccess(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-instance", 1, 1, "TestActivity"))
	w := h.fetchWork(h.lock)
	h.fetchNoWork(h.lock, "the item is locked")
	sleep(100 * time.Millisecond)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, h.lock); err != nil {
		t.Fatalf("renew: %v", err)
	}
	h.fetchNoWork(h.lock, "the item is still locked after the renewal")
}

// TestWorkerLockRenewalInvalidToken: renewing an unknown token fails.
func TestWorkerLockRenewalInvalidToken(t *testing.T, f Factory) {
	h := newHarness(t, f)
	if err := h.p.RenewWorkItemLock(h.ctx, "invalid-token-123", 30*time.Second); err == nil {
		t.Fatal("renewal with an invalid token succeeded")
	}
}

// TestWorkerLockRenewalExtendsTimeout: a renewal at 60% of the lock keeps the item
// locked past the original expiry.
func TestWorkerLockRenewalExtendsTimeout(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const instance = "test-lock-renewal-extends"
	h.enqueue(startItem(instance))
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(instance, 1)},
		WorkerItems: []store.WorkItem{activity(instance, 1, 1, "TestActivity")},
		Metadata:    store.ExecutionMetadata{OrchestrationName: testOrch, Status: store.StatusRunning}})

	w := h.fetchWork(h.lock)
	pre := h.lock * 6 / 10
	sleep(pre)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, h.lock); err != nil {
		t.Fatalf("renew: %v", err)
	}
	sleep(h.lock - pre)
	h.fetchNoWork(h.lock, "the renewal extended the lock to 1.6× the timeout")
}

// TestWorkerLockRenewalAfterAck: an acked item's lock cannot be renewed.
func TestWorkerLockRenewalAfterAck(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-instance", 1, 1, "TestActivity"))
	w := h.fetchWork(h.lock)
	done := activityDone("test-instance", 1, 1, `"done"`)
	h.ackWork(w.LockToken, &done)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, h.lock); err == nil {
		t.Fatal("renewal after the ack succeeded")
	}
}

// TestAbandonWorkItemReleasesLock: an abandoned work item is fetchable again at once,
// under a new token.
func TestAbandonWorkItemReleasesLock(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-abandon-work", 1, 1, "TestActivity"))
	w := h.fetchWorkWithin(h.lock, shortPoll(h.lock), "a newly enqueued item")
	if w.Item.Type != store.ActivityExecute || w.AttemptCount != 1 {
		t.Fatalf("fetched %s at attempt %d; want the ActivityExecute at attempt 1", w.Item.Type, w.AttemptCount)
	}
	h.fetchNoWork(h.lock, "the item is locked")
	if err := h.p.AbandonWorkItem(h.ctx, w.LockToken, 0, false); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	// The abandon releases the lock at once: the refetch polls well under the lock
	// timeout, so an item that came back only because its lock expired is missed.
	w2 := h.fetchWorkWithin(h.lock, shortPoll(h.lock), "the abandoned item")
	if w2.Item.Type != store.ActivityExecute || w2.LockToken == w.LockToken || w2.AttemptCount != 2 {
		t.Fatalf("refetched %s at attempt %d with token %q (old %q); want the item at attempt 2 with a new token",
			w2.Item.Type, w2.AttemptCount, w2.LockToken, w.LockToken)
	}
	done := activityDone("test-abandon-work", 1, 1, `"done"`)
	h.ackWork(w2.LockToken, &done)
}

// TestAbandonWorkItemWithDelay: an item abandoned with a delay stays invisible until
// the delay ran out.
func TestAbandonWorkItemWithDelay(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-abandon-delay", 1, 1, "TestActivity"))
	w := h.fetchWork(h.lock)
	const delay = 500 * time.Millisecond
	if err := h.p.AbandonWorkItem(h.ctx, w.LockToken, delay, false); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	h.fetchNoWork(h.lock, "the item is delayed")
	sleep(delay + 100*time.Millisecond)
	w2 := h.fetchWork(h.lock)
	if w2.Item.Type != store.ActivityExecute {
		t.Fatalf("refetched %s", w2.Item.Type)
	}
	done := activityDone("test-abandon-delay", 1, 1, `"done"`)
	h.ackWork(w2.LockToken, &done)
}

// TestOrchestrationLockRenewalAfterExpiration: an expired orchestration lock cannot be
// renewed.
func TestOrchestrationLockRenewalAfterExpiration(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("orch-renewal-expiry"))
	item := h.fetch(h.lock)
	sleep(h.lock + 100*time.Millisecond)
	if err := h.p.RenewOrchestrationItemLock(h.ctx, item.LockToken, h.lock); err == nil {
		t.Fatal("renewal of an expired lock succeeded")
	}
}

// TestWorkerLockRenewalAfterExpiration: once a work item's lock has expired, renewing
// it fails.
func TestWorkerLockRenewalAfterExpiration(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-instance", 1, 1, "TestActivity"))
	w := h.fetchWork(h.lock)
	sleep(h.lock + 100*time.Millisecond)
	if err := h.p.RenewWorkItemLock(h.ctx, w.LockToken, h.lock); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("renewal after expiry: %v, want ErrLockLost", err)
	}
}

// TestWorkerAckFailsAfterLockExpiry: once a work item's lock has expired, acking it
// fails and enqueues no completion; the item is delivered again.
func TestWorkerAckFailsAfterLockExpiry(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(activity("test-ack-expired", 1, 1, "TestActivity"))
	w := h.fetchWork(h.lock)
	sleep(h.lock + 100*time.Millisecond)
	done := activityDone("test-ack-expired", 1, 1, `"late"`)
	if err := h.p.AckWorkItem(h.ctx, w.LockToken, &done); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("ack after expiry: %v, want ErrLockLost", err)
	}
	h.fetchNone(0, "the late ack must not have enqueued the completion")
	w2 := h.fetchWork(h.lock)
	if w2.Item.ID != 1 || w2.AttemptCount != 2 {
		t.Fatalf("redelivered %+v (attempt %d), want the same item at attempt 2", w2.Item, w2.AttemptCount)
	}
	h.ackWork(w2.LockToken, &done)
}
