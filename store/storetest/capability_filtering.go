package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Capability filtering validations (duroxide's capability_filtering.rs): a fetch
// with a [store.CapabilityFilter] hands out only executions whose pinned engine
// version (set by ExecutionMetadata.PinnedEngineVersion) the filter supports, skips
// the others before locking them or decoding their history, and the pinned version
// follows the metadata of the acks.

var capabilityFilteringTests = []Test{
	{"test_fetch_with_filter_none_returns_any_item", TestFetchWithFilterNoneReturnsAnyItem},
	{"test_fetch_with_compatible_filter_returns_item", TestFetchWithCompatibleFilterReturnsItem},
	{"test_fetch_with_incompatible_filter_skips_item", TestFetchWithIncompatibleFilterSkipsItem},
	{"test_fetch_filter_skips_incompatible_selects_compatible", TestFetchFilterSkipsIncompatibleSelectsCompatible},
	{"test_fetch_filter_does_not_lock_skipped_instances", TestFetchFilterDoesNotLockSkippedInstances},
	{"test_fetch_filter_null_pinned_version_always_compatible", TestFetchFilterNullPinnedVersionAlwaysCompatible},
	{"test_fetch_filter_boundary_versions", TestFetchFilterBoundaryVersions},
	{"test_pinned_version_stored_via_ack_metadata", TestPinnedVersionStoredViaAckMetadata},
	{"test_pinned_version_immutable_across_ack_cycles", TestPinnedVersionImmutableAcrossAckCycles},
	{"test_continue_as_new_execution_gets_own_pinned_version", TestContinueAsNewExecutionGetsOwnPinnedVersion},
	{"test_filter_with_empty_supported_versions_returns_nothing", TestFilterWithEmptySupportedVersionsReturnsNothing},
	{"test_concurrent_filtered_fetch_no_double_lock", TestConcurrentFilteredFetchNoDoubleLock},
	{"test_ack_stores_pinned_version_via_metadata_update", TestAckStoresPinnedVersionViaMetadataUpdate},
	{"test_provider_updates_pinned_version_when_told", TestProviderUpdatesPinnedVersionWhenTold},
	{"test_fetch_corrupted_history_filtered_vs_unfiltered", TestFetchCorruptedHistoryFilteredVsUnfiltered},
	{"test_fetch_deserialization_error_increments_attempt_count", TestFetchDeserializationErrorIncrementsAttemptCount},
	{"test_fetch_deserialization_error_eventually_reaches_poison", TestFetchDeserializationErrorEventuallyReachesPoison},
	{"test_fetch_filter_applied_before_history_deserialization", TestFetchFilterAppliedBeforeHistoryDeserialization},
	{"test_fetch_single_range_only_uses_first_range", TestFetchSingleRangeOnlyUsesFirstRange},
	{"test_ack_appends_event_to_corrupted_history", TestAckAppendsEventToCorruptedHistory},
}

// capLock is the lock of the capability tests' fetches (duroxide's LOCK_TIMEOUT).
const capLock = 30 * time.Second

func versionRange(min, max string) store.VersionRange {
	return store.VersionRange{Min: store.MustParseSemver(min), Max: store.MustParseSemver(max)}
}

// versionFilter is a filter for the inclusive range [min, max].
func versionFilter(min, max string) *store.CapabilityFilter {
	return &store.CapabilityFilter{SupportedVersions: []store.VersionRange{versionRange(min, max)}}
}

// startedAt is OrchestrationStarted recorded by engine version v.
func startedAt(instance string, exec uint64, v string) history.Event {
	e := started(instance, exec)
	e.EngineVersion = v
	return e
}

func ping(instance, name string) store.WorkItem {
	return store.WorkItem{Type: store.ExternalRaised, Instance: instance, Name: name, Data: "{}"}
}

// fetchWith expects an item from a fetch with filter: every message enqueued so far
// is visible.
func (h *harness) fetchWith(filter *store.CapabilityFilter, what string) *store.OrchestrationItem {
	h.t.Helper()
	h.f.Settle(h.t, h.p)
	item, err := h.p.FetchOrchestrationItem(h.ctx, capLock, waitFor, filter)
	if err != nil {
		h.t.Fatalf("%s: fetch: %v", what, err)
	}
	if item == nil {
		h.t.Fatalf("%s: fetch returned nothing within %v", what, waitFor)
	}
	return item
}

// fetchNoneWith expects nothing from a fetch with filter although every message
// enqueued so far is visible. The fetch must not fail either.
func (h *harness) fetchNoneWith(filter *store.CapabilityFilter, why string) {
	h.t.Helper()
	h.f.Settle(h.t, h.p)
	item, err := h.p.FetchOrchestrationItem(h.ctx, capLock, 0, filter)
	if err != nil {
		h.t.Fatalf("%s: fetch failed: %v", why, err)
	}
	if item != nil {
		h.t.Fatalf("fetch returned instance %q (pinned %q); want nothing: %s", item.Instance, item.PinnedEngineVersion, why)
	}
}

func (h *harness) wantInstance(item *store.OrchestrationItem, instance, what string) {
	h.t.Helper()
	if item.Instance != instance {
		h.t.Fatalf("%s: fetched %q, want %q", what, item.Instance, instance)
	}
}

// seedWithVersion creates instance with execution 1 pinned at version, and in the
// same ack enqueues a message for it, so it has work (duroxide's
// seed_instance_with_version). Items of other instances fetched on the way are
// abandoned afterwards, without counting the attempt.
func (h *harness) seedWithVersion(instance, version string) {
	h.t.Helper()
	h.enqueue(startItem(instance))
	var others []string
	var item *store.OrchestrationItem
	for {
		item = h.fetch(capLock)
		if item.Instance == instance {
			break
		}
		others = append(others, item.LockToken)
	}
	md := testMetadata()
	md.PinnedEngineVersion = version
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{startedAt(instance, 1, version)},
		OrchestratorItems: []store.WorkItem{ping(instance, "ping")}, Metadata: md})
	for _, tok := range others {
		h.abandon(tok, 0, true)
	}
}

// createUnpinned creates instance without a pinned version (an execution from before
// versions were pinned).
func (h *harness) createUnpinned(instance, eventVersion string) {
	h.t.Helper()
	h.enqueue(startItem(instance))
	item := h.fetch(capLock)
	h.wantInstance(item, instance, "create")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{startedAt(instance, 1, eventVersion)},
		Metadata: testMetadata()})
}

// TestFetchWithFilterNoneReturnsAnyItem: without a filter, a pinned execution is
// fetched (and the item names its pinned version).
func TestFetchWithFilterNoneReturnsAnyItem(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-1", "1.2.3")
	item := h.fetchWith(nil, "no filter")
	h.wantInstance(item, "inst-1", "no filter")
	if item.PinnedEngineVersion != "1.2.3" {
		t.Fatalf("pinned version %q, want 1.2.3", item.PinnedEngineVersion)
	}
}

// TestFetchWithCompatibleFilterReturnsItem: a filter whose range holds the pinned
// version returns the item.
func TestFetchWithCompatibleFilterReturnsItem(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-2", "1.2.3")
	item := h.fetchWith(versionFilter("1.0.0", "1.9.9"), "compatible filter")
	h.wantInstance(item, "inst-2", "compatible filter")
}

// TestFetchWithIncompatibleFilterSkipsItem: a filter whose range excludes the pinned
// version returns nothing.
func TestFetchWithIncompatibleFilterSkipsItem(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-3", "1.2.3")
	h.fetchNoneWith(versionFilter("2.0.0", "2.9.9"), "1.2.3 is outside [2.0.0, 2.9.9]")
}

// TestFetchFilterSkipsIncompatibleSelectsCompatible: with instances pinned at 1.0.0
// and 2.0.0, each filter gets the instance of its version.
func TestFetchFilterSkipsIncompatibleSelectsCompatible(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-v1", "1.0.0")
	h.seedWithVersion("inst-v2", "2.0.0")

	item := h.fetchWith(versionFilter("2.0.0", "2.9.9"), "v2 filter")
	h.wantInstance(item, "inst-v2", "v2 filter")
	h.abandon(item.LockToken, 0, true)

	item = h.fetchWith(versionFilter("1.0.0", "1.9.9"), "v1 filter")
	h.wantInstance(item, "inst-v1", "v1 filter")
}

// TestFetchFilterDoesNotLockSkippedInstances: fetches that skip an instance leave it
// unlocked, and its attempt count unchanged.
func TestFetchFilterDoesNotLockSkippedInstances(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-5", "1.0.0")
	for i := 0; i < 3; i++ {
		h.fetchNoneWith(versionFilter("2.0.0", "2.9.9"), "1.0.0 is outside [2.0.0, 2.9.9]")
	}
	item := h.fetchWith(versionFilter("0.0.0", "1.9.9"), "compatible filter after incompatible fetches")
	h.wantInstance(item, "inst-5", "compatible filter")
	h.wantAttempt(item, 1, "the first fetch that returns the message (the skips did not count)")
}

// TestFetchFilterNullPinnedVersionAlwaysCompatible: an execution without a pinned
// version matches any filter.
func TestFetchFilterNullPinnedVersionAlwaysCompatible(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.createUnpinned("inst-null", "0.0.0")
	h.enqueue(ping("inst-null", "ping"))
	item := h.fetchWith(versionFilter("99.0.0", "99.9.9"), "unpinned execution")
	h.wantInstance(item, "inst-null", "unpinned execution")
	if item.PinnedEngineVersion != "" {
		t.Fatalf("pinned version %q, want none", item.PinnedEngineVersion)
	}
}

// TestFetchFilterBoundaryVersions: the range's bounds are inclusive; the next major
// version is outside.
func TestFetchFilterBoundaryVersions(t *testing.T, f Factory) {
	filter := versionFilter("1.0.0", "1.9.99")
	h := newHarness(t, f)
	h.seedWithVersion("v1-low", "1.0.0")
	item := h.fetchWith(filter, "1.0.0 (lower bound)")
	h.wantInstance(item, "v1-low", "1.0.0 (lower bound)")
	h.abandon(item.LockToken, 0, true)

	h.seedWithVersion("v1-high", "1.9.99")
	// Both are within the range: two fetches get both.
	a := h.fetchWith(filter, "first of 1.0.0 and 1.9.99")
	b := h.fetchWith(filter, "second of 1.0.0 and 1.9.99")
	got := map[string]bool{a.Instance: true, b.Instance: true}
	if !got["v1-low"] || !got["v1-high"] {
		t.Fatalf("fetched %q and %q, want v1-low and v1-high (1.9.99 is the upper bound)", a.Instance, b.Instance)
	}

	// A separate store, so the instances above do not interfere.
	h2 := newHarness(t, f)
	h2.seedWithVersion("v2-exact", "2.0.0")
	h2.fetchNoneWith(filter, "2.0.0 is outside [1.0.0, 1.9.99]")
	item = h2.fetchWith(nil, "v2-exact without a filter")
	h2.wantInstance(item, "v2-exact", "without a filter")
}

// TestPinnedVersionStoredViaAckMetadata: the version set by the ack's metadata is
// the one the filter matches.
func TestPinnedVersionStoredViaAckMetadata(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-8", "3.1.4")
	item := h.fetchWith(versionFilter("3.0.0", "3.9.9"), "3.1.4 in [3.0.0, 3.9.9]")
	h.wantInstance(item, "inst-8", "3.x filter")
	if item.PinnedEngineVersion != "3.1.4" {
		t.Fatalf("pinned version %q, want 3.1.4", item.PinnedEngineVersion)
	}
}

// TestPinnedVersionImmutableAcrossAckCycles: an ack whose metadata has no pinned
// version leaves the execution's version as it was.
func TestPinnedVersionImmutableAcrossAckCycles(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-9", "1.0.0")
	filter := versionFilter("0.0.0", "1.9.9")
	item := h.fetchWith(filter, "first turn")
	h.wantInstance(item, "inst-9", "first turn")
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, Metadata: testMetadata()})

	h.enqueue(ping("inst-9", "ping2"))
	// Still pinned at 1.0.0: an execution that had lost its version would match
	// every filter.
	h.fetchNoneWith(versionFilter("2.0.0", "2.9.9"), "still pinned at 1.0.0")
	item = h.fetchWith(filter, "after an ack without a version")
	h.wantInstance(item, "inst-9", "after an ack without a version")
	if item.PinnedEngineVersion != "1.0.0" {
		t.Fatalf("pinned version %q, want 1.0.0", item.PinnedEngineVersion)
	}
}

// TestContinueAsNewExecutionGetsOwnPinnedVersion: a new execution's version comes
// from its own metadata, not from the previous execution.
func TestContinueAsNewExecutionGetsOwnPinnedVersion(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const id = "inst-can"
	h.seedWithVersion(id, "1.0.0")
	item := h.fetchWith(versionFilter("0.0.0", "1.9.9"), "execution 1")
	h.wantInstance(item, id, "execution 1")
	can := event(2, id, 1, history.OrchestrationContinuedAsNew)
	can.Input = "{}"
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{can},
		OrchestratorItems: []store.WorkItem{{Type: store.ContinueAsNew, Instance: id, Name: testOrch, Version: "1.0.0", Input: "{}", ExecutionID: 2}},
		Metadata:          store.ExecutionMetadata{Status: store.StatusContinuedAsNew, OrchestrationName: testOrch, OrchestrationVersion: "1.0.0"}})

	item = h.fetchWith(nil, "the continue-as-new message")
	h.wantInstance(item, id, "the continue-as-new message")
	md := testMetadata()
	md.PinnedEngineVersion = "2.0.0"
	h.ack(item.LockToken, store.Commit{ExecutionID: 2, HistoryDelta: []history.Event{startedAt(id, 2, "2.0.0")}, Metadata: md})

	h.enqueue(ping(id, "ping"))
	item = h.fetchWith(versionFilter("2.0.0", "2.9.9"), "execution 2 with a v2 filter")
	h.wantInstance(item, id, "v2 filter")
	if item.ExecutionID != 2 || item.PinnedEngineVersion != "2.0.0" {
		t.Fatalf("execution %d pinned %q, want execution 2 pinned 2.0.0", item.ExecutionID, item.PinnedEngineVersion)
	}
	h.abandon(item.LockToken, 0, true)
	h.fetchNoneWith(versionFilter("1.0.0", "1.9.9"), "execution 2 is pinned at 2.0.0, not the inherited 1.0.0")
}

// TestFilterWithEmptySupportedVersionsReturnsNothing: a filter with no ranges
// supports nothing.
func TestFilterWithEmptySupportedVersionsReturnsNothing(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-empty", "1.0.0")
	h.fetchNoneWith(&store.CapabilityFilter{}, "a filter without ranges supports nothing")
}

// TestConcurrentFilteredFetchNoDoubleLock: of concurrent fetches with the same
// filter, exactly one gets the instance; while it is locked, later fetches get
// nothing.
func TestConcurrentFilteredFetchNoDoubleLock(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-conc", "1.0.0")
	filter := versionFilter("0.0.0", "1.9.9")
	h.f.Settle(t, h.p)
	const n = 4
	var wg sync.WaitGroup
	items := make([]*store.OrchestrationItem, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			items[i], errs[i] = h.p.FetchOrchestrationItem(h.ctx, capLock, 0, filter)
		}()
	}
	close(start)
	wg.Wait()
	var got []string
	for i := range items {
		if errs[i] != nil {
			t.Fatalf("concurrent fetch %d: %v", i, errs[i])
		}
		if items[i] != nil {
			got = append(got, items[i].Instance)
		}
	}
	if len(got) != 1 || got[0] != "inst-conc" {
		t.Fatalf("concurrent filtered fetches returned %v, want inst-conc exactly once", got)
	}
	h.fetchNoneWith(filter, "inst-conc is locked")
}

// TestAckStoresPinnedVersionViaMetadataUpdate: an ack can set the version of an
// existing execution that had none (a backfill), even with no other change.
func TestAckStoresPinnedVersionViaMetadataUpdate(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const id = "inst-backfill"
	h.createUnpinned(id, "1.2.3")
	h.enqueue(ping(id, "ping"))
	item := h.fetchWith(nil, "turn 2")
	h.wantInstance(item, id, "turn 2")
	md := testMetadata()
	md.PinnedEngineVersion = "1.2.3"
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, Metadata: md})

	h.enqueue(ping(id, "ping2"))
	h.fetchNoneWith(versionFilter("2.0.0", "2.9.9"), "the backfilled version 1.2.3 is outside [2.0.0, 2.9.9]")
	item = h.fetchWith(versionFilter("1.0.0", "1.9.9"), "backfilled 1.2.3")
	h.wantInstance(item, id, "backfilled 1.2.3")
}

// TestProviderUpdatesPinnedVersionWhenTold: the store overwrites the pinned version
// whenever the metadata sets one (keeping it write-once is the runtime's job).
func TestProviderUpdatesPinnedVersionWhenTold(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const id = "inst-update"
	h.seedWithVersion(id, "1.0.0")
	item := h.fetchWith(versionFilter("0.0.0", "1.9.9"), "pinned 1.0.0")
	h.wantInstance(item, id, "pinned 1.0.0")
	md := testMetadata()
	md.PinnedEngineVersion = "2.0.0"
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, Metadata: md})

	h.enqueue(ping(id, "ping2"))
	item = h.fetchWith(versionFilter("2.0.0", "2.0.0"), "re-pinned 2.0.0")
	h.wantInstance(item, id, "re-pinned 2.0.0")
	h.abandon(item.LockToken, 0, true)
	h.fetchNoneWith(versionFilter("1.0.0", "1.0.0"), "the version was updated to 2.0.0")
}

// corruptSeeded seeds instance pinned at version, then makes its history
// undecodable (duroxide's seed_and_corrupt_history).
func (h *harness) corruptSeeded(instance, version string) {
	h.t.Helper()
	h.seedWithVersion(instance, version)
	h.f.CorruptHistory(h.t, h.p, instance)
}

// wantHistoryError checks that a fetch of a corrupted instance reports it.
func (h *harness) wantHistoryError(item *store.OrchestrationItem, instance, what string) {
	h.t.Helper()
	h.wantInstance(item, instance, what)
	if item.HistoryError == "" || len(item.History) != 0 {
		h.t.Fatalf("%s: history error %q with %d events; want an error and no events", what, item.HistoryError, len(item.History))
	}
}

// TestFetchCorruptedHistoryFilteredVsUnfiltered: a filter that excludes a corrupted
// instance returns nothing (no error: its history is not decoded); without a filter
// the item comes with HistoryError and no history.
func TestFetchCorruptedHistoryFilteredVsUnfiltered(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.corruptSeeded("inst-corrupt-39", "1.0.0")
	h.fetchNoneWith(versionFilter("2.0.0", "2.9.9"), "the corrupted instance is excluded by version")
	item := h.fetchWith(nil, "unfiltered fetch of the corrupted instance")
	h.wantHistoryError(item, "inst-corrupt-39", "unfiltered fetch")
	h.abandon(item.LockToken, 0, true)
}

// TestFetchDeserializationErrorIncrementsAttemptCount: each fetch of a corrupted
// instance counts an attempt.
func TestFetchDeserializationErrorIncrementsAttemptCount(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.corruptSeeded("inst-deser-41", "1.0.0")
	for i := 1; i <= 2; i++ {
		item := h.fetchWith(nil, fmt.Sprintf("fetch %d", i))
		h.wantHistoryError(item, "inst-deser-41", fmt.Sprintf("fetch %d", i))
		h.wantAttempt(item, i, fmt.Sprintf("fetch %d", i))
		h.abandon(item.LockToken, 0, false)
	}
}

// TestFetchDeserializationErrorEventuallyReachesPoison: the attempts of a corrupted
// instance keep growing with each fetch, up to the poison threshold (5 here), and
// every fetch reports the history error.
func TestFetchDeserializationErrorEventuallyReachesPoison(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.corruptSeeded("inst-poison-42", "1.0.0")
	const maxAttempts = 5
	last := 0
	for i := 1; i <= maxAttempts; i++ {
		item := h.fetchWith(nil, fmt.Sprintf("fetch %d", i))
		h.wantHistoryError(item, "inst-poison-42", fmt.Sprintf("fetch %d", i))
		h.wantAttempt(item, i, fmt.Sprintf("fetch %d", i))
		last = item.AttemptCount
		h.abandon(item.LockToken, 0, false)
	}
	if last < maxAttempts {
		t.Fatalf("attempt count %d after %d fetches, want at least %d", last, maxAttempts, maxAttempts)
	}
}

// TestFetchFilterAppliedBeforeHistoryDeserialization: an instance pinned at 99.0.0
// with a corrupted history, fetched with a filter that excludes 99.0.0, yields
// nothing rather than an item with a history error: the filter ran first.
func TestFetchFilterAppliedBeforeHistoryDeserialization(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.corruptSeeded("inst-order-43", "99.0.0")
	h.fetchNoneWith(versionFilter("1.0.0", "2.0.0"), "99.0.0 is excluded before the history is decoded")
	item := h.fetchWith(nil, "unfiltered fetch")
	h.wantHistoryError(item, "inst-order-43", "unfiltered fetch")
	h.abandon(item.LockToken, 0, true)
}

// TestFetchSingleRangeOnlyUsesFirstRange: only the filter's first range is used
// (duroxide's phase-1 limitation): an instance in the second range is not fetched.
func TestFetchSingleRangeOnlyUsesFirstRange(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.seedWithVersion("inst-range-a", "1.0.0")
	h.seedWithVersion("inst-range-b", "3.0.0")
	filter := &store.CapabilityFilter{SupportedVersions: []store.VersionRange{
		versionRange("1.0.0", "1.5.0"), versionRange("3.0.0", "3.5.0")}}

	item := h.fetchWith(filter, "multi-range filter")
	h.wantInstance(item, "inst-range-a", "first range")
	h.abandon(item.LockToken, 0, true)

	item = h.fetchWith(filter, "multi-range filter again")
	h.wantInstance(item, "inst-range-a", "only the first range is used")
	h.fetchNoneWith(filter, "inst-range-a is locked and inst-range-b (3.0.0) is only in the second range")
}

// TestAckAppendsEventToCorruptedHistory: the ack is append-only, so the runtime can
// fail an instance whose history cannot be decoded: the ack of an OrchestrationFailed
// succeeds, and the instance's status becomes Failed with the reason.
func TestAckAppendsEventToCorruptedHistory(t *testing.T, f Factory) {
	h := newMgmtHarness(t, f)
	const id = "inst-ack-corrupt-45"
	h.corruptSeeded(id, "1.0.0")
	item := h.fetchWith(nil, "fetch of the corrupted instance")
	h.wantHistoryError(item, id, "fetch of the corrupted instance")
	if item.ExecutionID != 1 {
		t.Fatalf("execution %d, want 1 (the corrupted execution)", item.ExecutionID)
	}

	details := &history.ErrorDetails{Category: history.Poison, Kind: history.KindPoison, Resource: "FailedDeserialization",
		Message: "history deserialization failed: " + item.HistoryError}
	failed := event(99999, id, item.ExecutionID, history.OrchestrationFailed)
	failed.Details = details
	md := testMetadata()
	md.Status, md.Output = store.StatusFailed, details.DisplayMessage()
	if err := h.p.AckOrchestrationItem(h.ctx, item.LockToken, store.Commit{ExecutionID: item.ExecutionID,
		HistoryDelta: []history.Event{failed}, Metadata: md}); err != nil {
		t.Fatalf("ack of OrchestrationFailed on a corrupted history: %v (the ack must only append)", err)
	}

	info := h.info(id)
	if info.Status != store.StatusFailed || !strings.Contains(info.Output, "deserialization failed") {
		t.Fatalf("instance info: status %q, output %q; want Failed with the deserialization error", info.Status, info.Output)
	}
	if sum := h.summary(id); sum.Status != store.StatusFailed {
		t.Fatalf("summary status %q, want Failed", sum.Status)
	}
}
