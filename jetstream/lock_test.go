package jetstream

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// slowFirstLoad opens a store whose first fetch that locks an instance takes d to
// read its state (the AfterLock hook blocks that long).
func slowFirstLoad(t *testing.T, d time.Duration) *Store {
	t.Helper()
	var calls atomic.Int32
	st, _ := openTestStore(t, Config{Hooks: Hooks{AfterLock: func(string) {
		if calls.Add(1) == 1 {
			time.Sleep(d)
		}
	}}})
	if err := st.EnqueueForOrchestrator(context.Background(), store.WorkItem{Type: store.StartOrchestration, Instance: "slow", Name: "O"}, 0); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestFetchLockLastsFromHandOut: an orchestration lock lasts lockTimeout from when the
// fetch hands the item out, however long the fetch took to read the instance's state
// after locking it. (The lock used to run from the moment the mailbox was taken, so a
// slow history read left the caller only part of it, and another fetch received the
// instance while the caller still counted it as locked.)
func TestFetchLockLastsFromHandOut(t *testing.T) {
	const lock, load = 2 * time.Second, 1500 * time.Millisecond
	st := slowFirstLoad(t, load)
	ctx := context.Background()
	item, err := st.FetchOrchestrationItem(ctx, lock, 10*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %+v %v", item, err)
	}
	handedOut := time.Now()
	// Half the lock after the hand-over: the lock must still be held.
	time.Sleep(time.Until(handedOut.Add(lock / 2)))
	other, err := st.FetchOrchestrationItem(ctx, lock, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other != nil {
		t.Fatalf("a second fetch %v after the hand-over received %q, locked for %v", time.Since(handedOut), other.Instance, lock)
	}
	if err := st.RenewOrchestrationItemLock(ctx, item.LockToken, lock); err != nil {
		t.Fatalf("renew within the lock: %v", err)
	}
}

// TestFetchDoesNotHandOutExpiredLock: a lock that runs out while the fetch reads the
// instance's state is not handed out (another fetch may hold the instance by then);
// the fetch locks the instance again and hands that lock out.
func TestFetchDoesNotHandOutExpiredLock(t *testing.T) {
	const lock = time.Second
	st := slowFirstLoad(t, lock+500*time.Millisecond)
	ctx := context.Background()
	item, err := st.FetchOrchestrationItem(ctx, lock, 10*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %+v %v", item, err)
	}
	other, err := st.FetchOrchestrationItem(ctx, lock, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other != nil {
		t.Fatalf("a second fetch right after the hand-over received %q: the first lock was handed out expired", other.Instance)
	}
	if err := st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("slow")},
		Metadata: store.ExecutionMetadata{OrchestrationName: "O", Status: store.StatusRunning}}); err != nil {
		t.Fatalf("ack of the handed-out lock: %v", err)
	}
}
