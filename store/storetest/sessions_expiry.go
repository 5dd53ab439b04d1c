package storetest

import (
	"testing"
	"time"
)

// Session validations about expired locks (part of duroxide's sessions.rs, see
// sessions.go): who may claim, renew or ack once a session lock or an activity lock
// has run out.

// TestSessionClaimableAfterLockExpiry: once a session's lease expires (it was not
// renewed), another worker claims it.
func TestSessionClaimableAfterLockExpiry(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "session-1")
	sleep(pastShortSession)
	h.enqueueWork(sessionActivity("inst-1", 2, "session-1"))
	expectSessionItem(t, h.fetchWorkFrom(b, sessionWorkLock), 2, "session-1")
}

// TestSessionTakeoverAfterLockExpiry: an item enqueued while the lease was valid
// goes to another worker once the lease expired, and that worker now holds the
// session.
func TestSessionTakeoverAfterLockExpiry(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "takeover-sess")
	h.enqueueWork(sessionActivity("inst-1", 2, "takeover-sess"))
	sleep(pastShortSession)
	expectSessionItem(t, h.fetchWorkFrom(b, sessionWorkLock), 2, "takeover-sess")
	h.enqueueWork(sessionActivity("inst-1", 3, "takeover-sess"))
	h.fetchNoWorkFrom(a, sessionWorkLock, "takeover-sess is worker-B's now")
}

// TestRenewSessionLockAfterExpiryReturnsZero: an expired lease is not renewed.
func TestRenewSessionLockAfterExpiryReturnsZero(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "expired-sess")
	sleep(pastShortSession)
	expectRenewed(t, h.renewSessions(a, "worker-A", 30*time.Second, 300*time.Second), 0, "the lease expired")
}

// TestOriginalWorkerReclaimsExpiredSession: the worker whose lease expired claims
// the session again with its next fetch.
func TestOriginalWorkerReclaimsExpiredSession(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "reclaim-sess")
	h.enqueueWork(sessionActivity("inst-1", 2, "reclaim-sess"))
	sleep(pastShortSession)
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 2, "reclaim-sess")
}

// TestActivityLockExpiresSessionLockValidSameWorkerRefetches: an item whose work
// lock expired while its session's lease is valid is not handed to another worker;
// its worker gets it again, at the next attempt.
func TestActivityLockExpiresSessionLockValidSameWorkerRefetches(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const workLock = time.Second
	a := h.sessionWorker("worker-A", longSession, workLock)
	b := h.sessionWorker("worker-B", longSession, workLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "sticky-sess"))
	h.fetchWorkFrom(a, workLock) // not acked
	sleep(workLock + 300*time.Millisecond)
	h.fetchNoWorkFrom(b, workLock, "sticky-sess is still worker-A's")
	l := h.fetchWorkFrom(a, workLock)
	expectSessionItem(t, l, 1, "sticky-sess")
	expectAttempt(t, l, 2)
	h.ackWorkOn(a, l, nil)
}

// TestSessionLockExpiresNewOwnerGetsRedelivery: the session's lease expires while
// its worker still holds an item; another worker claims the session with a new
// item, and gets the old item too once it is abandoned, at the next attempt.
func TestSessionLockExpiresNewOwnerGetsRedelivery(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "takeover2-sess"))
	held := h.fetchWorkFrom(a, sessionWorkLock)
	sleep(pastShortSession)
	h.enqueueWork(sessionActivity("inst-1", 2, "takeover2-sess"))
	l := h.fetchWorkFrom(b, sessionWorkLock)
	expectSessionItem(t, l, 2, "takeover2-sess")
	h.ackWorkOn(b, l, nil)
	_ = a.AbandonWorkItem(h.ctx, held.LockToken, 0, false) // duroxide ignores the result
	l = h.fetchWorkFrom(b, sessionWorkLock)
	expectSessionItem(t, l, 1, "takeover2-sess")
	expectAttempt(t, l, 2)
	h.ackWorkOn(b, l, nil)
}

// TestSessionLockExpiresSameWorkerReacquires: the worker whose lease expired gets
// the session's next item (it claims the session again).
func TestSessionLockExpiresSameWorkerReacquires(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "reacq-sess")
	sleep(pastShortSession)
	h.enqueueWork(sessionActivity("inst-1", 2, "reacq-sess"))
	l := h.fetchWorkFrom(a, sessionWorkLock)
	expectSessionItem(t, l, 2, "reacq-sess")
	h.ackWorkOn(a, l, nil)
}

// TestBothLocksExpireDifferentWorkerClaims: when both the item's lock and the
// session's lease expired, another worker gets the item, at the next attempt.
func TestBothLocksExpireDifferentWorkerClaims(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const workLock = 500 * time.Millisecond
	a := h.sessionWorker("worker-A", shortSession, workLock)
	b := h.sessionWorker("worker-B", longSession, workLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "both-expire-sess"))
	h.fetchWorkFrom(a, workLock) // not acked
	sleep(max(workLock, shortSession) + 300*time.Millisecond)
	l := h.fetchWorkFrom(b, workLock)
	expectSessionItem(t, l, 1, "both-expire-sess")
	expectAttempt(t, l, 2)
	h.ackWorkOn(b, l, nil)
}

// TestSessionLockExpiresActivityLockValidAckSucceeds: the session's lease is about
// routing: a worker whose lease expired still acks the item it holds.
func TestSessionLockExpiresActivityLockValidAckSucceeds(t *testing.T, f Factory) {
	h := newHarness(t, f)
	a := h.sessionWorker("worker-A", shortSession, sessionWorkLock)
	h.enqueueWork(sessionActivity("inst-1", 1, "sess-expires"))
	l := h.fetchWorkFrom(a, sessionWorkLock)
	sleep(pastShortSession)
	done := activityDone("inst-1", 1, 1, `"done"`)
	h.ackWorkOn(a, l, &done)
}

// TestSessionLockRenewalExtendsPastOriginalTimeout: a lease renewed before it
// expires is still held past its original end.
func TestSessionLockRenewalExtendsPastOriginalTimeout(t *testing.T, f Factory) {
	h := newHarness(t, f)
	const lock = 2 * time.Second // duroxide: 1s
	a := h.sessionWorker("worker-A", lock, sessionWorkLock)
	b := h.sessionWorker("worker-B", longSession, sessionWorkLock)
	h.claim(a, "inst-1", 1, "renew-ext-sess")
	claimed := time.Now() // the lease was written before
	sleep(time.Until(claimed.Add(lock * 6 / 10)))
	renewedAt := time.Now()
	expectRenewed(t, h.renewSessions(a, "worker-A", lock, 300*time.Second), 1, "the session is active")
	sleep(time.Until(claimed.Add(lock + 100*time.Millisecond))) // past the original lease
	h.enqueueWork(sessionActivity("inst-1", 2, "renew-ext-sess"))
	h.fetchNoWorkFrom(b, sessionWorkLock, "the renewed lease is still worker-A's")
	if late := time.Since(renewedAt); late >= lock {
		t.Fatalf("the check ended %v after the renewal, past the renewed lease (%v): too slow to tell", late, lock)
	}
	expectSessionItem(t, h.fetchWorkFrom(a, sessionWorkLock), 2, "renew-ext-sess")
}
