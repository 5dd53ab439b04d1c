package actors

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostLendsOneMailboxAtATime(t *testing.T) {
	h := NewHost[string, int](100)
	ctx := context.Background()
	h.Put("a", 1, "m1")
	h.Put("a", 2, "m2")
	l, err := h.Acquire(ctx, time.Minute, 0)
	if err != nil || l == nil || l.Key != "a" || len(l.Messages) != 2 {
		t.Fatalf("acquire: %+v %v", l, err)
	}
	// A message arriving while locked waits; the mailbox is not lent twice.
	h.Put("a", 3, "m3")
	if l2, _ := h.Acquire(ctx, time.Minute, 10*time.Millisecond); l2 != nil {
		t.Fatalf("mailbox lent twice: %+v", l2)
	}
	// Redelivery of a lent message is ignored.
	if ok, _ := h.Put("a", 1, "m1 again"); ok {
		t.Fatal("a redelivered message was accepted")
	}
	if !h.Release(l.Token, ReleaseOpts[int]{SetState: true, State: 7}) {
		t.Fatal("release failed")
	}
	l, _ = h.Acquire(ctx, time.Minute, 0)
	if l == nil || len(l.Messages) != 1 || l.Messages[0] != "m3" || !l.HasState || l.State != 7 {
		t.Fatalf("after release: %+v", l)
	}
	if h.Release("nope", ReleaseOpts[int]{}) {
		t.Fatal("released an unknown token")
	}
}

func TestHostLockExpiryForgetsState(t *testing.T) {
	h := NewHost[string, int](100)
	ctx := context.Background()
	h.Put("a", 1, "m1")
	l, _ := h.Acquire(ctx, 20*time.Millisecond, 0)
	h.Release(l.Token, ReleaseOpts[int]{SetState: true, State: 1})
	h.Put("a", 2, "m2")
	l, _ = h.Acquire(ctx, 20*time.Millisecond, 0)
	time.Sleep(40 * time.Millisecond) // let the lock expire: the point of the test
	l2, _ := h.Acquire(ctx, time.Minute, time.Second)
	if l2 == nil || l2.HasState {
		t.Fatalf("after expiry: %+v (the next holder must reload state)", l2)
	}
	if _, ok := h.Holds(l.Token); ok {
		t.Fatal("expired token still held")
	}
	if h.Renew(l.Token, time.Minute) {
		t.Fatal("renewed an expired token")
	}
}

// TestHostConcurrentWorkers: many acquirers, many keys; no key is ever held by two
// at once and every message is processed once.
func TestHostConcurrentWorkers(t *testing.T) {
	h := NewHost[int, int](1000)
	const keys, perKey = 20, 50
	var held sync.Map
	var processed atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				l, err := h.Acquire(ctx, time.Minute, 50*time.Millisecond)
				if err != nil {
					return
				}
				if l == nil {
					continue
				}
				if _, dup := held.LoadOrStore(l.Key, true); dup {
					t.Errorf("key %s held twice", l.Key)
				}
				processed.Add(int64(len(l.Messages)))
				held.Delete(l.Key)
				h.Release(l.Token, ReleaseOpts[int]{})
			}
		}()
	}
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			h.Put(string(rune('a'+k)), uint64(i), i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for processed.Load() < keys*perKey && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	h.Close()
	wg.Wait()
	if got := processed.Load(); got != keys*perKey {
		t.Fatalf("processed %d messages, want %d", got, keys*perKey)
	}
}

func TestHostReleaseRequeueKeepsLentMessages(t *testing.T) {
	h := NewHost[string, int](100)
	ctx := context.Background()
	h.Put("a", 1, "m1")
	h.Put("a", 2, "m2")
	l, _ := h.Acquire(ctx, time.Minute, 0)
	h.Put("a", 3, "m3")
	if !h.Release(l.Token, ReleaseOpts[int]{Requeue: true}) {
		t.Fatal("release failed")
	}
	if ok, _ := h.Put("a", 1, "m1 again"); ok {
		t.Fatal("a requeued message was accepted again")
	}
	l, _ = h.Acquire(ctx, time.Minute, 0)
	if l == nil || strings.Join(l.Messages, ",") != "m1,m2,m3" {
		t.Fatalf("after a requeue: %+v, want m1,m2,m3", l)
	}
}

// TestHostAcquireWhereSkips: a mailbox the caller skips is neither locked nor taken
// out of the ready queue; a waiting caller is woken only by a mailbox it accepts, and
// another caller still gets the skipped one.
func TestHostAcquireWhereSkips(t *testing.T) {
	h := NewHost[string, int](100)
	ctx := context.Background()
	skipA := func(key string, _ int, _ bool) bool { return key == "a" }
	h.Put("a", 1, "m1")
	if l, err := h.AcquireWhere(ctx, time.Minute, 0, skipA); err != nil || l != nil {
		t.Fatalf("skipping a: %+v %v", l, err)
	}
	got := make(chan *Lease[string, int], 1)
	go func() {
		l, _ := h.AcquireWhere(ctx, time.Minute, 10*time.Second, skipA)
		got <- l
	}()
	// The waiter must not take "a", however often "a" becomes ready.
	for i := 0; i < 3; i++ {
		l, _ := h.Acquire(ctx, time.Minute, time.Second)
		if l == nil || l.Key != "a" {
			t.Fatalf("unfiltered acquire %d: %+v, want a", i, l)
		}
		h.Release(l.Token, ReleaseOpts[int]{Requeue: true, SetState: true, State: i})
	}
	h.Put("b", 2, "m2")
	select {
	case l := <-got:
		if l == nil || l.Key != "b" {
			t.Fatalf("waiter got %+v, want b", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not woken by b")
	}
	// "a" is still ready for an unfiltered caller, with its state.
	l, _ := h.Acquire(ctx, time.Minute, 0)
	if l == nil || l.Key != "a" || !l.HasState || l.State != 2 {
		t.Fatalf("a after the skips: %+v", l)
	}
}

// TestHostAcquireWhereTimesOutWhenAllSkipped: a caller that skips every ready mailbox
// waits for its poll timeout (no busy loop) and returns nothing.
func TestHostAcquireWhereTimesOutWhenAllSkipped(t *testing.T) {
	h := NewHost[string, int](100)
	ctx := context.Background()
	calls := atomic.Int64{}
	skipAll := func(string, int, bool) bool { calls.Add(1); return true }
	h.Put("a", 1, "m1")
	start := time.Now()
	l, err := h.AcquireWhere(ctx, time.Minute, 200*time.Millisecond, skipAll)
	if err != nil || l != nil {
		t.Fatalf("acquire: %+v %v", l, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("returned after %v, before the poll timeout", d)
	}
	if n := calls.Load(); n > 2 {
		t.Fatalf("skip called %d times: the caller spun", n)
	}
}
