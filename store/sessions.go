package store

import (
	"context"
	"time"
)

// SessionStore is the session side of a store (duroxide's renew_session_lock and
// cleanup_orphaned_sessions). Activities scheduled on a session (WorkItem.SessionID)
// run on the owner of the session: the first fetch of one of its items by a store
// with a session owner claims the session (a lease with the owner's lock timeout;
// of concurrent claimants exactly one wins), later items go to that owner while the
// lease lasts, and an expired lease may be claimed by any owner (the previous one
// included). A fetch that claims or serves a session, and the ack, renewal or
// abandon of a session item, count as activity on the session.
//
// duroxide passes the owner and its lock timeout (SessionFetchConfig{owner_id,
// lock_timeout}) to each fetch_work_item, and None for a fetch that must skip
// session items. Here they are part of a store's configuration, fixed like its
// worker tags (for the JetStream store: jetstream.SessionConfig, set with
// Store.EnableSessions); a store without it never returns session items. Stores
// configured with the same owner share its sessions.
//
// The store does not extend leases by itself: the caller renews them periodically
// (the runtime's session manager, every third of the lock timeout) and stops
// renewing a session that has been idle, so its lease lapses and the session may
// move. An activity already fetched keeps its own lock when its session moves: its
// ack still succeeds.
type SessionStore interface {
	// RenewSessionLocks extends to now+extend the leases of the sessions held by one
	// of owners that have not expired and have seen activity within idle (idle 0:
	// none), and returns how many it extended. An expired lease is not renewed (it
	// may have been claimed by another owner since); nothing to renew is 0 and no
	// error. A store renews the sessions it holds itself (a store serves one owner;
	// the runtime calls it on its own store with its own owner). An error means
	// some leases could not be written (the count is of those that were).
	RenewSessionLocks(ctx context.Context, owners []string, extend, idle time.Duration) (int, error)

	// CleanupOrphanedSessions deletes the leases, of any owner, that have expired
	// and whose session has no work item left (waiting or in flight), and returns
	// how many it deleted (0 is normal). A later item of a deleted session claims it
	// anew. idle is accepted for duroxide's signature; expiry already reflects
	// idleness, since idle sessions are not renewed.
	CleanupOrphanedSessions(ctx context.Context, idle time.Duration) (int, error)
}
