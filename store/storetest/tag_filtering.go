package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// TagFilter selects the activities a worker fetches by the tag they were scheduled
// with (duroxide's TagFilter): untagged ones (Default), those with one of Tags, or
// all of them (Any). The zero value selects nothing (duroxide's TagFilter::None).
type TagFilter struct {
	Default bool
	Tags    []string
	Any     bool
}

// DefaultOnly selects untagged activities (duroxide's default filter).
func DefaultOnly() TagFilter { return TagFilter{Default: true} }

// OnlyTags selects activities with one of tags.
func OnlyTags(tags ...string) TagFilter { return TagFilter{Tags: tags} }

// DefaultAndTags selects untagged activities and those with one of tags.
func DefaultAndTags(tags ...string) TagFilter { return TagFilter{Default: true, Tags: tags} }

// AnyTag selects every activity.
func AnyTag() TagFilter { return TagFilter{Any: true} }

// NoTags selects no activity (an orchestrator-only node).
func NoTags() TagFilter { return TagFilter{} }

var tagFilteringTests = []Test{
	{"test_default_only_fetches_untagged", TestDefaultOnlyFetchesUntagged},
	{"test_tags_fetches_only_matching", TestTagsFetchesOnlyMatching},
	{"test_default_and_fetches_untagged_and_matching", TestDefaultAndFetchesUntaggedAndMatching},
	{"test_none_filter_returns_nothing", TestNoneFilterReturnsNothing},
	{"test_multi_tag_filter", TestMultiTagFilter},
	{"test_tag_round_trip_preservation", TestTagRoundTripPreservation},
	{"test_any_filter_fetches_everything", TestAnyFilterFetchesEverything},
	{"test_tag_survives_abandon_and_refetch", TestTagSurvivesAbandonAndRefetch},
	{"test_multi_runtime_tag_isolation", TestMultiRuntimeTagIsolation},
	{"test_tag_preserved_through_ack_orchestration_item", TestTagPreservedThroughAckOrchestrationItem},
}

// newTagHarness is a harness whose own store fetches no activities: the tests fetch
// through workers (Factory.NewWorker) with the filter under test.
func newTagHarness(t *testing.T, f Factory) *harness {
	t.Helper()
	return &harness{t: t, f: f, p: f.NewTaggedProvider(t, NoTags()), ctx: context.Background(), lock: f.LockTimeout()}
}

// worker is a store on the harness's queues fetching the activities filter selects.
func (h *harness) worker(filter TagFilter, lock time.Duration) store.Provider {
	h.t.Helper()
	return h.f.NewWorker(h.t, h.p, filter, lock)
}

// fetchWorkFrom expects a work item from w.
func (h *harness) fetchWorkFrom(w store.Provider, lock time.Duration) *store.WorkLease {
	h.t.Helper()
	l, err := w.FetchWorkItem(h.ctx, lock, waitFor)
	if err != nil {
		h.t.Fatalf("fetch work item: %v", err)
	}
	if l == nil {
		h.t.Fatalf("fetch work item: nothing within %v", waitFor)
	}
	return l
}

// fetchNoWorkFrom expects no work item from w.
func (h *harness) fetchNoWorkFrom(w store.Provider, lock time.Duration, why string) {
	h.t.Helper()
	l, err := w.FetchWorkItem(h.ctx, lock, noWorkWindow)
	if err != nil {
		h.t.Fatalf("fetch work item: %v", err)
	}
	if l != nil {
		h.t.Fatalf("fetch returned work item %s %d tagged %q; want nothing: %s", l.Item.Name, l.Item.ID, l.Item.Tag, why)
	}
}

// taggedActivity is duroxide's tagged_activity ("" is untagged).
func taggedActivity(instance string, id uint64, tag string) store.WorkItem {
	return store.WorkItem{Type: store.ActivityExecute, Instance: instance, ExecutionID: 1, ID: id,
		Name: fmt.Sprintf("Activity%d", id), Input: "{}", Tag: tag}
}

func expectItem(t *testing.T, l *store.WorkLease, id uint64, tag string) {
	t.Helper()
	if l.Item.ID != id || l.Item.Tag != tag {
		t.Fatalf("fetched item %d tagged %q; want item %d tagged %q", l.Item.ID, l.Item.Tag, id, tag)
	}
}

// expectItems checks that the fetched items are the wanted (id, tag) pairs, in any
// order.
func expectItems(t *testing.T, got []*store.WorkLease, want map[uint64]string) {
	t.Helper()
	seen := map[uint64]string{}
	for _, l := range got {
		seen[l.Item.ID] = l.Item.Tag
	}
	if len(seen) != len(got) || len(seen) != len(want) {
		t.Fatalf("fetched %v (%d items); want %v", seen, len(got), want)
	}
	for id, tag := range want {
		if g, ok := seen[id]; !ok || g != tag {
			t.Fatalf("fetched %v; want %v", seen, want)
		}
	}
}

// TestDefaultOnlyFetchesUntagged: the default filter fetches only untagged items.
func TestDefaultOnlyFetchesUntagged(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, ""))
	h.enqueueWork(taggedActivity("inst-1", 2, "gpu"))
	h.enqueueWork(taggedActivity("inst-1", 3, ""))
	w := h.worker(DefaultOnly(), 5*time.Second)
	expectItem(t, h.fetchWorkFrom(w, 5*time.Second), 1, "")
	expectItem(t, h.fetchWorkFrom(w, 5*time.Second), 3, "")
	h.fetchNoWorkFrom(w, 5*time.Second, "no more untagged items")
}

// TestTagsFetchesOnlyMatching: a tags filter fetches only items with its tag.
func TestTagsFetchesOnlyMatching(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, ""))
	h.enqueueWork(taggedActivity("inst-1", 2, "gpu"))
	h.enqueueWork(taggedActivity("inst-1", 3, "cpu"))
	h.enqueueWork(taggedActivity("inst-1", 4, "gpu"))
	w := h.worker(OnlyTags("gpu"), 5*time.Second)
	expectItem(t, h.fetchWorkFrom(w, 5*time.Second), 2, "gpu")
	expectItem(t, h.fetchWorkFrom(w, 5*time.Second), 4, "gpu")
	h.fetchNoWorkFrom(w, 5*time.Second, "no more gpu items")
}

// TestDefaultAndFetchesUntaggedAndMatching: default+tags fetches untagged items and
// items with its tags, not others.
func TestDefaultAndFetchesUntaggedAndMatching(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, ""))
	h.enqueueWork(taggedActivity("inst-1", 2, "gpu"))
	h.enqueueWork(taggedActivity("inst-1", 3, "cpu"))
	w := h.worker(DefaultAndTags("gpu"), 5*time.Second)
	got := []*store.WorkLease{h.fetchWorkFrom(w, 5*time.Second), h.fetchWorkFrom(w, 5*time.Second)}
	expectItems(t, got, map[uint64]string{1: "", 2: "gpu"})
	h.fetchNoWorkFrom(w, 5*time.Second, "the cpu item is not selected by default+[gpu]")
}

// TestNoneFilterReturnsNothing: the none filter (orchestrator-only) fetches nothing.
func TestNoneFilterReturnsNothing(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, ""))
	h.enqueueWork(taggedActivity("inst-1", 2, "gpu"))
	w := h.worker(NoTags(), 5*time.Second)
	h.fetchNoWorkFrom(w, 5*time.Second, "the none filter never returns items")
}

// TestMultiTagFilter: a filter with several tags fetches items with any of them.
func TestMultiTagFilter(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, "gpu"))
	h.enqueueWork(taggedActivity("inst-1", 2, "tpu"))
	h.enqueueWork(taggedActivity("inst-1", 3, "cpu"))
	h.enqueueWork(taggedActivity("inst-1", 4, ""))
	w := h.worker(OnlyTags("gpu", "tpu"), 5*time.Second)
	got := []*store.WorkLease{h.fetchWorkFrom(w, 5*time.Second), h.fetchWorkFrom(w, 5*time.Second)}
	expectItems(t, got, map[uint64]string{1: "gpu", 2: "tpu"})
	h.fetchNoWorkFrom(w, 5*time.Second, "cpu and untagged items are not selected")
}

// TestTagRoundTripPreservation: the tag comes back from the fetch as enqueued.
func TestTagRoundTripPreservation(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, "gpu"))
	l := h.fetchWorkFrom(h.worker(OnlyTags("gpu"), 5*time.Second), 5*time.Second)
	if l.Item.Tag != "gpu" || l.Item.Name != "Activity1" {
		t.Fatalf("fetched %s tagged %q; want Activity1 tagged gpu", l.Item.Name, l.Item.Tag)
	}
}

// TestAnyFilterFetchesEverything: the any filter fetches items whatever their tag.
func TestAnyFilterFetchesEverything(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, ""))
	h.enqueueWork(taggedActivity("inst-2", 2, "gpu"))
	h.enqueueWork(taggedActivity("inst-3", 3, "cpu"))
	w := h.worker(AnyTag(), 5*time.Second)
	var got []*store.WorkLease
	for range 3 {
		got = append(got, h.fetchWorkFrom(w, 5*time.Second))
	}
	expectItems(t, got, map[uint64]string{1: "", 2: "gpu", 3: "cpu"})
	h.fetchNoWorkFrom(w, 5*time.Second, "the queue is empty")
}

// TestTagSurvivesAbandonAndRefetch: an abandoned tagged item comes back with its tag,
// to its tag's filter only.
func TestTagSurvivesAbandonAndRefetch(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, "gpu"))
	h.enqueueWork(taggedActivity("inst-1", 2, ""))
	gpu := h.worker(OnlyTags("gpu"), 5*time.Second)
	l := h.fetchWorkFrom(gpu, 5*time.Second)
	expectItem(t, l, 1, "gpu")
	if err := gpu.AbandonWorkItem(h.ctx, l.LockToken, 0, false); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	l2 := h.fetchWorkFrom(gpu, 5*time.Second)
	expectItem(t, l2, 1, "gpu")
	if l2.AttemptCount < 2 {
		t.Fatalf("attempt count %d after an abandon; want at least 2", l2.AttemptCount)
	}
	if l2.LockToken == l.LockToken {
		t.Fatalf("refetch returned the same lock token %q", l.LockToken)
	}
	def := h.worker(DefaultOnly(), 5*time.Second)
	expectItem(t, h.fetchWorkFrom(def, 5*time.Second), 2, "")
	h.fetchNoWorkFrom(def, 5*time.Second, "the gpu item is not untagged")
}

// TestMultiRuntimeTagIsolation: three runtimes with overlapping tag filters, all
// open at once, each get exactly duroxide's picks. A fetch locks only the item it
// returns and takes the oldest item its filter selects: gpu+cpu gets 2 and 3 (not
// the younger gpu item 5), cpu+fpga gets 4 and then nothing (3 is locked by
// gpu+cpu), and any gets 5 and then nothing.
func TestMultiRuntimeTagIsolation(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	h.enqueueWork(taggedActivity("inst-1", 1, ""))
	h.enqueueWork(taggedActivity("inst-2", 2, "gpu"))
	h.enqueueWork(taggedActivity("inst-3", 3, "cpu"))
	h.enqueueWork(taggedActivity("inst-4", 4, "fpga"))
	h.enqueueWork(taggedActivity("inst-5", 5, "gpu"))
	const lock = 30 * time.Second

	// Mutually exclusive: the default-only runtime sees only the untagged item.
	def := h.worker(DefaultOnly(), lock)
	expectItem(t, h.fetchWorkFrom(def, lock), 1, "")
	h.fetchNoWorkFrom(def, lock, "no more untagged items")

	// Partial overlap: gpu+cpu takes the two oldest of its items, 2 and 3.
	gpuCPU := h.worker(OnlyTags("gpu", "cpu"), lock)
	got := map[uint64]string{}
	for range 2 {
		l := h.fetchWorkFrom(gpuCPU, lock)
		got[l.Item.ID] = l.Item.Tag
	}
	if len(got) != 2 || got[2] != "gpu" || got[3] != "cpu" {
		t.Fatalf("gpu+cpu runtime fetched %v (id: tag); want exactly {2: gpu, 3: cpu}", got)
	}
	// cpu+fpga: the fpga item, then nothing (the cpu item is locked by gpu+cpu).
	cpuFPGA := h.worker(OnlyTags("cpu", "fpga"), lock)
	expectItem(t, h.fetchWorkFrom(cpuFPGA, lock), 4, "fpga")
	h.fetchNoWorkFrom(cpuFPGA, lock, "the cpu item 3 is locked by gpu+cpu")

	// Full overlap, with the other runtimes still open: any gets exactly the gpu item
	// 5, the only one nobody locked, and then nothing.
	anyW := h.worker(AnyTag(), lock)
	expectItem(t, h.fetchWorkFrom(anyW, lock), 5, "gpu")
	h.fetchNoWorkFrom(anyW, lock, "every other item is locked")
	h.fetchNoWorkFrom(gpuCPU, lock, "gpu+cpu's items are all locked")
}

// TestTagPreservedThroughAckOrchestrationItem: worker items committed by an
// orchestration turn keep their tags, so the worker queue routes them by tag.
func TestTagPreservedThroughAckOrchestrationItem(t *testing.T, f Factory) {
	h := newTagHarness(t, f)
	const inst = "tag-ack-inst"
	h.enqueue(startItem(inst))
	item := h.fetch(30 * time.Second)
	gpuWork := store.WorkItem{Type: store.ActivityExecute, Instance: inst, ExecutionID: 1, ID: 10,
		Name: "GpuWork", Input: `"model-v3"`, Tag: "gpu"}
	cpuWork := store.WorkItem{Type: store.ActivityExecute, Instance: inst, ExecutionID: 1, ID: 11,
		Name: "CpuWork", Input: `"data"`}
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(inst, 1)},
		WorkerItems: []store.WorkItem{gpuWork, cpuWork}})

	def := h.worker(DefaultOnly(), 30*time.Second)
	l := h.fetchWorkFrom(def, 30*time.Second)
	if l.Item.Name != "CpuWork" || l.Item.Tag != "" {
		t.Fatalf("default-only fetched %s tagged %q; want the untagged CpuWork", l.Item.Name, l.Item.Tag)
	}
	if err := def.AckWorkItem(h.ctx, l.LockToken, nil); err != nil {
		t.Fatalf("ack work item: %v", err)
	}
	h.fetchNoWorkFrom(def, 30*time.Second, "only the gpu item is left")

	l = h.fetchWorkFrom(h.worker(OnlyTags("gpu"), 30*time.Second), 30*time.Second)
	if l.Item.Name != "GpuWork" || l.Item.Tag != "gpu" {
		t.Fatalf("gpu worker fetched %s tagged %q; want GpuWork tagged gpu", l.Item.Name, l.Item.Tag)
	}
}
