package storetest

import (
	"testing"
	"time"
)

// Both the short-poll and the long-poll tests apply to a long-polling store: a zero
// poll timeout is its short poll.
var longPollingTests = []Test{
	{"test_short_poll_returns_immediately", TestShortPollReturnsImmediately},
	{"test_long_poll_waits_for_timeout", TestLongPollWaitsForTimeout},
	{"test_fetch_respects_timeout_upper_bound", TestFetchRespectsTimeoutUpperBound},
	{"test_short_poll_work_item_returns_immediately", TestShortPollWorkItemReturnsImmediately},
	{"test_long_poll_work_item_waits_for_timeout", TestLongPollWorkItemWaitsForTimeout},
}

// TestShortPollReturnsImmediately: a fetch with a zero poll timeout on an empty queue
// returns nothing within the short-poll threshold.
func TestShortPollReturnsImmediately(t *testing.T, f Factory) {
	h := newHarness(t, f)
	start := time.Now()
	item, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, 0, nil)
	elapsed := time.Since(start)
	if err != nil || item != nil {
		t.Fatalf("fetch on an empty queue: %+v %v", item, err)
	}
	if th := f.ShortPollThreshold(); elapsed >= th {
		t.Fatalf("short poll took %v, threshold %v", elapsed, th)
	}
}

// TestLongPollWaitsForTimeout: a fetch on an empty queue waits its poll timeout.
func TestLongPollWaitsForTimeout(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const poll = 500 * time.Millisecond
	start := time.Now()
	item, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, poll, nil)
	elapsed := time.Since(start)
	if err != nil || item != nil {
		t.Fatalf("fetch on an empty queue: %+v %v", item, err)
	}
	if elapsed < poll {
		t.Fatalf("long poll returned after %v, want at least %v", elapsed, poll)
	}
}

// TestFetchRespectsTimeoutUpperBound: a fetch never waits much beyond its poll
// timeout.
func TestFetchRespectsTimeoutUpperBound(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const poll, tolerance = 300 * time.Millisecond, 200 * time.Millisecond
	start := time.Now()
	item, err := h.p.FetchOrchestrationItem(h.ctx, 30*time.Second, poll, nil)
	elapsed := time.Since(start)
	if err != nil || item != nil {
		t.Fatalf("fetch on an empty queue: %+v %v", item, err)
	}
	if elapsed >= poll+tolerance {
		t.Fatalf("fetch took %v, want under %v", elapsed, poll+tolerance)
	}
}

// TestShortPollWorkItemReturnsImmediately: the worker-queue short poll.
func TestShortPollWorkItemReturnsImmediately(t *testing.T, f Factory) {
	h := newHarness(t, f)
	start := time.Now()
	w, err := h.p.FetchWorkItem(h.ctx, 30*time.Second, 0)
	elapsed := time.Since(start)
	if err != nil || w != nil {
		t.Fatalf("fetch on an empty worker queue: %+v %v", w, err)
	}
	if th := f.ShortPollThreshold(); elapsed >= th {
		t.Fatalf("short poll took %v, threshold %v", elapsed, th)
	}
}

// TestLongPollWorkItemWaitsForTimeout: the worker-queue long poll.
func TestLongPollWorkItemWaitsForTimeout(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const poll = 500 * time.Millisecond
	start := time.Now()
	w, err := h.p.FetchWorkItem(h.ctx, 30*time.Second, poll)
	elapsed := time.Since(start)
	if err != nil || w != nil {
		t.Fatalf("fetch on an empty worker queue: %+v %v", w, err)
	}
	if elapsed < poll {
		t.Fatalf("long poll returned after %v, want at least %v", elapsed, poll)
	}
}
