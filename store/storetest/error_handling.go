package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

var errorHandlingTests = []Test{
	{"test_invalid_lock_token_on_ack", TestInvalidLockTokenOnAck},
	{"test_duplicate_event_id_rejection", TestDuplicateEventIDRejection},
	{"test_missing_instance_metadata", TestMissingInstanceMetadata},
	{"test_corrupted_serialization_data", TestCorruptedSerializationData},
	{"test_lock_expiration_during_ack", TestLockExpirationDuringAck},
	{"test_status_only_commit_not_dropped", TestStatusOnlyCommitNotDropped},
}

// TestInvalidLockTokenOnAck: an unknown token is rejected with [store.ErrLockLost].
func TestInvalidLockTokenOnAck(t *testing.T, f Factory) {
	h := newHarness(t, f)
	err := h.p.AckOrchestrationItem(h.ctx, "invalid-token", store.Commit{ExecutionID: 1})
	if !isLockLost(err) {
		t.Fatalf("ack with an invalid token: %v, want ErrLockLost", err)
	}
}

// TestDuplicateEventIDRejection: a delta that repeats an existing event id is
// rejected and the history is unchanged.
func TestDuplicateEventIDRejection(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})

	h.enqueue(startItem("instance-A"))
	item2 := h.fetch(30 * time.Second)
	err := h.p.AckOrchestrationItem(h.ctx, item2.LockToken, store.Commit{ExecutionID: 1,
		HistoryDelta: []history.Event{scheduled(1, "instance-A", 1, "Activity", "{}")}})
	if err == nil {
		t.Fatal("ack with a duplicate event id succeeded")
	}
	evs := h.history("instance-A", 0)
	if len(evs) != 1 || evs[0].Type != history.OrchestrationStarted {
		t.Fatalf("history %+v, want only OrchestrationStarted", evs)
	}
}

// TestMissingInstanceMetadata: reading a missing instance yields an empty history.
func TestMissingInstanceMetadata(t *testing.T, f Factory) {
	h := newHarness(t, f)
	if evs := h.history("non-existent-instance", 0); len(evs) != 0 {
		t.Fatalf("history of a missing instance: %+v, want empty", evs)
	}
}

// TestCorruptedSerializationData: corrupt data never makes a fetch fail or panic. An
// undecodable queue message is not handed out; an undecodable history is reported in
// HistoryError, with the lock held.
func TestCorruptedSerializationData(t *testing.T, f Factory) {
	h := newHarness(t, f)
	if _, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, 0, nil); err != nil {
		t.Fatalf("fetch on an empty store: %v", err)
	}

	h.f.EnqueueRaw(t, h.p, "instance-A", []byte(`{"type": "StartOrchestration", "instance": `))
	h.fetchNone(30*time.Second, "an undecodable message must not be handed out")

	h.createInstance("instance-B")
	h.f.CorruptHistory(t, h.p, "instance-B")
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: "instance-B", Name: "poke", Data: "{}"})
	item := h.fetch(30 * time.Second)
	if item.Instance != "instance-B" || item.HistoryError == "" || len(item.History) != 0 {
		t.Fatalf("fetch of a corrupted instance: %q, history error %q, %d events; want instance-B with a history error and no events",
			item.Instance, item.HistoryError, len(item.History))
	}
	h.fetchNone(30*time.Second, "the corrupted instance's lock is held")
}

// TestLockExpirationDuringAck: an ack after the lock expired is rejected.
func TestLockExpirationDuringAck(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueue(startItem("instance-A"))
	item := h.fetch(h.lock)
	sleep(h.lock + 100*time.Millisecond)
	err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started("instance-A", 1)}})
	if err == nil {
		t.Fatal("ack after the lock expired succeeded")
	}
	if !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("ack after the lock expired: %v, want ErrLockLost", err)
	}
}

// TestStatusOnlyCommitNotDropped (duroxide-go's own): a commit whose only change is
// the status and output in its metadata is applied (duroxide's ack updates the
// execution's status from the metadata), or refused with [store.ErrInvalidCommit]
// with nothing written and the lock still held; it is never acked and silently
// dropped. For an instance that does not exist yet, the same commit either creates it
// with that status or is refused and creates nothing.
func TestStatusOnlyCommitNotDropped(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const inst = "status-only-commit"
	h.createInstance(inst)
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: inst, Name: "Trigger", Data: "{}"})
	item := h.fetch(30 * time.Second)
	md := store.ExecutionMetadata{Status: store.StatusCompleted, Output: `"done"`}
	err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1, Metadata: md})
	switch {
	case err == nil:
		if sum := h.summary(inst); sum.Status != store.StatusCompleted || sum.Output != `"done"` {
			t.Fatalf("status-only commit acked, but the instance is %s with output %q; want Completed with %q",
				sum.Status, sum.Output, `"done"`)
		}
		h.fetchNone(30*time.Second, "the committed turn consumed its message")
	case errors.Is(err, store.ErrInvalidCommit):
		if sum := h.summary(inst); sum.Status != store.StatusRunning {
			t.Fatalf("refused status-only commit changed the status to %s", sum.Status)
		}
		h.abandon(item.LockToken, 0, true) // the lock is still held
	default:
		t.Fatalf("status-only commit: %v; want it applied or ErrInvalidCommit", err)
	}

	const fresh = "status-only-commit-new"
	h.enqueue(startItem(fresh))
	item = h.fetch(30 * time.Second)
	md.OrchestrationName, md.OrchestrationVersion = testOrch, "1.0.0"
	err = h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: 1, Metadata: md})
	sum, serr := h.p.InstanceSummary(h.ctx, fresh)
	switch {
	case err == nil:
		if serr != nil || sum.Status != store.StatusCompleted {
			t.Fatalf("status-only commit creating %q acked, but its summary is %+v (%v); want Completed", fresh, sum, serr)
		}
	case errors.Is(err, store.ErrInvalidCommit):
		if !errors.Is(serr, store.ErrNotFound) {
			t.Fatalf("refused status-only commit: summary %+v (%v); want ErrNotFound", sum, serr)
		}
		h.abandon(item.LockToken, 0, true)
	default:
		t.Fatalf("status-only commit creating an instance: %v; want it applied or ErrInvalidCommit", err)
	}
}
