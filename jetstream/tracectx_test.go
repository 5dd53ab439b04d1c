package jetstream

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

const (
	tpStart = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tpTurn  = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
	tpAct   = "00-4bf92f3577b34da6a3ce929d0e0e4736-2222222222222222-01"
)

// The trace context of a work item travels as NATS headers through every hop: a
// client's inbox message, a turn's work item and timer (also when the outbox is
// re-driven after a crash between commit and dispatch), and an activity's result.
// It is never in a body.
func TestTraceContextTravelsInHeaders(t *testing.T) {
	crash := true
	st, _ := openTestStore(t, Config{InboxAckWait: 500 * time.Millisecond, Hooks: Hooks{AfterCommit: func(string) error {
		if crash {
			crash = false
			return ErrHookStop
		}
		return nil
	}}})
	ctx := context.Background()
	if data, _ := json.Marshal(store.WorkItem{Type: store.StartOrchestration, TraceParent: tpStart, TraceState: "a=b"}); strings.Contains(string(data), "00f067aa") {
		t.Fatalf("the trace context is in the JSON body: %s", data)
	}
	if err := st.PublishInbox(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "t1", Name: "O", TraceParent: tpStart, TraceState: "a=b"}, ""); err != nil {
		t.Fatal(err)
	}
	item, err := st.FetchOrchestrationItem(ctx, 5*time.Second, 5*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %v %v", item, err)
	}
	if m := item.Messages[0].Item; m.TraceParent != tpStart || m.TraceState != "a=b" {
		t.Fatalf("start fetched with trace context %q %q", m.TraceParent, m.TraceState)
	}
	work := store.WorkItem{Type: store.ActivityExecute, Instance: "t1", ExecutionID: 1, ID: 2, Name: "A", TraceParent: tpTurn}
	timer := store.WorkItem{Type: store.TimerFired, Instance: "t1", ExecutionID: 1, ID: 3, FireAtMs: time.Now().Add(6 * time.Second).UnixMilli(), TraceParent: tpTurn}
	events := []history.Event{started("t1"),
		{EventID: 2, InstanceID: "t1", ExecutionID: 1, Type: history.ActivityScheduled, Name: "A"},
		{EventID: 3, InstanceID: "t1", ExecutionID: 1, Type: history.TimerCreated, FireAtMs: timer.FireAtMs}}
	if err := st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: events,
		WorkerItems: []store.WorkItem{work}, OrchestratorItems: []store.WorkItem{timer}}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	// The hook stopped before dispatch; the redelivered start re-drives the outbox
	// from the history record, whose headers hold the turn's context.
	if got, err := st.FetchOrchestrationItem(ctx, 5*time.Second, 2*time.Second, nil); err != nil || got != nil {
		t.Fatalf("redelivered start: %+v %v", got, err)
	}
	lease, err := st.FetchWorkItem(ctx, 5*time.Second, 5*time.Second)
	if err != nil || lease == nil {
		t.Fatalf("work: %+v %v", lease, err)
	}
	if lease.Item.TraceParent != tpTurn {
		t.Fatalf("work item fetched with trace context %q, want the turn's", lease.Item.TraceParent)
	}
	done := store.WorkItem{Type: store.ActivityCompleted, Instance: "t1", ExecutionID: 1, ID: 2, Result: `"r"`, TraceParent: tpAct}
	if err := st.AckWorkItem(ctx, lease.LockToken, &done); err != nil {
		t.Fatal(err)
	}
	got := map[store.WorkItemType]string{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		item, err := st.FetchOrchestrationItem(ctx, 5*time.Second, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		if item == nil {
			continue
		}
		for _, m := range item.Messages {
			got[m.Item.Type] = m.Item.TraceParent
		}
		if err := st.AbandonOrchestrationItem(ctx, item.LockToken, 0, true); err != nil {
			t.Fatal(err)
		}
		if len(got) < 2 {
			time.Sleep(50 * time.Millisecond) // the timer fires 6 s after the commit
		}
	}
	if got[store.ActivityCompleted] != tpAct || got[store.TimerFired] != tpTurn {
		t.Fatalf("results fetched with trace contexts %v; want the activity's on its result and the turn's on the fired timer", got)
	}
}

// A trace header too long to be one is ignored; the message is processed.
func TestOversizedTraceHeaderIsIgnored(t *testing.T) {
	st, nc := openTestStore(t, Config{})
	m := nats.NewMsg("duroxide.inbox.t2")
	m.Data = []byte(`{"type":"StartOrchestration","name":"O"}`)
	m.Header.Set(HeaderTraceParent, strings.Repeat("0", 2000))
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	item, err := st.FetchOrchestrationItem(context.Background(), 5*time.Second, 5*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %v %v", item, err)
	}
	if tp := item.Messages[0].Item.TraceParent; tp != "" {
		t.Fatalf("kept a %d-byte traceparent", len(tp))
	}
}
