package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/store"
)

var instanceLockingTests = []Test{
	{"test_exclusive_instance_lock", TestExclusiveInstanceLock},
	{"test_lock_token_uniqueness", TestLockTokenUniqueness},
	{"test_invalid_lock_token_rejection", TestInvalidLockTokenRejection},
	{"test_concurrent_instance_fetching", TestConcurrentInstanceFetching},
	{"test_completions_arriving_during_lock_blocked", TestCompletionsArrivingDuringLockBlocked},
	{"test_cross_instance_lock_isolation", TestCrossInstanceLockIsolation},
	{"test_message_tagging_during_lock", TestMessageTaggingDuringLock},
	{"test_ack_only_affects_locked_messages", TestAckOnlyAffectsLockedMessages},
	{"test_multi_threaded_lock_contention", TestMultiThreadedLockContention},
	{"test_multi_threaded_no_duplicate_processing", TestMultiThreadedNoDuplicateProcessing},
	{"test_multi_threaded_lock_expiration_recovery", TestMultiThreadedLockExpirationRecovery},
}

func completionIDs(item *store.OrchestrationItem) []uint64 {
	var ids []uint64
	for _, m := range item.Messages {
		if m.Item.Type == store.ActivityCompleted {
			ids = append(ids, m.Item.ID)
		}
	}
	return ids
}

// TestExclusiveInstanceLock: a locked instance is not fetched again until its lock
// expires; the next lock has a new token.
func TestExclusiveInstanceLock(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item1 := h.fetch(h.lock)
	h.fetchNone(h.lock, "the instance is locked")
	sleep(h.lock + 100*time.Millisecond)
	item2 := h.fetch(h.lock)
	if item2.LockToken == item1.LockToken {
		t.Fatal("the lock after expiry has the expired lock's token")
	}
}

// TestLockTokenUniqueness: every fetch gets its own token.
func TestLockTokenUniqueness(t *testing.T, f Factory) {
	h := newHarness(t, f)
	for i := 0; i < 5; i++ {
		h.enqueue(startItem(fmt.Sprintf("inst-%d", i)))
	}
	tokens := map[string]bool{}
	for i := 0; i < 5; i++ {
		tokens[h.fetch(30*time.Second).LockToken] = true
	}
	if len(tokens) != 5 {
		t.Fatalf("%d distinct tokens for 5 fetches", len(tokens))
	}
}

// TestInvalidLockTokenRejection: ack and abandon reject an unknown token and leave
// the held lock alone.
func TestInvalidLockTokenRejection(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	h.fetch(30 * time.Second)
	if err := h.p.AckOrchestrationItem(h.ctx, "invalid-token", store.Commit{ExecutionID: 1}); err == nil {
		t.Fatal("ack with an invalid token succeeded")
	}
	if err := h.p.AbandonOrchestrationItem(h.ctx, "invalid-token", 0, false); err == nil {
		t.Fatal("abandon with an invalid token succeeded")
	}
	h.fetchNone(30*time.Second, "the instance is still locked")
}

// TestConcurrentInstanceFetching: concurrent fetchers never get the same instance.
func TestConcurrentInstanceFetching(t *testing.T, f Factory) {
	h := newHarness(t, f)
	for i := 0; i < 10; i++ {
		h.enqueue(startItem(fmt.Sprintf("inst-%d", i)))
	}
	h.f.Settle(t, h.p)
	got := make([]string, 10)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 30 * time.Millisecond) // stagger, as duroxide does
			item, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, 0, nil)
			errs[i] = err
			if item != nil {
				got[i] = item.Instance
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, inst := range got {
		if errs[i] != nil {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
		if inst != "" {
			seen[inst] = true
		}
	}
	if len(seen) != 10 {
		t.Fatalf("fetched instances %v, want each of the 10 exactly once", got)
	}
}

// TestCompletionsArrivingDuringLockBlocked: messages that arrive while an instance is
// locked are not fetchable until the lock ends, then come in one batch with the rest.
func TestCompletionsArrivingDuringLockBlocked(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item1 := h.fetch(h.lock)
	if item1.Instance != "instance-A" {
		t.Fatalf("fetched %q", item1.Instance)
	}
	for i := uint64(1); i <= 3; i++ {
		h.enqueue(activityDone("instance-A", 1, i, fmt.Sprintf(`"result-%d"`, i)))
	}
	h.fetchNone(h.lock, "the instance is locked")
	sleep(h.lock + 100*time.Millisecond)
	item3 := h.fetch(h.lock)
	if item3.Instance != "instance-A" || len(item3.Messages) != 4 {
		t.Fatalf("fetched %q with %d messages, want instance-A with the start and 3 completions", item3.Instance, len(item3.Messages))
	}
	if ids := completionIDs(item3); !slices.Equal(ids, []uint64{1, 2, 3}) {
		t.Fatalf("completion ids %v, want [1 2 3]", ids)
	}
}

// TestCrossInstanceLockIsolation: a lock on one instance does not block another.
func TestCrossInstanceLockIsolation(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("instance-A")
	h.createInstance("instance-B")
	h.enqueue(startItem("instance-A"))
	h.enqueue(startItem("instance-B"))

	first := h.fetch(30 * time.Second)
	second := h.fetch(30 * time.Second)
	a, b := first, second
	if a.Instance == "instance-B" {
		a, b = b, a
	}
	if a.Instance != "instance-A" || b.Instance != "instance-B" {
		t.Fatalf("fetched %q and %q, want instance-A and instance-B", first.Instance, second.Instance)
	}
	h.ack(b.LockToken, store.Commit{ExecutionID: 1, Metadata: testMetadata()})

	h.enqueue(activityDone("instance-B", 1, 1, `"done"`))
	b2 := h.fetch(30 * time.Second)
	if b2.Instance != "instance-B" {
		t.Fatalf("fetched %q while instance-A is locked, want instance-B", b2.Instance)
	}
}

// TestMessageTaggingDuringLock: an ack removes only the messages its fetch returned.
func TestMessageTaggingDuringLock(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("instance-A")
	h.enqueue(activityDone("instance-A", 1, 1, `"msg1"`))
	h.enqueue(activityDone("instance-A", 1, 2, `"msg2"`))
	item := h.fetch(30 * time.Second)
	if item.Instance != "instance-A" || len(item.Messages) != 2 {
		t.Fatalf("fetched %q with %d messages, want instance-A with 2", item.Instance, len(item.Messages))
	}
	h.enqueue(activityDone("instance-A", 1, 3, `"msg3"`))
	h.ack(item.LockToken, store.Commit{ExecutionID: 1})

	item2 := h.fetch(30 * time.Second)
	if item2.Instance != "instance-A" || !slices.Equal(completionIDs(item2), []uint64{3}) || len(item2.Messages) != 1 {
		t.Fatalf("fetched %q with completions %v, want instance-A with only id 3", item2.Instance, completionIDs(item2))
	}
}

// TestAckOnlyAffectsLockedMessages: messages that arrived during the lock survive the
// ack and are fetched next.
func TestAckOnlyAffectsLockedMessages(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("instance-A")
	h.enqueue(activityDone("instance-A", 1, 1, `"msg1"`))
	item1 := h.fetch(30 * time.Second)
	if len(item1.Messages) != 1 {
		t.Fatalf("fetched %d messages, want 1", len(item1.Messages))
	}
	h.enqueue(activityDone("instance-A", 1, 2, `"msg2"`))
	h.enqueue(activityDone("instance-A", 1, 3, `"msg3"`))
	h.fetchNone(30*time.Second, "the instance is locked")
	h.ack(item1.LockToken, store.Commit{ExecutionID: 1})

	item2 := h.fetch(30 * time.Second)
	if item2.Instance != "instance-A" || len(item2.Messages) != 2 || !slices.Equal(completionIDs(item2), []uint64{2, 3}) {
		t.Fatalf("fetched %q with completions %v, want instance-A with [2 3]", item2.Instance, completionIDs(item2))
	}
}

// TestMultiThreadedLockContention: of many concurrent fetchers of one instance,
// exactly one gets it.
func TestMultiThreadedLockContention(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("contention-instance"))
	h.f.Settle(t, h.p)
	const n = 10
	got := make([]*store.OrchestrationItem, n)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 5 * time.Millisecond)
			item, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, 0, nil)
			if err != nil {
				t.Errorf("fetcher %d: %v", i, err)
			}
			got[i] = item
		}()
	}
	wg.Wait()
	winners := 0
	for _, item := range got {
		if item != nil {
			winners++
			if item.Instance != "contention-instance" {
				t.Fatalf("fetched %q", item.Instance)
			}
		}
	}
	if winners != 1 {
		t.Fatalf("%d fetchers got the instance, want exactly 1", winners)
	}
	h.fetchNone(30*time.Second, "the instance is still locked")
}

// TestMultiThreadedNoDuplicateProcessing: under contention, no instance is handed to
// two fetchers.
func TestMultiThreadedNoDuplicateProcessing(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const instances = 20
	for i := 0; i < instances; i++ {
		h.enqueue(startItem(fmt.Sprintf("dup-test-%d", i)))
	}
	h.f.Settle(t, h.p)
	var mu sync.Mutex
	var fetched []string
	var wg sync.WaitGroup
	for i := 0; i < 2*instances; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration((i*3)%50) * time.Millisecond)
			item, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, 0, nil)
			if err != nil {
				t.Errorf("fetcher %d: %v", i, err)
				return
			}
			if item != nil {
				mu.Lock()
				fetched = append(fetched, item.Instance)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, inst := range fetched {
		if seen[inst] {
			t.Fatalf("instance %q fetched twice (%v)", inst, fetched)
		}
		seen[inst] = true
	}
	if len(fetched) > instances {
		t.Fatalf("%d fetches for %d instances", len(fetched), instances)
	}
}

// TestMultiThreadedLockExpirationRecovery: a holder that never acks (a crashed
// worker) blocks others only until its lock expires.
func TestMultiThreadedLockExpirationRecovery(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("expiration-instance"))
	h.f.Settle(t, h.p)
	lock := h.lock
	var wg sync.WaitGroup
	var item1, item2, item3 *store.OrchestrationItem
	var err1, err2, err3 error
	start := make(chan struct{})
	wg.Add(3)
	go func() { // holds the lock and never acks
		defer wg.Done()
		<-start
		item1, err1 = h.p.FetchOrchestrationItem(h.ctx, lock, 0, nil)
	}()
	go func() { // tries while the lock is held
		defer wg.Done()
		<-start
		time.Sleep(200 * time.Millisecond)
		item2, err2 = h.p.FetchOrchestrationItem(h.ctx, lock, 0, nil)
	}()
	go func() { // tries after the lock expired
		defer wg.Done()
		<-start
		sleep(lock + 100*time.Millisecond)
		item3, err3 = h.p.FetchOrchestrationItem(h.ctx, lock, 0, nil)
	}()
	close(start)
	wg.Wait()
	if err1 != nil || item1 == nil || item1.Instance != "expiration-instance" {
		t.Fatalf("first fetcher: %v %v", item1, err1)
	}
	if err2 != nil || item2 != nil {
		t.Fatalf("fetch while locked: %+v %v, want nothing", item2, err2)
	}
	if err3 != nil || item3 == nil || item3.Instance != "expiration-instance" {
		t.Fatalf("fetch after expiry: %+v %v, want the instance", item3, err3)
	}
	if item3.LockToken == item1.LockToken {
		t.Fatal("the recovered lock has the expired lock's token")
	}
}
