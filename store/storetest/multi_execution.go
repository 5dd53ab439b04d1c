package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

var multiExecutionTests = []Test{
	{"test_execution_isolation", TestExecutionIsolation},
	{"test_latest_execution_detection", TestLatestExecutionDetection},
	{"test_execution_id_sequencing", TestExecutionIDSequencing},
	{"test_continue_as_new_creates_new_execution", TestContinueAsNewCreatesNewExecution},
	{"test_execution_history_persistence", TestExecutionHistoryPersistence},
}

func types(evs []history.Event) []history.EventType {
	out := make([]history.EventType, len(evs))
	for i := range evs {
		out[i] = evs[i].Type
	}
	return out
}

func sameTypes(evs []history.Event, want ...history.EventType) bool {
	got := types(evs)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func completed(id uint64, instance string, exec uint64, output string) history.Event {
	e := event(id, instance, exec, history.OrchestrationCompleted)
	e.Output = output
	return e
}

// TestExecutionIsolation: each execution has its own history; a read without an
// execution returns the latest.
func TestExecutionIsolation(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItemExec("instance-A", 1))
	item1 := h.fetch(30 * time.Second)
	h.ack(item1.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{
		started("instance-A", 1), scheduled(2, "instance-A", 1, "Activity1", `"input1"`), completed(3, "instance-A", 1, `"result1"`)}})
	h.enqueue(startItemExec("instance-A", 2))
	item2 := h.fetch(30 * time.Second)
	h.ack(item2.LockToken, store.Commit{ExecutionID: 2, HistoryDelta: []history.Event{
		started("instance-A", 2), completed(2, "instance-A", 2, `"result2"`)}})

	if evs := h.history("instance-A", 1); !sameTypes(evs, history.OrchestrationStarted, history.ActivityScheduled, history.OrchestrationCompleted) {
		t.Fatalf("execution 1: %v", types(evs))
	}
	if evs := h.history("instance-A", 2); !sameTypes(evs, history.OrchestrationStarted, history.OrchestrationCompleted) {
		t.Fatalf("execution 2: %v", types(evs))
	}
	if evs := h.history("instance-A", 0); !sameTypes(evs, history.OrchestrationStarted, history.OrchestrationCompleted) {
		t.Fatalf("latest: %v, want execution 2's", types(evs))
	}
}

// TestLatestExecutionDetection: a read without an execution returns the latest one.
func TestLatestExecutionDetection(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItemExec("instance-A", 1))
	item1 := h.fetch(30 * time.Second)
	h.ack(item1.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{scheduled(1, "instance-A", 1, "A", "")}})
	h.enqueue(startItemExec("instance-A", 2))
	item2 := h.fetch(30 * time.Second)
	h.ack(item2.LockToken, store.Commit{ExecutionID: 2, HistoryDelta: []history.Event{scheduled(1, "instance-A", 2, "B", "")}})

	if evs := h.history("instance-A", 0); len(evs) != 1 || evs[0].Name != "B" {
		t.Fatalf("latest: %+v, want execution 2's ActivityScheduled B", evs)
	}
	if evs := h.history("instance-A", 1); len(evs) != 1 || evs[0].Name != "A" {
		t.Fatalf("execution 1: %+v, want ActivityScheduled A", evs)
	}
}

// TestExecutionIDSequencing: the fetched item reports the instance's current
// execution. A new instance has none yet (Go: 0; duroxide reports the execution the
// start will create, 1).
func TestExecutionIDSequencing(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItemExec("instance-A", 1))
	item1 := h.fetch(30 * time.Second)
	if item1.ExecutionID != 0 {
		t.Fatalf("new instance: execution %d, want 0 (none yet)", item1.ExecutionID)
	}
	h.ack(item1.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}, Metadata: testMetadata()})

	h.enqueue(startItemExec("instance-A", 2))
	item2 := h.fetch(30 * time.Second)
	if item2.ExecutionID != 1 {
		t.Fatalf("after execution 1: execution %d, want 1", item2.ExecutionID)
	}
	h.ack(item2.LockToken, store.Commit{ExecutionID: 2, HistoryDelta: []history.Event{started("instance-A", 2)}, Metadata: testMetadata()})

	h.enqueue(startItemExec("instance-A", 3))
	item3 := h.fetch(30 * time.Second)
	if item3.ExecutionID != 2 {
		t.Fatalf("current execution %d, want 2", item3.ExecutionID)
	}
}

// TestContinueAsNewCreatesNewExecution: acking a ContinueAsNew message's turn with
// the next execution id creates that execution.
func TestContinueAsNewCreatesNewExecution(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItemExec("instance-A", 1))
	item1 := h.fetch(30 * time.Second)
	h.ack(item1.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})

	h.enqueue(store.WorkItem{Type: store.ContinueAsNew, Instance: "instance-A", Name: testOrch, Version: "1.0.0",
		Input: `"new-input"`, ExecutionID: 2})
	item2 := h.fetch(30 * time.Second)
	if item2.ExecutionID != 1 || len(item2.Messages) != 1 || item2.Messages[0].Item.Type != store.ContinueAsNew {
		t.Fatalf("fetched execution %d with %d messages, want execution 1 with the ContinueAsNew", item2.ExecutionID, len(item2.Messages))
	}
	st := started("instance-A", 2)
	st.Input = `"new-input"`
	h.ack(item2.LockToken, store.Commit{ExecutionID: 2, HistoryDelta: []history.Event{st}})

	if sum := h.summary("instance-A"); sum.ExecutionID != 2 {
		t.Fatalf("current execution %d, want 2", sum.ExecutionID)
	}
	if evs := h.history("instance-A", 2); len(evs) != 1 || evs[0].Input != `"new-input"` {
		t.Fatalf("execution 2: %+v", evs)
	}
	if evs := h.history("instance-A", 1); len(evs) != 1 {
		t.Fatalf("execution 1: %+v, want its own history", evs)
	}
}

// TestExecutionHistoryPersistence: every execution's history persists on its own.
func TestExecutionHistoryPersistence(t *testing.T, f Factory) {
	h := newHarness(t, f)
	for exec := uint64(1); exec <= 3; exec++ {
		h.enqueue(startItemExec("instance-A", exec))
		item := h.fetch(30 * time.Second)
		h.ack(item.LockToken, store.Commit{ExecutionID: exec, HistoryDelta: []history.Event{
			scheduled(1, "instance-A", exec, fmt.Sprintf("Activity-%d", exec), fmt.Sprintf(`"input-%d"`, exec))}})
	}
	for exec := uint64(1); exec <= 3; exec++ {
		if evs := h.history("instance-A", exec); len(evs) != 1 || evs[0].Name != fmt.Sprintf("Activity-%d", exec) {
			t.Fatalf("execution %d: %+v", exec, evs)
		}
	}
	if evs := h.history("instance-A", 0); len(evs) != 1 || evs[0].Name != "Activity-3" {
		t.Fatalf("latest: %+v, want execution 3's", evs)
	}
}
