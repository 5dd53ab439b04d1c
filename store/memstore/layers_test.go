package memstore_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// TestPublishInboxDedup: a client publish is delivered like an enqueue, a second
// one with the same deduplication id within the window adds nothing, one after the
// window does, and runtime-only messages are refused.
func TestPublishInboxDedup(t *testing.T) {
	ctx := context.Background()
	clk := &virtualClock{now: epoch}
	s := memstore.New(memstore.Options{Clock: clk})
	defer s.Close()
	start := store.WorkItem{Type: store.StartOrchestration, Instance: "pub-1", Name: "O"}
	for range 2 {
		if err := s.PublishInbox(ctx, start, "d-1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, n, _ := s.PendingStart(ctx, "pub-1"); n != 1 {
		t.Fatalf("%d messages after two publishes with one dedup id, want 1", n)
	}
	clk.Advance(memstore.DedupWindow)
	if err := s.PublishInbox(ctx, start, "d-1"); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := s.PendingStart(ctx, "pub-1"); n != 2 {
		t.Fatalf("%d messages after a publish past the window, want 2", n)
	}
	err := s.PublishInbox(ctx, store.WorkItem{Type: store.ActivityCompleted, Instance: "pub-1"}, "")
	if err == nil || !strings.Contains(err.Error(), "not a client message") {
		t.Fatalf("publish of a runtime message: %v, want a refusal", err)
	}
	err = s.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "pub-2", Name: "O", ParentInstance: "p"}, "")
	if err == nil || !strings.Contains(err.Error(), "parent") {
		t.Fatalf("client start naming a parent: %v, want a refusal", err)
	}
}

// TestPendingStarts: starts waiting for instances without history are listed in id
// order, page by page, until their first turn commits.
func TestPendingStarts(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	for _, id := range []string{"p-c", "p-a", "p-b"} {
		if err := s.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "O"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "p-x", Name: "Other"}, ""); err != nil {
		t.Fatal(err)
	}
	ids, next, err := s.PendingStarts(ctx, "O", 2, "")
	if err != nil || !reflect.DeepEqual(ids, []string{"p-a", "p-b"}) || next != "p-b" {
		t.Fatalf("first page: %v next %q (%v), want [p-a p-b] next p-b", ids, next, err)
	}
	ids, next, err = s.PendingStarts(ctx, "O", 2, next)
	if err != nil || !reflect.DeepEqual(ids, []string{"p-c"}) || next != "" {
		t.Fatalf("second page: %v next %q (%v), want [p-c]", ids, next, err)
	}
	if _, _, err := s.PendingStarts(ctx, "", 0, ""); err == nil {
		t.Fatal("limit 0: no error")
	}
	item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil || item.Instance != "p-c" {
		t.Fatalf("fetch: %+v, %v; want p-c (published first)", item, err)
	}
	if ids, _, _ := s.PendingStarts(ctx, "O", 10, ""); !reflect.DeepEqual(ids, []string{"p-a", "p-b", "p-c"}) {
		t.Fatalf("while p-c's turn runs: %v, want it still pending", ids)
	}
	err = s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
		HistoryDelta: []history.Event{{EventID: 1, InstanceID: "p-c", ExecutionID: 1, Type: history.OrchestrationStarted, Name: "O"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := s.PendingStarts(ctx, "", 10, ""); !reflect.DeepEqual(ids, []string{"p-a", "p-b", "p-x"}) {
		t.Fatalf("after p-c's first commit: %v, want [p-a p-b p-x]", ids)
	}
}

// TestLastDeadLetter: the reason of an instance's last rejected message.
func TestLastDeadLetter(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	if err := s.EnqueueRaw(ctx, "dl-1", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if why, _ := s.LastDeadLetter(ctx, "dl-1"); why != "" {
		t.Fatalf("reason before any fetch: %q, want none", why)
	}
	if item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil); err != nil || item != nil {
		t.Fatalf("fetch: %+v, %v; want nothing handed out", item, err)
	}
	if why, _ := s.LastDeadLetter(ctx, "dl-1"); !strings.Contains(why, "undecodable") {
		t.Fatalf("reason %q, want the decode failure", why)
	}
	if why, _ := s.LastDeadLetter(ctx, "dl-other"); why != "" {
		t.Fatalf("reason of another instance: %q, want none", why)
	}
}

// TestWatchStatus: a watcher is notified after a commit that changes the status,
// outside the store's lock (it may read the store), and not after stop.
func TestWatchStatus(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	var seen []string
	stop, err := s.WatchStatus("w-1", func() {
		sum, err := s.InstanceSummary(ctx, "w-1") // would deadlock under the lock
		if err == nil {
			seen = append(seen, sum.Status)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	createWithTimer(t, s, "w-1", time.Now().Add(time.Hour))
	if !reflect.DeepEqual(seen, []string{store.StatusRunning}) {
		t.Fatalf("notices %v, want one after the creating commit", seen)
	}
	stop()
	if _, err := s.DeleteInstance(ctx, "w-1", true); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("notices %v after stop", seen)
	}
}

// TestCancelSignalAcrossHandles: a signal sent on one handle reaches the watchers
// of every handle of the backend before SignalCancelled returns, and none after
// their stop.
func TestCancelSignalAcrossHandles(t *testing.T) {
	a := memstore.New(memstore.Options{})
	defer a.Close()
	b := a.Open(memstore.HandleOptions{})
	defer b.Close()
	var got [][]store.ActivityRef
	stop, err := b.WatchCancellations(func(refs []store.ActivityRef) { got = append(got, refs) })
	if err != nil {
		t.Fatal(err)
	}
	refs := []store.ActivityRef{{Instance: "c-1", ExecutionID: 1, ID: 2, ScheduledAtMs: 5}}
	if err := a.SignalCancelled("c-1", refs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, [][]store.ActivityRef{refs}) {
		t.Fatalf("watcher got %+v, want one signal of %+v", got, refs)
	}
	stop()
	if err := a.SignalCancelled("c-1", refs); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("watcher got %d signals, want none after stop", len(got)-1)
	}
}
