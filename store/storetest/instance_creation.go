package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

var instanceCreationTests = []Test{
	{"test_instance_creation_via_metadata", TestInstanceCreationViaMetadata},
	{"test_no_instance_creation_on_enqueue", TestNoInstanceCreationOnEnqueue},
	{"test_null_version_handling", TestNullVersionHandling},
	{"test_sub_orchestration_instance_creation", TestSubOrchestrationInstanceCreation},
}

// startName is the orchestration name a fetched item carries: from the history of an
// existing instance, from its start message otherwise (store.OrchestrationItem has no
// name field; duroxide's item has orchestration_name).
func startName(item *store.OrchestrationItem) string {
	if len(item.History) > 0 {
		return item.History[0].Name
	}
	for _, m := range item.Messages {
		if m.Item.Type == store.StartOrchestration {
			return m.Item.Name
		}
	}
	return ""
}

func (h *harness) wantNoInstance(instance string) {
	h.t.Helper()
	if _, err := h.p.InstanceSummary(h.ctx, instance); !errors.Is(err, store.ErrNotFound) {
		h.t.Fatalf("summary of %q before its first ack: %v, want ErrNotFound", instance, err)
	}
}

// TestInstanceCreationViaMetadata: the instance comes into existence with the first
// ack, with the version from the ack's metadata.
func TestInstanceCreationViaMetadata(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)
	if item.Instance != "instance-A" || startName(item) != testOrch || item.ExecutionID != 0 || len(item.History) != 0 {
		t.Fatalf("first fetch: %q %q execution %d, %d events; want instance-A TestOrch, no execution, no history",
			item.Instance, startName(item), item.ExecutionID, len(item.History))
	}
	h.wantNoInstance("instance-A")

	st := started("instance-A", 1)
	st.Version = "2.0.0"
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{st},
		Metadata: store.ExecutionMetadata{OrchestrationName: testOrch, OrchestrationVersion: "2.0.0"}})

	h.enqueue(startItem("instance-A"))
	item2 := h.fetch(30 * time.Second)
	if item2.Instance != "instance-A" || startName(item2) != testOrch || item2.ExecutionID != 1 || len(item2.History) != 1 {
		t.Fatalf("second fetch: %q %q execution %d, %d events; want instance-A TestOrch execution 1 with OrchestrationStarted",
			item2.Instance, startName(item2), item2.ExecutionID, len(item2.History))
	}
	if v := h.summary("instance-A").Version; v != "2.0.0" || item2.History[0].Version != "2.0.0" {
		t.Fatalf("version %q (history %q), want 2.0.0 from the metadata", v, item2.History[0].Version)
	}
	h.ack(item2.LockToken, store.Commit{ExecutionID: 1})
}

// TestNoInstanceCreationOnEnqueue: enqueueing a start creates nothing; the start can
// be fetched all the same.
func TestNoInstanceCreationOnEnqueue(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-B"))
	h.f.Settle(t, h.p)
	h.wantNoInstance("instance-B")
	item := h.fetch(30 * time.Second)
	if item.Instance != "instance-B" {
		t.Fatalf("fetched %q, want instance-B", item.Instance)
	}
	h.wantNoInstance("instance-B")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-B", 1)}, Metadata: testMetadata()})
	if sum := h.summary("instance-B"); sum.Name != testOrch || sum.Version != "1.0.0" {
		t.Fatalf("summary %+v after the first ack", sum)
	}
}

// TestNullVersionHandling: a start without a version is fine; the version comes from
// the ack's metadata.
func TestNullVersionHandling(t *testing.T, f Factory) {
	h := newHarness(t, f)
	start := startItem("instance-C")
	start.Version = ""
	h.enqueue(start)
	item := h.fetch(30 * time.Second)
	if item.Instance != "instance-C" {
		t.Fatalf("fetched %q, want instance-C", item.Instance)
	}
	st := started("instance-C", 1)
	st.Version = "3.0.0"
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{st},
		Metadata: store.ExecutionMetadata{OrchestrationName: testOrch, OrchestrationVersion: "3.0.0"}})

	h.enqueue(startItem("instance-C"))
	item2 := h.fetch(30 * time.Second)
	if v := h.summary("instance-C").Version; v != "3.0.0" || item2.History[0].Version != "3.0.0" {
		t.Fatalf("version %q (history %q), want 3.0.0 from the metadata", v, item2.History[0].Version)
	}
	h.ack(item2.LockToken, store.Commit{ExecutionID: 1})
}

// TestSubOrchestrationInstanceCreation: a child started by a parent's ack exists only
// after its own first ack.
func TestSubOrchestrationInstanceCreation(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const child = "parent-instance::child-instance"
	h.enqueue(startItem("parent-instance"))
	parent := h.fetch(30 * time.Second)
	pst := started("parent-instance", 1)
	pst.Name = "ParentOrch"
	h.ack(parent.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{pst},
		OrchestratorItems: []store.WorkItem{{Type: store.StartOrchestration, Instance: child, Name: "ChildOrch", Input: "{}",
			ParentInstance: "parent-instance", ParentExecutionID: 1, ParentID: 1, ExecutionID: 1}},
		Metadata: store.ExecutionMetadata{OrchestrationName: "ParentOrch", OrchestrationVersion: "1.0.0"}})

	item := h.fetch(30 * time.Second)
	if item.Instance != child || startName(item) != "ChildOrch" {
		t.Fatalf("fetched %q %q, want the child's start", item.Instance, startName(item))
	}
	h.wantNoInstance(child)
	cst := started(child, 1)
	cst.Name, cst.Version, cst.ParentInstance, cst.ParentID = "ChildOrch", "1.5.0", "parent-instance", 1
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{cst},
		Metadata: store.ExecutionMetadata{OrchestrationName: "ChildOrch", OrchestrationVersion: "1.5.0"}})

	h.enqueue(store.WorkItem{Type: store.StartOrchestration, Instance: child, Name: "ChildOrch", Input: "{}", ExecutionID: 1})
	item2 := h.fetch(30 * time.Second)
	sum := h.summary(child)
	if item2.Instance != child || sum.Version != "1.5.0" || sum.ParentInstance != "parent-instance" {
		t.Fatalf("child %q: summary %+v, want version 1.5.0 and parent parent-instance", item2.Instance, sum)
	}
	h.ack(item2.LockToken, store.Commit{ExecutionID: 1})
}
