// Package storetest is the conformance suite of the duroxide-go store contract
// ([store.Provider]): the provider validations of duroxide 0.1.27, one exported test
// function per validation, grouped in files named after duroxide's categories. Any
// store runs the whole suite with [RunAll] and a [Factory]:
//
//	func TestConformance(t *testing.T) { storetest.RunAll(t, myFactory{}) }
//
// Each test creates its own store, so tests share nothing. Where duroxide's assertion
// does not carry over to Go or to an asynchronous store, the test asserts the
// equivalent guarantee; docs/STORE.md lists each such adaptation.
//
// The suite lives beside the contract it checks and imports only the store and
// history packages, so a store outside this module runs it without depending on
// the JetStream store.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Factory creates the stores the suite tests.
type Factory interface {
	// NewProvider returns a fresh, empty, isolated store, ready to serve fetches. It
	// is closed when t ends.
	NewProvider(t *testing.T) store.Provider
	// LockTimeout is the lock timeout the tests use, for both queues; keep it short
	// (about a second) but not shorter: many tests wait for a lock to expire, and
	// some hold a lock across waits of 600 ms or more. A store whose worker lock is
	// not set per fetch must be configured with this timeout.
	LockTimeout() time.Duration
	// ShortPollThreshold is how fast a fetch with a zero poll timeout must return
	// when there is no work (duroxide's default is 100ms).
	ShortPollThreshold() time.Duration
	// Settle returns once every message enqueued on p's orchestrator queue before the
	// call (by a client, an ack or a worker) is visible to FetchOrchestrationItem. A
	// store whose enqueue is visible synchronously returns at once.
	Settle(t *testing.T, p store.Provider)
	// EnqueueForWorker adds an ActivityExecute item to p's worker queue (duroxide's
	// enqueue_for_worker, which store.Provider does not have).
	EnqueueForWorker(t *testing.T, p store.Provider, item store.WorkItem)
	// EnqueueRaw adds a message whose body is data, undecoded, to the instance's
	// orchestrator queue.
	EnqueueRaw(t *testing.T, p store.Provider, instance string, data []byte)
	// CorruptHistory makes the instance's stored history undecodable.
	CorruptHistory(t *testing.T, p store.Provider, instance string)
	// Management returns p's management side (duroxide's ProviderAdmin), with
	// whatever its views need (such as a projector) running until t ends. The
	// management tests call it once per store, before their first write.
	Management(t *testing.T, p store.Provider) Management
	// NewTaggedProvider is NewProvider for a store whose FetchWorkItem returns only
	// the activities filter selects (duroxide passes a TagFilter to each
	// fetch_work_item; a store whose filter is fixed when it is opened gets it here).
	NewTaggedProvider(t *testing.T, filter TagFilter) store.Provider
	// NewWorker returns another store on p's queues and histories (as another
	// runtime on the same deployment would open) whose FetchWorkItem returns only the
	// activities filter selects, with work locks of lockTimeout. It is closed when t
	// ends; a test may close it earlier.
	NewWorker(t *testing.T, p store.Provider, filter TagFilter, lockTimeout time.Duration) store.Provider
	// NewSessionWorker returns another store on p's queues and histories (as
	// NewWorker, fetching untagged activities) whose FetchWorkItem routes session
	// items as owner with session leases of sessionLock (duroxide passes
	// SessionFetchConfig{owner_id, lock_timeout} to each fetch_work_item; a store
	// whose session owner is fixed when it is opened gets it here), with work locks
	// of workLock and no session cap a test reaches. It implements
	// store.SessionStore. Workers with the same owner share its sessions; the
	// workers of one test use one workLock. p itself has no session owner
	// (duroxide's session=None) and implements store.SessionStore too. It is closed
	// when t ends.
	NewSessionWorker(t *testing.T, p store.Provider, owner string, sessionLock, workLock time.Duration) store.Provider
}

// Management is the management side of a store the suite tests.
type Management interface {
	store.Admin
	store.Deleter
}

// Test is one validation of the suite.
type Test struct {
	// Name is duroxide's name of the validation.
	Name string
	Run  func(t *testing.T, f Factory)
}

// Tests lists every validation of the suite, by category.
var Tests = concat(
	atomicityTests,
	errorHandlingTests,
	instanceCreationTests,
	instanceLockingTests,
	lockExpirationTests,
	longPollingTests,
	multiExecutionTests,
	poisonMessageTests,
	queueSemanticsTests,
	customStatusTests,
	managementTests,
	instanceStatsTests,
	deletionTests,
	bulkDeletionTests,
	pruneTests,
	kvStoreTests,
	tagFilteringTests,
	cancellationTests,
	sessionsTests,
	capabilityFilteringTests,
	clientLayerTests,
)

func concat(groups ...[]Test) []Test {
	var out []Test
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// RunAll runs every validation as a subtest named after duroxide's test.
func RunAll(t *testing.T, f Factory) {
	for _, tc := range Tests {
		t.Run(tc.Name, func(t *testing.T) { tc.Run(t, f) })
	}
}

// waitFor bounds the fetches that expect work: a long poll returns as soon as the
// work is there.
const waitFor = 10 * time.Second

// shortPoll is the poll of a worker fetch that expects an item to be visible at
// once (a new or abandoned item): well under the lock timeout, so an item that
// comes back only because its lock expired is missed.
func shortPoll(lock time.Duration) time.Duration { return lock / 3 }

// timerLateness bounds how long after its due time a delayed message is fetched.
// Schedules fire within tens of milliseconds; the bound leaves room for a loaded
// machine and still fails a store that delivers timers late.
const timerLateness = 750 * time.Millisecond

// noWorkWindow is how long a worker fetch that expects nothing waits, so that an item
// still on its way would be seen. It must stay well below the lock timeout.
const noWorkWindow = 250 * time.Millisecond

// harness wraps one store of a test with fatal-on-error helpers.
type harness struct {
	t    *testing.T
	f    Factory
	p    store.Provider
	ctx  context.Context
	lock time.Duration
	mg   Management
}

func newHarness(t *testing.T, f Factory) *harness {
	t.Helper()
	return &harness{t: t, f: f, p: f.NewProvider(t), ctx: context.Background(), lock: f.LockTimeout()}
}

func (h *harness) enqueue(item store.WorkItem) {
	h.t.Helper()
	if err := h.p.EnqueueForOrchestrator(h.ctx, item, 0); err != nil {
		h.t.Fatalf("enqueue %s for %q: %v", item.Type, item.Instance, err)
	}
}

func (h *harness) enqueueWork(item store.WorkItem) {
	h.t.Helper()
	h.f.EnqueueForWorker(h.t, h.p, item)
}

// fetch expects an orchestration item: every message enqueued so far is visible.
func (h *harness) fetch(lock time.Duration) *store.OrchestrationItem {
	h.t.Helper()
	h.f.Settle(h.t, h.p)
	item, err := h.p.FetchOrchestrationItem(h.ctx, lock, waitFor, nil)
	if err != nil {
		h.t.Fatalf("fetch orchestration item: %v", err)
	}
	if item == nil {
		h.t.Fatalf("fetch orchestration item: nothing within %v", waitFor)
	}
	return item
}

// fetchNone expects no orchestration item although every message enqueued so far is
// visible.
func (h *harness) fetchNone(lock time.Duration, why string) {
	h.t.Helper()
	h.f.Settle(h.t, h.p)
	item, err := h.p.FetchOrchestrationItem(h.ctx, lock, 0, nil)
	if err != nil {
		h.t.Fatalf("fetch orchestration item: %v", err)
	}
	if item != nil {
		h.t.Fatalf("fetch returned instance %q with %d messages; want nothing: %s", item.Instance, len(item.Messages), why)
	}
}

func (h *harness) ack(token string, c store.Commit) {
	h.t.Helper()
	if err := h.p.AckOrchestrationItem(h.ctx, token, c); err != nil {
		h.t.Fatalf("ack orchestration item: %v", err)
	}
}

func (h *harness) abandon(token string, delay time.Duration, ignoreAttempt bool) {
	h.t.Helper()
	if err := h.p.AbandonOrchestrationItem(h.ctx, token, delay, ignoreAttempt); err != nil {
		h.t.Fatalf("abandon orchestration item: %v", err)
	}
}

// fetchWork expects a work item.
func (h *harness) fetchWork(lock time.Duration) *store.WorkLease {
	h.t.Helper()
	w, err := h.p.FetchWorkItem(h.ctx, lock, waitFor)
	if err != nil {
		h.t.Fatalf("fetch work item: %v", err)
	}
	if w == nil {
		h.t.Fatalf("fetch work item: nothing within %v", waitFor)
	}
	return w
}

// fetchWorkWithin expects a work item within poll.
func (h *harness) fetchWorkWithin(lock, poll time.Duration, what string) *store.WorkLease {
	h.t.Helper()
	w, err := h.p.FetchWorkItem(h.ctx, lock, poll)
	if err != nil {
		h.t.Fatalf("fetch work item: %v", err)
	}
	if w == nil {
		h.t.Fatalf("fetch work item: nothing within %v; want %s", poll, what)
	}
	return w
}

// fetchNoWork expects no work item.
func (h *harness) fetchNoWork(lock time.Duration, why string) {
	h.t.Helper()
	w, err := h.p.FetchWorkItem(h.ctx, lock, noWorkWindow)
	if err != nil {
		h.t.Fatalf("fetch work item: %v", err)
	}
	if w != nil {
		h.t.Fatalf("fetch returned work item %s %d of %q; want nothing: %s", w.Item.Name, w.Item.ID, w.Item.Instance, why)
	}
}

func (h *harness) ackWork(token string, completion *store.WorkItem) {
	h.t.Helper()
	if err := h.p.AckWorkItem(h.ctx, token, completion); err != nil {
		h.t.Fatalf("ack work item: %v", err)
	}
}

func (h *harness) history(instance string, exec uint64) []history.Event {
	h.t.Helper()
	evs, err := h.p.ReadHistory(h.ctx, instance, exec)
	if err != nil {
		h.t.Fatalf("read history of %q (execution %d): %v", instance, exec, err)
	}
	return evs
}

func (h *harness) summary(instance string) *store.InstanceSummary {
	h.t.Helper()
	sum, err := h.p.InstanceSummary(h.ctx, instance)
	if err != nil {
		h.t.Fatalf("summary of %q: %v", instance, err)
	}
	return sum
}

// createInstance enqueues a start, fetches it and acks OrchestrationStarted with
// metadata (duroxide's create_instance).
func (h *harness) createInstance(instance string) {
	h.t.Helper()
	h.enqueue(startItem(instance))
	item := h.fetch(30 * time.Second)
	if item.Instance != instance {
		h.t.Fatalf("create %q: fetched %q", instance, item.Instance)
	}
	h.ack(item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started(instance, 1)}, Metadata: testMetadata()})
}

// sleep waits for a lock or a delay to run out (never to hide a race).
func sleep(d time.Duration) { time.Sleep(d) }

func isLockLost(err error) bool { return errors.Is(err, store.ErrLockLost) }

const testOrch = "TestOrch"

func testMetadata() store.ExecutionMetadata {
	return store.ExecutionMetadata{OrchestrationName: testOrch, OrchestrationVersion: "1.0.0"}
}

// startItem is duroxide's start_item.
func startItem(instance string) store.WorkItem {
	return startItemExec(instance, 1)
}

func startItemExec(instance string, exec uint64) store.WorkItem {
	return store.WorkItem{Type: store.StartOrchestration, Instance: instance, Name: testOrch, Version: "1.0.0", Input: "{}", ExecutionID: exec}
}

func started(instance string, exec uint64) history.Event {
	return history.Event{EventID: 1, InstanceID: instance, ExecutionID: exec, Type: history.OrchestrationStarted,
		Name: testOrch, Version: "1.0.0", Input: "{}"}
}

func event(id uint64, instance string, exec uint64, typ history.EventType) history.Event {
	return history.Event{EventID: id, InstanceID: instance, ExecutionID: exec, Type: typ}
}

func scheduled(id uint64, instance string, exec uint64, name, input string) history.Event {
	e := event(id, instance, exec, history.ActivityScheduled)
	e.Name, e.Input = name, input
	return e
}

func activity(instance string, exec, id uint64, name string) store.WorkItem {
	return store.WorkItem{Type: store.ActivityExecute, Instance: instance, ExecutionID: exec, ID: id, Name: name, Input: `"test"`}
}

func activityDone(instance string, exec, id uint64, result string) store.WorkItem {
	return store.WorkItem{Type: store.ActivityCompleted, Instance: instance, ExecutionID: exec, ID: id, Result: result}
}

func strp(s string) *string { return &s }
