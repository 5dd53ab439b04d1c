package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// duroxide reads custom status with get_custom_status(instance, last_seen_version),
// which returns the status only when its version is newer. Here the read is
// InstanceSummary (CustomStatus, CustomStatusVersion) and the caller compares.
var customStatusTests = []Test{
	{"test_custom_status_set", TestCustomStatusSet},
	{"test_custom_status_clear", TestCustomStatusClear},
	{"test_custom_status_none_preserves", TestCustomStatusNonePreserves},
	{"test_custom_status_version_increments", TestCustomStatusVersionIncrements},
	{"test_custom_status_polling_no_change", TestCustomStatusPollingNoChange},
	{"test_custom_status_nonexistent_instance", TestCustomStatusNonexistentInstance},
	{"test_custom_status_default_on_new_instance", TestCustomStatusDefaultOnNewInstance},
}

// customStatus is get_custom_status: (status, version, true) when the instance's
// version is newer than lastSeen, ok false when unchanged or missing.
func (h *harness) customStatus(instance string, lastSeen uint64) (*string, uint64, bool) {
	h.t.Helper()
	sum, err := h.p.InstanceSummary(h.ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, false
	}
	if err != nil {
		h.t.Fatalf("summary of %q: %v", instance, err)
	}
	if sum.CustomStatusVersion <= lastSeen {
		return nil, 0, false
	}
	return sum.CustomStatus, sum.CustomStatusVersion, true
}

// ackCustomStatus pokes the instance, fetches it and acks delta.
func (h *harness) ackCustomStatus(instance string, delta ...history.Event) {
	h.t.Helper()
	h.enqueue(store.WorkItem{Type: store.ExternalRaised, Instance: instance, Name: "poke", Data: "{}"})
	item := h.fetch(30 * time.Second)
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: delta})
}

func statusEvent(id uint64, instance string, status *string) history.Event {
	e := event(id, instance, 1, history.CustomStatusUpdated)
	e.CustomStatus = status
	return e
}

func str(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestCustomStatusSet: a CustomStatusUpdated event sets the status and bumps the
// version.
func TestCustomStatusSet(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("cs-set")
	h.ackCustomStatus("cs-set", statusEvent(100, "cs-set", strp("progress")))
	status, version, ok := h.customStatus("cs-set", 0)
	if !ok || str(status) != "progress" || version != 1 {
		t.Fatalf("custom status %s version %d (changed %v), want progress version 1", str(status), version, ok)
	}
}

// TestCustomStatusClear: a CustomStatusUpdated event without status clears it and
// bumps the version.
func TestCustomStatusClear(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("cs-clear")
	h.ackCustomStatus("cs-clear", statusEvent(100, "cs-clear", strp("temp")))
	if status, _, ok := h.customStatus("cs-clear", 0); !ok || str(status) != "temp" {
		t.Fatalf("custom status %s, want temp", str(status))
	}
	h.ackCustomStatus("cs-clear", statusEvent(101, "cs-clear", nil))
	status, version, ok := h.customStatus("cs-clear", 0)
	if !ok || status != nil || version != 2 {
		t.Fatalf("custom status %s version %d (changed %v), want cleared at version 2", str(status), version, ok)
	}
}

// TestCustomStatusNonePreserves: a turn without a CustomStatusUpdated event leaves the
// status and its version alone.
func TestCustomStatusNonePreserves(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("cs-noop")
	h.ackCustomStatus("cs-noop", statusEvent(100, "cs-noop", strp("keep-me")))
	h.ackCustomStatus("cs-noop")
	status, version, ok := h.customStatus("cs-noop", 0)
	if !ok || str(status) != "keep-me" || version != 1 {
		t.Fatalf("custom status %s version %d, want keep-me version 1", str(status), version)
	}
}

// TestCustomStatusVersionIncrements: every set or clear adds one to the version.
func TestCustomStatusVersionIncrements(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("cs-ver")
	h.ackCustomStatus("cs-ver", statusEvent(100, "cs-ver", strp("a")))
	if _, v, _ := h.customStatus("cs-ver", 0); v != 1 {
		t.Fatalf("version %d after one set, want 1", v)
	}
	h.ackCustomStatus("cs-ver", statusEvent(101, "cs-ver", strp("b")))
	if _, v, _ := h.customStatus("cs-ver", 0); v != 2 {
		t.Fatalf("version %d after two sets, want 2", v)
	}
	h.ackCustomStatus("cs-ver", statusEvent(102, "cs-ver", nil))
	status, v, _ := h.customStatus("cs-ver", 0)
	if v != 3 || status != nil {
		t.Fatalf("custom status %s version %d after the clear, want cleared at version 3", str(status), v)
	}
}

// TestCustomStatusPollingNoChange: a reader that saw the current version sees no
// change; one that saw an older version does.
func TestCustomStatusPollingNoChange(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("cs-poll")
	h.ackCustomStatus("cs-poll", statusEvent(100, "cs-poll", strp("v1")))
	if _, _, ok := h.customStatus("cs-poll", 1); ok {
		t.Fatal("a change reported since version 1")
	}
	if _, _, ok := h.customStatus("cs-poll", 0); !ok {
		t.Fatal("no change reported since version 0")
	}
}

// TestCustomStatusNonexistentInstance: a missing instance has no custom status
// ([store.ErrNotFound] from InstanceSummary).
func TestCustomStatusNonexistentInstance(t *testing.T, f Factory) {
	h := newHarness(t, f)
	if _, err := h.p.InstanceSummary(h.ctx, "does-not-exist"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("summary of a missing instance: %v, want ErrNotFound", err)
	}
	if _, _, ok := h.customStatus("does-not-exist", 0); ok {
		t.Fatal("custom status reported for a missing instance")
	}
}

// TestCustomStatusDefaultOnNewInstance: a new instance has no custom status, version 0.
func TestCustomStatusDefaultOnNewInstance(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createInstance("cs-default")
	sum := h.summary("cs-default")
	if sum.CustomStatus != nil || sum.CustomStatusVersion != 0 {
		t.Fatalf("custom status %s version %d on a new instance, want none at version 0", str(sum.CustomStatus), sum.CustomStatusVersion)
	}
	if _, _, ok := h.customStatus("cs-default", 0); ok {
		t.Fatal("a change reported on a new instance")
	}
}
