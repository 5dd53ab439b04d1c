package actors

import (
	"context"
	"testing"
	"time"
)

// DropIdle drops idle mailboxes released before the cutoff, with their state, and
// keeps those with messages or a lock.
func TestHostDropIdle(t *testing.T) {
	h := NewHost[string, int](100)
	ctx := context.Background()
	for i, k := range []string{"a", "b", "held"} {
		h.Put(k, uint64(i+1), "m")
		l, err := h.Acquire(ctx, time.Minute, 0)
		if err != nil || l == nil || l.Key != k {
			t.Fatalf("acquire %s: %+v %v", k, l, err)
		}
		if k != "held" {
			h.Release(l.Token, ReleaseOpts[int]{SetState: true, State: i})
		}
	}
	h.Put("waiting", 10, "m") // a message nobody has taken yet
	before := time.Now().Add(-time.Hour)
	if n := h.DropIdle(before); n != 0 || h.Len() != 4 {
		t.Fatalf("DropIdle(an hour ago) dropped %d, %d left; want none dropped", n, h.Len())
	}
	if n := h.DropIdle(time.Now().Add(time.Second)); n != 2 || h.Len() != 2 {
		t.Fatalf("DropIdle(now) dropped %d, %d left; want a and b dropped, the held and the waiting mailbox kept", n, h.Len())
	}
	h.Put("a", 20, "m")
	l, err := h.AcquireWhere(ctx, time.Minute, 0, func(key string, _ int, _ bool) bool { return key != "a" })
	if err != nil || l == nil || l.Key != "a" || l.HasState {
		t.Fatalf("a after the drop: %+v %v; want a new mailbox without state", l, err)
	}
}
