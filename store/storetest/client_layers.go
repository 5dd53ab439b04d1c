package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Validations of the optional client and runtime layers of the contract
// (store.InboxPublisher, PendingReader, DeadLetterReader, StatusWatcher,
// CancelSignaler). They are duroxide-go's own: duroxide's provider has no such
// calls. A store that does not implement a layer skips its validation (the runtime
// then uses the fallback the layer's comment states).
var clientLayerTests = []Test{
	{"client_inbox_publish_delivers_and_dedups", TestInboxPublishDeliversAndDedups},
	{"client_pending_start_until_first_commit", TestPendingStartUntilFirstCommit},
	{"client_dead_letter_none", TestDeadLetterNone},
	{"client_status_watch_wakes_on_commit", TestStatusWatchWakesOnCommit},
	{"client_cancel_signal_reaches_watchers", TestCancelSignalReachesWatchers},
}

func layer[T any](t *testing.T, p store.Provider, name string) T {
	t.Helper()
	l, ok := p.(T)
	if !ok {
		t.Skipf("the store implements no %s", name)
	}
	return l
}

// TestInboxPublishDeliversAndDedups: a published client message reaches the
// instance's next fetch like an enqueued one, without creating the instance; a
// second publish with the same deduplication id adds nothing.
func TestInboxPublishDeliversAndDedups(t *testing.T, f Factory) {
	h := newHarness(t, f)
	pub := layer[store.InboxPublisher](t, h.p, "store.InboxPublisher")
	for range 2 {
		if err := pub.PublishInbox(h.ctx, startItem("pub-1"), "dedup-pub-1"); err != nil {
			t.Fatalf("publish start: %v", err)
		}
	}
	ev := store.WorkItem{Type: store.ExternalRaised, Instance: "pub-1", Name: "go", Data: `"x"`}
	if err := pub.PublishInbox(h.ctx, ev, ""); err != nil {
		t.Fatalf("publish event: %v", err)
	}
	h.wantNoInstance("pub-1")
	item := h.fetch(30 * time.Second)
	var types []store.WorkItemType
	for _, m := range item.Messages {
		types = append(types, m.Item.Type)
	}
	if item.Instance != "pub-1" || !reflect.DeepEqual(types, []store.WorkItemType{store.StartOrchestration, store.ExternalRaised}) {
		t.Fatalf("fetched %q with %v; want pub-1 with [StartOrchestration ExternalRaised] (the duplicate start dropped)", item.Instance, types)
	}
	if err := pub.PublishInbox(h.ctx, store.WorkItem{Type: store.ExternalRaised, Name: "go"}, ""); err == nil {
		t.Fatal("publish with an empty instance id: no error")
	}
}

// TestPendingStartUntilFirstCommit: a start waiting in the inbox is reported (and
// listed) until the turn that consumed it commits; then the instance has history and
// is listed as pending no more.
func TestPendingStartUntilFirstCommit(t *testing.T, f Factory) {
	h := newHarness(t, f)
	pr := layer[store.PendingReader](t, h.p, "store.PendingReader")
	if start, n, err := pr.PendingStart(h.ctx, "pend-1"); err != nil || start != nil || n != 0 {
		t.Fatalf("pending of an unknown instance: %v, %d, %v; want nil, 0, nil", start, n, err)
	}
	h.enqueue(startItem("pend-1"))
	h.f.Settle(t, h.p)
	start, n, err := pr.PendingStart(h.ctx, "pend-1")
	if err != nil || start == nil || start.Name != testOrch || n != 1 {
		t.Fatalf("pending start: %+v, %d, %v; want the start of %s, 1 message", start, n, err, testOrch)
	}
	ids, next, err := pr.PendingStarts(h.ctx, testOrch, 10, "")
	if err != nil || !reflect.DeepEqual(ids, []string{"pend-1"}) || next != "" {
		t.Fatalf("pending starts of %s: %v, next %q, %v; want [pend-1]", testOrch, ids, next, err)
	}
	if ids, _, err := pr.PendingStarts(h.ctx, "OtherOrch", 10, ""); err != nil || len(ids) != 0 {
		t.Fatalf("pending starts of OtherOrch: %v, %v; want none", ids, err)
	}
	item := h.fetch(30 * time.Second)
	if start, n, err := pr.PendingStart(h.ctx, "pend-1"); err != nil || start == nil || n != 1 {
		t.Fatalf("pending start while its turn runs: %+v, %d, %v; want it still pending", start, n, err)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("pend-1", 1)},
		Metadata: store.ExecutionMetadata{OrchestrationName: testOrch, OrchestrationVersion: "1.0.0"}})
	// The consumed start may stay counted a moment after the commit (its removal
	// may be asynchronous), but the instance exists and is listed as pending no more.
	if _, err := h.p.InstanceSummary(h.ctx, "pend-1"); err != nil {
		t.Fatalf("summary after the first commit: %v", err)
	}
	if ids, _, err := pr.PendingStarts(h.ctx, "", 10, ""); err != nil || len(ids) != 0 {
		t.Fatalf("pending starts after the first commit: %v, %v; want none", ids, err)
	}
}

// TestDeadLetterNone: an instance none of whose messages was rejected has no
// dead-letter reason.
func TestDeadLetterNone(t *testing.T, f Factory) {
	h := newHarness(t, f)
	dl := layer[store.DeadLetterReader](t, h.p, "store.DeadLetterReader")
	h.enqueue(startItem("dl-1"))
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("dl-1", 1)},
		Metadata: store.ExecutionMetadata{OrchestrationName: testOrch}})
	for _, id := range []string{"dl-1", "dl-unknown"} {
		if why, err := dl.LastDeadLetter(h.ctx, id); err != nil || why != "" {
			t.Fatalf("last dead letter of %q: %q, %v; want none", id, why, err)
		}
	}
}

// TestStatusWatchWakesOnCommit: a watcher of an instance is notified after a commit
// that changes its status.
func TestStatusWatchWakesOnCommit(t *testing.T, f Factory) {
	h := newHarness(t, f)
	w := layer[store.StatusWatcher](t, h.p, "store.StatusWatcher")
	woke := make(chan struct{}, 1)
	stop, err := w.WatchStatus("watch-1", func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("watch status: %v", err)
	}
	defer stop()
	h.enqueue(startItem("watch-1"))
	item := h.fetch(30 * time.Second)
	select {
	case <-woke: // spurious notices are allowed; drain one
	default:
	}
	complete := event(2, "watch-1", 1, history.OrchestrationCompleted)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("watch-1", 1), complete},
		Metadata: store.ExecutionMetadata{Status: store.StatusCompleted, Output: "done", OrchestrationName: testOrch}})
	select {
	case <-woke:
	case <-time.After(waitFor):
		t.Fatalf("no status notice within %v of the commit that completed the instance", waitFor)
	}
}

// TestCancelSignalReachesWatchers: a cancellation signal reaches a watcher with the
// refs it named.
func TestCancelSignalReachesWatchers(t *testing.T, f Factory) {
	h := newHarness(t, f)
	sig := layer[store.CancelSignaler](t, h.p, "store.CancelSignaler")
	got := make(chan []store.ActivityRef, 4)
	stop, err := sig.WatchCancellations(func(refs []store.ActivityRef) { got <- refs })
	if err != nil {
		t.Fatalf("watch cancellations: %v", err)
	}
	defer stop()
	refs := []store.ActivityRef{{Instance: "sig-1", ExecutionID: 1, ID: 2, ScheduledAtMs: 1700000000000}, {Instance: "sig-1", ExecutionID: 1, ID: 3}}
	if err := sig.SignalCancelled("sig-1", refs); err != nil {
		t.Fatalf("signal: %v", err)
	}
	select {
	case r := <-got:
		if !reflect.DeepEqual(r, refs) {
			t.Fatalf("signal carried %+v; want %+v", r, refs)
		}
	case <-time.After(waitFor):
		t.Fatalf("no cancellation signal within %v", waitFor)
	}
	if err := sig.SignalCancelled("sig-1", nil); err != nil {
		t.Fatalf("signal of no refs: %v", err)
	}
}
