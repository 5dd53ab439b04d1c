package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/store"
)

// Session routing validations (duroxide's provider_validation/sessions.rs). duroxide
// passes a SessionFetchConfig{owner_id, lock_timeout} (or None) to each
// fetch_work_item; here a store's session owner and lease are fixed when it is
// opened, so each owner of a test is a worker store (Factory.NewSessionWorker) on
// the harness's queues, and the harness's own store, which has no session owner, is
// duroxide's session=None fetch. Renewals (store.SessionStore.RenewSessionLocks) go
// to the worker that holds the sessions; the orphan sweep
// (CleanupOrphanedSessions) may go to any store of the deployment, here the
// harness's.

var sessionsTests = []Test{
	{"test_non_session_items_fetchable_by_any_worker", TestNonSessionItemsFetchableByAnyWorker},
	{"test_session_item_claimable_when_no_session", TestSessionItemClaimableWhenNoSession},
	{"test_session_affinity_same_worker", TestSessionAffinitySameWorker},
	{"test_session_affinity_blocks_other_worker", TestSessionAffinityBlocksOtherWorker},
	{"test_different_sessions_different_workers", TestDifferentSessionsDifferentWorkers},
	{"test_mixed_session_and_non_session_items", TestMixedSessionAndNonSessionItems},
	{"test_session_claimable_after_lock_expiry", TestSessionClaimableAfterLockExpiry},
	{"test_none_session_skips_session_items", TestNoneSessionSkipsSessionItems},
	{"test_some_session_returns_all_items", TestSomeSessionReturnsAllItems},
	{"test_renew_session_lock_active", TestRenewSessionLockActive},
	{"test_renew_session_lock_skips_idle", TestRenewSessionLockSkipsIdle},
	{"test_renew_session_lock_no_sessions", TestRenewSessionLockNoSessions},
	{"test_cleanup_removes_expired_no_items", TestCleanupRemovesExpiredNoItems},
	{"test_cleanup_keeps_sessions_with_pending_items", TestCleanupKeepsSessionsWithPendingItems},
	{"test_cleanup_keeps_active_sessions", TestCleanupKeepsActiveSessions},
	{"test_ack_updates_session_last_activity", TestAckUpdatesSessionLastActivity},
	{"test_renew_work_item_updates_session_last_activity", TestRenewWorkItemUpdatesSessionLastActivity},
	{"test_session_items_processed_in_order", TestSessionItemsProcessedInOrder},
	{"test_non_session_items_returned_with_session_config", TestNonSessionItemsReturnedWithSessionConfig},
	{"test_shared_worker_id_any_caller_can_fetch_owned_session", TestSharedWorkerIDAnyCallerCanFetchOwnedSession},
	{"test_concurrent_session_claim_only_one_wins", TestConcurrentSessionClaimOnlyOneWins},
	{"test_session_takeover_after_lock_expiry", TestSessionTakeoverAfterLockExpiry},
	{"test_cleanup_then_new_item_recreates_session", TestCleanupThenNewItemRecreatesSession},
	{"test_abandoned_session_item_retryable", TestAbandonedSessionItemRetryable},
	{"test_abandoned_session_item_ignore_attempt", TestAbandonedSessionItemIgnoreAttempt},
	{"test_renew_session_lock_after_expiry_returns_zero", TestRenewSessionLockAfterExpiryReturnsZero},
	{"test_original_worker_reclaims_expired_session", TestOriginalWorkerReclaimsExpiredSession},
	{"test_activity_lock_expires_session_lock_valid_same_worker_refetches", TestActivityLockExpiresSessionLockValidSameWorkerRefetches},
	{"test_session_lock_expires_new_owner_gets_redelivery", TestSessionLockExpiresNewOwnerGetsRedelivery},
	{"test_session_lock_expires_same_worker_reacquires", TestSessionLockExpiresSameWorkerReacquires},
	{"test_both_locks_expire_different_worker_claims", TestBothLocksExpireDifferentWorkerClaims},
	{"test_session_lock_expires_activity_lock_valid_ack_succeeds", TestSessionLockExpiresActivityLockValidAckSucceeds},
	{"test_session_lock_renewal_extends_past_original_timeout", TestSessionLockRenewalExtendsPastOriginalTimeout},
}

const (
	// longSession is duroxide's session_config lock (30s): it does not expire
	// during a test.
	longSession = 30 * time.Second
	// shortSession stands for duroxide's 50ms and 200ms session locks: long enough
	// for a claim, short enough to wait for.
	shortSession = 250 * time.Millisecond
	// pastShortSession is how long a test waits for a short session lease to
	// expire (duroxide waits 100ms for a 50ms lock), with margin for clock
	// estimates.
	pastShortSession = shortSession + 250*time.Millisecond
	// sessionWorkLock is the work lock of the session workers (duroxide's fetches
	// use 5s) unless a test needs another. The workers of one test share it: the
	// work lock is per consumer, not per fetch.
	sessionWorkLock = 5 * time.Second
)

// sessionWorker is a store on the harness's queues with session owner owner.
func (h *harness) sessionWorker(owner string, sessionLock, workLock time.Duration) store.Provider {
	h.t.Helper()
	return h.f.NewSessionWorker(h.t, h.p, owner, sessionLock, workLock)
}

func sessionOps(t *testing.T, p store.Provider) store.SessionStore {
	t.Helper()
	ss, ok := p.(store.SessionStore)
	if !ok {
		t.Fatalf("%T does not implement store.SessionStore", p)
	}
	return ss
}

// renewSessions is duroxide's renew_session_lock on the worker w.
func (h *harness) renewSessions(w store.Provider, owner string, extend, idle time.Duration) int {
	h.t.Helper()
	n, err := sessionOps(h.t, w).RenewSessionLocks(h.ctx, []string{owner}, extend, idle)
	if err != nil {
		h.t.Fatalf("renew session locks of %s: %v", owner, err)
	}
	return n
}

// cleanupSessions is duroxide's cleanup_orphaned_sessions, on the harness's store.
func (h *harness) cleanupSessions(idle time.Duration) int {
	h.t.Helper()
	n, err := sessionOps(h.t, h.p).CleanupOrphanedSessions(h.ctx, idle)
	if err != nil {
		h.t.Fatalf("cleanup orphaned sessions: %v", err)
	}
	return n
}

func (h *harness) ackWorkOn(w store.Provider, l *store.WorkLease, completion *store.WorkItem) {
	h.t.Helper()
	if err := w.AckWorkItem(h.ctx, l.LockToken, completion); err != nil {
		h.t.Fatalf("ack work item %d: %v", l.Item.ID, err)
	}
}

// claim fetches the session's first item from w and acks it (the session is then
// w's).
func (h *harness) claim(w store.Provider, instance string, id uint64, session string) {
	h.t.Helper()
	h.enqueueWork(sessionActivity(instance, id, session))
	l := h.fetchWorkFrom(w, sessionWorkLock)
	expectSessionItem(h.t, l, id, session)
	h.ackWorkOn(w, l, nil)
}

// sessionActivity is duroxide's session_activity.
func sessionActivity(instance string, id uint64, session string) store.WorkItem {
	return store.WorkItem{Type: store.ActivityExecute, Instance: instance, ExecutionID: 1, ID: id,
		Name: "SessionActivity", Input: "{}", SessionID: session}
}

// plainActivity is duroxide's plain_activity.
func plainActivity(instance string, id uint64) store.WorkItem {
	return store.WorkItem{Type: store.ActivityExecute, Instance: instance, ExecutionID: 1, ID: id,
		Name: "PlainActivity", Input: "{}"}
}

// expectSessionItem checks a fetched item's id and session ("" for none).
func expectSessionItem(t *testing.T, l *store.WorkLease, id uint64, session string) {
	t.Helper()
	if l.Item.ID != id || l.Item.SessionID != session {
		t.Fatalf("fetched item %d of %q with session %q; want item %d with session %q",
			l.Item.ID, l.Item.Instance, l.Item.SessionID, id, session)
	}
}

func expectAttempt(t *testing.T, l *store.WorkLease, attempt int) {
	t.Helper()
	if l.AttemptCount != attempt {
		t.Fatalf("item %d fetched at attempt %d, want %d", l.Item.ID, l.AttemptCount, attempt)
	}
}

func expectRenewed(t *testing.T, got, want int, why string) {
	t.Helper()
	if got != want {
		t.Fatalf("renewed %d sessions, want %d: %s", got, want, why)
	}
}

// TestNonSessionItemsFetchableByAnyWorker: an item without a session goes to any
// worker with a session owner.
func TestNonSessionItemsFetchableByAnyWorker(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(plainActivity("inst-1", 1))
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 1, "")
}

// TestSessionItemClaimableWhenNoSession: an item of a session nobody holds is
// fetched (claiming the session) and keeps its session id.
func TestSessionItemClaimableWhenNoSession(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(sessionActivity("inst-1", 1, "session-1"))
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 1, "session-1")
}

// TestSessionAffinitySameWorker: the worker that claimed a session gets its next
// item.
func TestSessionAffinitySameWorker(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	h.enqueueWork(sessionActivity("inst-1", 2, "session-1"))
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 2, "session-1")
}

// TestSessionAffinityBlocksOtherWorker: another worker does not get an item of a
// session held by a worker; the holder does (without an attempt counted for the
// detour).
func TestSessionAffinityBlocksOtherWorker(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	h.enqueueWork(sessionActivity("inst-1", 2, "session-1"))
	h.fetchNoWorkFrom(b, sessionWorkLock, "session-1 is worker-A's")
	l := h.fetchWorkFrom(a, sessionWorkLock)
	expectSessionItem(t, l, 2, "session-1")
	expectAttempt(t, l, 1)
}

// TestDifferentSessionsDifferentWorkers: two workers hold one session each and each
// gets its own session's items.
func TestDifferentSessionsDifferentWorkers(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	h.claim(b, "inst-2", 1, "session-2")
	h.enqueueWork(sessionActivity("inst-1", 2, "session-1"))
	h.enqueueWork(sessionActivity("inst-2", 2, "session-2"))
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 2, "session-1")
	expectSessionItem(t, h.fetchWorkFrom(b, sessionWorkLock), 2, "session-2")
}

// TestMixedSessionAndNonSessionItems: a worker skips an item of another worker's
// session and gets the item without a session behind it.
func TestMixedSessionAndNonSessionItems(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	h.enqueueWork(sessionActivity("inst-1", 2, "session-1"))
	h.enqueueWork(plainActivity("inst-2", 1))
	l := h.fetchWorkFrom(b, sessionWorkLock)
	if l.Item.Instance != "inst-2" {
		t.Fatalf("worker-B fetched item %d of %q; want the plain item of inst-2", l.Item.ID, l.Item.Instance)
	}
	expectSessionItem(t, l, 1, "")
}

// TestNoneSessionSkipsSessionItems: a store without a session owner (duroxide's
// session=None) fetches only items without a session; the session item stays for a
// worker with one, at its first attempt.
func TestNoneSessionSkipsSessionItems(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(sessionActivity("inst-1", 1, "session-1"))
	h.enqueueWork(plainActivity("inst-2", 2))
	l := h.fetchWork(h.lock)
	expectSessionItem(t, l, 2, "")
	h.ackWork(l.LockToken, nil)
	h.fetchNoWork(h.lock, "the session item is invisible to a store without a session owner")
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	l = h.fetchWorkFrom(a, sessionWorkLock)
	expectSessionItem(t, l, 1, "session-1")
	expectAttempt(t, l, 1)
}

// TestSomeSessionReturnsAllItems: a worker with a session owner (and no cap) gets
// the items of three unclaimed sessions and the plain item, in FIFO order.
func TestSomeSessionReturnsAllItems(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(sessionActivity("inst-1", 1, "sess-A"))
	h.enqueueWork(sessionActivity("inst-2", 2, "sess-B"))
	h.enqueueWork(sessionActivity("inst-3", 3, "sess-C"))
	h.enqueueWork(plainActivity("inst-4", 4))
	w := h.sessionWorker("shared-proc", longSession, sessionWorkLock)
	for want := uint64(1); want <= 4; want++ {
		l := h.fetchWorkFrom(w, sessionWorkLock)
		if l.Item.ID != want {
			t.Fatalf("fetched item %d, want %d (FIFO)", l.Item.ID, want)
		}
		h.ackWorkOn(w, l, nil)
	}
	h.fetchNoWorkFrom(w, sessionWorkLock, "the queue is empty")
}

// TestRenewSessionLockActive: renewal extends every active session of the owner.
func TestRenewSessionLockActive(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", 5*time.Second, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, 300*time.Second), 1, "one active session")
	h.claim(a, "inst-2", 1, "session-2")
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, 300*time.Second), 2, "two active sessions")
}

// TestRenewSessionLockSkipsIdle: with an idle timeout of 0 every session is idle,
// and none is renewed.
func TestRenewSessionLockSkipsIdle(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, 0), 0, "the session is idle")
}

// TestRenewSessionLockNoSessions: an owner without sessions renews none.
func TestRenewSessionLockNoSessions(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, 300*time.Second), 0, "no sessions")
}

// TestCleanupRemovesExpiredNoItems: an expired session with no item left is swept.
func TestCleanupRemovesExpiredNoItems(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	sleep(pastShortSession)
	if n := h.cleanupSessions(300 * time.Second); n != 1 {
		t.Fatalf("cleaned up %d sessions, want 1", n)
	}
}

// TestCleanupKeepsSessionsWithPendingItems: an expired session with an item left is
// kept.
func TestCleanupKeepsSessionsWithPendingItems(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	h.enqueueWork(sessionActivity("inst-1", 2, "session-1"))
	sleep(pastShortSession)
	if n := h.cleanupSessions(300 * time.Second); n != 0 {
		t.Fatalf("cleaned up %d sessions, want 0: session-1 has an item", n)
	}
}

// TestCleanupKeepsActiveSessions: a session whose lease has not expired is kept.
func TestCleanupKeepsActiveSessions(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", 300*time.Second, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	if n := h.cleanupSessions(300 * time.Second); n != 0 {
		t.Fatalf("cleaned up %d sessions, want 0: session-1 is active", n)
	}
}

// sessionIdleWindow is the tight idle timeout of the last-activity tests (duroxide:
// 200ms): the fetch is older than it when the session is renewed, the ack or work
// lock renewal is not.
const sessionIdleWindow = 400 * time.Millisecond

// TestAckUpdatesSessionLastActivity: acking a session item counts as activity: a
// session fetched longer ago than the idle timeout but acked just now is renewed.
func TestAckUpdatesSessionLastActivity(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "session-1"))
	l := h.fetchWorkFrom(a, sessionWorkLock)
	sleep(sessionIdleWindow + 100*time.Millisecond)
	done := activityDone("inst-1", 1, 1, `"ok"`)
	h.ackWorkOn(a, l, &done)
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, sessionIdleWindow), 1,
		"the ack must have counted as activity")
}

// TestRenewWorkItemUpdatesSessionLastActivity: renewing a session item's lock counts
// as activity.
func TestRenewWorkItemUpdatesSessionLastActivity(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "session-1"))
	l := h.fetchWorkFrom(a, sessionWorkLock)
	sleep(sessionIdleWindow + 100*time.Millisecond)
	if err := a.RenewWorkItemLock(h.ctx, l.LockToken, 30*time.Second); err != nil {
		t.Fatalf("renew work item lock: %v", err)
	}
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, sessionIdleWindow), 1,
		"the work item lock renewal must have counted as activity")
}

// TestSessionItemsProcessedInOrder: one worker gets a session's items in FIFO order.
func TestSessionItemsProcessedInOrder(t *testing.T, f Factory) {
	h := newHarness(t, f)
	for id := uint64(1); id <= 3; id++ {
		h.enqueueWork(sessionActivity("inst-1", id, "session-1"))
	}
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	for want := uint64(1); want <= 3; want++ {
		l := h.fetchWorkFrom(a, sessionWorkLock)
		expectSessionItem(t, l, want, "session-1")
		h.ackWorkOn(a, l, nil)
	}
}

// TestNonSessionItemsReturnedWithSessionConfig: a worker holding a session still
// gets items without a session.
func TestNonSessionItemsReturnedWithSessionConfig(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	h.enqueueWork(plainActivity("inst-2", 1))
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 1, "")
}

// TestSharedWorkerIDAnyCallerCanFetchOwnedSession: two stores with one owner id (two
// slots of one process, or a restarted process) both get the owner's session items;
// another owner gets none, and what it skipped reaches the owner.
func TestSharedWorkerIDAnyCallerCanFetchOwnedSession(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(sessionActivity("inst-1", 1, "shared-sess"))
	h.enqueueWork(sessionActivity("inst-1", 2, "shared-sess"))
	p1a := h.sessionWorker("process-1", longSession, sessionWorkLock)
	p1b := h.sessionWorker("process-1", longSession, sessionWorkLock)
	p2 := h.sessionWorker("process-2", longSession, sessionWorkLock)
	l := h.fetchWorkFrom(p1a, sessionWorkLock)
	expectSessionItem(t, l, 1, "shared-sess")
	h.ackWorkOn(p1a, l, nil)
	l = h.fetchWorkFrom(p1b, sessionWorkLock)
	expectSessionItem(t, l, 2, "shared-sess")
	h.ackWorkOn(p1b, l, nil)
	h.enqueueWork(sessionActivity("inst-1", 3, "shared-sess"))
	h.fetchNoWorkFrom(p2, sessionWorkLock, "shared-sess is process-1's")
	l = h.fetchWorkFrom(p1a, sessionWorkLock)
	expectSessionItem(t, l, 3, "shared-sess")
	h.ackWorkOn(p1a, l, nil)
}

// TestConcurrentSessionClaimOnlyOneWins: two workers fetch at the same time with two
// items of one unclaimed session in the queue: exactly one of them claims the
// session and gets an item, the other gets nothing; the winner then gets the
// second item.
func TestConcurrentSessionClaimOnlyOneWins(t *testing.T, f Factory) {
	h := newHarness(t, f)
	h.enqueueWork(sessionActivity("inst-1", 1, "contested-sess"))
	h.enqueueWork(sessionActivity("inst-1", 2, "contested-sess"))
	workers := []store.Provider{
		h.sessionWorker("worker-A", longSession, sessionWorkLock),
		h.sessionWorker("worker-B", longSession, sessionWorkLock),
	}
	const poll = time.Second
	leases := make([]*store.WorkLease, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leases[i], errs[i] = w.FetchWorkItem(h.ctx, sessionWorkLock, poll)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("fetch work item: %v", err)
		}
	}
	if (leases[0] == nil) == (leases[1] == nil) {
		t.Fatalf("worker-A fetched %+v, worker-B %+v: want exactly one item", leases[0], leases[1])
	}
	win, lose := 0, 1
	if leases[0] == nil {
		win, lose = 1, 0
	}
	first := leases[win]
	h.fetchNoWorkFrom(workers[lose], sessionWorkLock, "the other worker holds the session")
	second := h.fetchWorkFrom(workers[win], sessionWorkLock)
	if first.Item.SessionID != "contested-sess" || second.Item.SessionID != "contested-sess" || first.Item.ID+second.Item.ID != 3 {
		t.Fatalf("the winner fetched items %d and %d (sessions %q, %q); want items 1 and 2 of contested-sess",
			first.Item.ID, second.Item.ID, first.Item.SessionID, second.Item.SessionID)
	}
	h.ackWorkOn(workers[win], first, nil)
	h.ackWorkOn(workers[win], second, nil)
}

// TestCleanupThenNewItemRecreatesSession: after the sweep removed a session, a new
// item of it is claimed afresh.
func TestCleanupThenNewItemRecreatesSession(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "ephemeral-sess")
	sleep(pastShortSession)
	if n := h.cleanupSessions(300 * time.Second); n != 1 {
		t.Fatalf("cleaned up %d sessions, want 1", n)
	}
	h.enqueueWork(sessionActivity("inst-1", 2, "ephemeral-sess"))
	expectSessionItem(t, h.fetchWorkFrom(b, sessionWorkLock), 2, "ephemeral-sess")
}

// TestAbandonedSessionItemRetryable: an abandoned session item is fetched again by
// its worker at the next attempt; once acked it is gone.
func TestAbandonedSessionItemRetryable(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "retry-sess"))
	l := h.fetchWorkFrom(a, sessionWorkLock)
	expectSessionItem(t, l, 1, "retry-sess")
	expectAttempt(t, l, 1)
	if err := a.AbandonWorkItem(h.ctx, l.LockToken, 0, false); err != nil {
		t.Fatalf("abandon work item: %v", err)
	}
	l = h.fetchWorkFrom(a, sessionWorkLock)
	expectSessionItem(t, l, 1, "retry-sess")
	expectAttempt(t, l, 2)
	h.ackWorkOn(a, l, nil)
	h.fetchNoWorkFrom(a, sessionWorkLock, "the item was acked")
}

// TestAbandonedSessionItemIgnoreAttempt: abandoning with ignoreAttempt does not
// count the attempt.
func TestAbandonedSessionItemIgnoreAttempt(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", longSession, sessionWorkLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "ignore-sess"))
	l := h.fetchWorkFrom(a, sessionWorkLock)
	expectAttempt(t, l, 1)
	if err := a.AbandonWorkItem(h.ctx, l.LockToken, time.Millisecond, true); err != nil {
		t.Fatalf("abandon work item: %v", err)
	}
	l = h.fetchWorkFrom(a, sessionWorkLock)
	expectSessionItem(t, l, 1, "ignore-sess")
	expectAttempt(t, l, 1)
	h.ackWorkOn(a, l, nil)
}
