package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

func started(instance string) history.Event {
	return history.Event{EventID: 1, InstanceID: instance, ExecutionID: 1, Type: history.OrchestrationStarted, Name: "O", Version: "1.0.0"}
}

// TestFencedCommitLosesToConcurrentWriter: while a turn holds an instance, another
// writer appends to its history. The turn's commit must fail with ErrFenced and write
// nothing; the messages come back, and the next fetch sees the other writer's record.
func TestFencedCommitLosesToConcurrentWriter(t *testing.T) {
	st, _ := openTestStore(t, Config{})
	ctx := context.Background()
	if err := st.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "f1", Name: "O"}, 0); err != nil {
		t.Fatal(err)
	}
	item, err := st.FetchOrchestrationItem(ctx, 5*time.Second, 5*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %v %v", item, err)
	}

	// The competitor: same fence (no history yet), so exactly one of us can win.
	rival := turnRecord{V: recordVersion, Exec: 1, Events: []history.Event{started("f1")},
		Summary: store.InstanceSummary{Instance: "f1", Name: "rival", Status: store.StatusRunning, ExecutionID: 1}}
	data, _ := json.Marshal(rival)
	m := nats.NewMsg(st.subj.history("f1", 1))
	m.Data = data
	if _, err := st.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequenceForSubject(0, st.subj.historyAny("f1"))); err != nil {
		t.Fatalf("rival commit: %v", err)
	}

	err = st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("f1")}})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("ack after a rival commit: %v, want ErrFenced", err)
	}
	if err := st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1}); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("second ack with the same token: %v, want ErrLockLost", err)
	}
	sum, err := st.InstanceSummary(ctx, "f1")
	if err != nil || sum.Name != "rival" {
		t.Fatalf("summary %+v %v: the rival's record must be the only one", sum, err)
	}

	// The start message is redelivered; the store reloads and fences on the rival's
	// record, so this commit lands after it.
	item, err = st.FetchOrchestrationItem(ctx, 5*time.Second, 5*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("refetch: %v %v", item, err)
	}
	if len(item.History) != 1 || item.ExecutionID != 1 {
		t.Fatalf("refetched history %v exec %d: want the rival's event", item.History, item.ExecutionID)
	}
	next := history.Event{EventID: 2, InstanceID: "f1", ExecutionID: 1, Type: history.OrchestrationCompleted, Output: `"ok"`}
	if err := st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{next},
		Metadata: store.ExecutionMetadata{Status: store.StatusCompleted, Output: `"ok"`}}); err != nil {
		t.Fatalf("ack after reload: %v", err)
	}
	evs, err := st.ReadHistory(ctx, "f1", 0)
	if err != nil || len(evs) != 2 || evs[0].Type != history.OrchestrationStarted || evs[1].Type != history.OrchestrationCompleted {
		t.Fatalf("history %+v %v", evs, err)
	}
}

// TestRedeliveredMessageIsNotAppliedTwice: a committed turn whose inbox message was
// not acked (the process died) must not apply it again when it is redelivered, and
// must dispatch the turn's outbox again.
func TestRedeliveredMessageIsNotAppliedTwice(t *testing.T) {
	crash := true
	st, _ := openTestStore(t, Config{InboxAckWait: 500 * time.Millisecond, Hooks: Hooks{AfterCommit: func(string) error {
		if crash {
			crash = false
			return ErrHookStop
		}
		return nil
	}}})
	ctx := context.Background()
	if err := st.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "r1", Name: "O"}, 0); err != nil {
		t.Fatal(err)
	}
	item, err := st.FetchOrchestrationItem(ctx, 5*time.Second, 5*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %v %v", item, err)
	}
	work := store.WorkItem{Type: store.ActivityExecute, Instance: "r1", ExecutionID: 1, ID: 2, Name: "A"}
	sched := history.Event{EventID: 2, InstanceID: "r1", ExecutionID: 1, Type: history.ActivityScheduled, Name: "A"}
	if err := st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
		HistoryDelta: []history.Event{started("r1"), sched}, WorkerItems: []store.WorkItem{work}}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	// The hook stopped before dispatch: no work item yet. The start message comes
	// back after the ack wait, is recognised, acked, and re-drives the outbox.
	lease, err := st.FetchWorkItem(ctx, time.Second, 5*time.Second)
	if err != nil || lease != nil {
		t.Fatalf("work before redelivery: %v %v (the outbox must not have been sent)", lease, err)
	}
	// The redelivered start is consumed by a fetch call that returns nothing.
	got, err := st.FetchOrchestrationItem(ctx, 5*time.Second, 2*time.Second, nil)
	if err != nil || got != nil {
		t.Fatalf("the redelivered start produced an item %+v (%v); it was already applied", got, err)
	}
	lease, err = st.FetchWorkItem(ctx, time.Second, 5*time.Second)
	if err != nil || lease == nil || lease.Item.Name != "A" {
		t.Fatalf("work after redelivery: %+v %v", lease, err)
	}
	evs, _ := st.ReadHistory(ctx, "r1", 0)
	if len(evs) != 2 {
		t.Fatalf("history has %d events, want 2", len(evs))
	}
}
