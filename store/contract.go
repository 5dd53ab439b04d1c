package store

import (
	"context"
	"time"

	"github.com/duroxide-go/duroxide/history"
)

// The store contract, layered like duroxide's Provider and ProviderAdmin: a
// [Provider] is what the runtime needs to run orchestrations and activities; a
// store may also implement [SessionStore] (activity sessions), [KVReader] (client
// reads of an instance's key-value store), [Admin] (management reads) and [Deleter]
// (delete and prune). Callers discover the optional layers with type assertions.
// Each method's comment states its guarantees and its errors; docs/STORE.md maps
// them to the JetStream mechanisms that provide them, and package storetest checks
// them.

// Provider is the durable store the runtime runs on. All methods are safe for
// concurrent use. Methods that take a context return its error when it ends first.
type Provider interface {
	// FetchOrchestrationItem locks one instance that has visible messages and returns
	// them all, with the instance's current history. It waits up to pollTimeout for
	// work and returns (nil, nil) if none arrived. The lock lasts lockTimeout unless
	// renewed; while it is held no other caller receives the instance, and messages
	// that arrive meanwhile wait for the next fetch.
	//
	// filter (nil: no filter) restricts the fetch to instances whose current
	// execution is compatible with it ([CapabilityFilter.Compatible]: only the
	// filter's first range is used; a filter with no ranges matches nothing; an
	// execution without a pinned version matches every other filter).
	// Incompatible instances are skipped BEFORE they are locked and before their
	// history is decoded: a skipped instance is not locked, its messages' attempt
	// counts do not change, it stays available to other fetches, and a corrupted
	// history of a skipped instance yields no HistoryError and no error. When only
	// incompatible instances have work, the fetch waits for other work until
	// pollTimeout, then returns (nil, nil).
	FetchOrchestrationItem(ctx context.Context, lockTimeout, pollTimeout time.Duration, filter *CapabilityFilter) (*OrchestrationItem, error)

	// AckOrchestrationItem commits a turn atomically: the history delta, the worker and
	// orchestrator items, and the removal of the locked messages all happen, or none
	// do. It returns [ErrLockLost] if the token is not held, and [ErrFenced] if
	// another holder extended the instance's history since the fetch; in both cases
	// nothing was committed and the lock is released. It returns [ErrInvalidCommit]
	// when the delta's event ids repeat or do not follow the execution's existing
	// ids; then nothing was committed either, and the lock is still held. Metadata
	// that changes the instance's status (or output, name, version, parent) is
	// applied even when the commit has no events; when there is no execution to apply
	// it to (no history, or a new execution without events) the commit is refused
	// with [ErrInvalidCommit]. It is never silently dropped.
	//
	// The store stamps what the commit sends with the instance's incarnation
	// ([WorkItem.Incarnation], [WorkItem.OriginIncarnation]); a fetch never hands
	// out a message of an incarnation that is not the instance's current one, nor a
	// start sent by an incarnation that no longer exists (they are removed).
	AckOrchestrationItem(ctx context.Context, lockToken string, c Commit) error

	// AbandonOrchestrationItem releases the lock without committing. The messages
	// become visible again after delay. With ignoreAttempt the delivery does not count
	// towards the messages' attempt counts. Returns [ErrLockLost] for a bad token.
	AbandonOrchestrationItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error

	// RenewOrchestrationItemLock extends a held lock to now+extend. Returns
	// [ErrLockLost] if the lock is no longer held.
	RenewOrchestrationItemLock(ctx context.Context, lockToken string, extend time.Duration) error

	// FetchWorkItem locks the oldest visible worker-queue item, waiting up to
	// pollTimeout; (nil, nil) when none arrived. Items with a session id are routed
	// by session (see [SessionStore]): a store configured with a session owner
	// returns items without a session, items of sessions it holds, and items of
	// sessions nobody holds (claiming them); a store without one returns only items
	// without a session. An item whose instance's incarnation no longer exists (the
	// instance was deleted) is removed instead of returned.
	FetchWorkItem(ctx context.Context, lockTimeout, pollTimeout time.Duration) (*WorkLease, error)

	// AckWorkItem removes a locked work item and, if completion is not nil, enqueues it
	// for its orchestration, atomically from the orchestration's point of view: a
	// completion is never lost, and one delivered twice is recognised by its
	// (execution, id) and applied once. The completion belongs to the incarnation of
	// the item's instance: it never reaches an instance recreated under the same id.
	// Returns [ErrLockLost], enqueueing nothing, if the lock expired or the item was
	// removed (its activity cancelled or its instance deleted, by any store on the
	// same queues).
	AckWorkItem(ctx context.Context, lockToken string, completion *WorkItem) error

	// RenewWorkItemLock extends a work item's lock. Returns [ErrLockLost] if it is no
	// longer held (acked, expired, or removed by any store on the same queues).
	RenewWorkItemLock(ctx context.Context, lockToken string, extend time.Duration) error

	// AbandonWorkItem releases a work item; it is redelivered after delay. With
	// ignoreAttempt the delivery does not count towards the item's attempt count.
	// Returns [ErrLockLost] for a token that holds nothing (never issued, or its
	// item acked, abandoned or removed); a store may also return it for a lock that
	// expired (the item is then visible again anyway).
	AbandonWorkItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error

	// EnqueueForOrchestrator adds a message to an instance's inbox. It never creates
	// the instance: only a StartOrchestration message processed by the runtime does.
	EnqueueForOrchestrator(ctx context.Context, item WorkItem, delay time.Duration) error

	// ReadHistory returns the history of the instance's latest execution, or of
	// executionID when it is not 0. A missing instance yields an empty slice.
	ReadHistory(ctx context.Context, instance string, executionID uint64) ([]history.Event, error)

	// InstanceSummary returns the instance's state as of its last committed turn, or
	// [ErrNotFound].
	InstanceSummary(ctx context.Context, instance string) (*InstanceSummary, error)

	// Close stops background work. In-flight locks are released without commit.
	Close() error
}

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

// KVReader reads an instance's key-value store as clients see it (duroxide's
// Provider get_kv_value and get_kv_all_values): the store its ended executions
// left, merged with the changes its running execution has committed so far, in
// order (a key cleared by the running execution is absent even if an ended
// execution set it). Reads reflect every turn committed before the call. A missing
// instance has an empty store: that is not an error.
//
// A store that supports client KV reads implements KVReader on its [Provider];
// callers discover it with a type assertion.
type KVReader interface {
	// GetKVValue returns the value of key and true, or false when the key or the
	// instance does not exist. An empty value is a value (true).
	GetKVValue(ctx context.Context, instance, key string) (value string, ok bool, err error)
	// GetKVAllValues returns the instance's whole store (empty, not nil, when the
	// instance does not exist).
	GetKVAllValues(ctx context.Context, instance string) (map[string]string, error)
}

// The management side of the store contract (duroxide's ProviderAdmin), split by
// concern: [Admin] reads (listings, views, metrics, queue depths, stats, trees) and
// [Deleter] removes (delete, bulk delete, prune). A store that supports management
// implements both on one value; callers discover them with a type assertion on the
// [Provider] (or get them from the store's constructor).
//
// Reads that depend on views built asynchronously from the history must observe every
// turn committed before the call (read-your-writes); a store that cannot guarantee it
// in bounded time returns [ErrViewsUnavailable].

// Admin is the read side of management. Every method is safe for concurrent use and
// reflects every turn committed before the call; view-backed reads return
// [ErrViewsUnavailable] if the views cannot catch up in time.
type Admin interface {
	// ListInstances returns one page of instance ids: all instances in creation
	// order, or those in q.Status in the order they reached it, filtered by name and
	// creation time. A bad cursor is an error.
	ListInstances(ctx context.Context, q ListQuery) (*ListPage, error)

	// ListAllInstances returns every instance id q selects (q.Limit and q.Cursor are
	// ignored).
	ListAllInstances(ctx context.Context, q ListQuery) ([]string, error)

	// ListExecutions returns the execution ids the instance still holds, ascending
	// (pruned executions are absent); empty for a missing instance.
	ListExecutions(ctx context.Context, instance string) ([]uint64, error)

	// InstanceInfo returns an instance's view, or [ErrNotFound].
	InstanceInfo(ctx context.Context, instance string) (*InstanceInfo, error)

	// ExecutionInfo returns an execution's view, or [ErrExecutionNotFound] (also for
	// a pruned execution or a missing instance).
	ExecutionInfo(ctx context.Context, instance string, execution uint64) (*ExecutionInfo, error)

	// SystemMetrics returns the system-wide totals.
	SystemMetrics(ctx context.Context) (*SystemMetrics, error)

	// QueueDepths counts the messages waiting in the queues. It reflects every
	// enqueue acknowledged before the call.
	QueueDepths(ctx context.Context) (*QueueDepths, error)

	// InstanceStats returns an instance's sizes, or [ErrNotFound].
	InstanceStats(ctx context.Context, instance string) (*InstanceStats, error)

	// ListChildren returns the instance's direct sub-orchestrations (instances whose
	// parent is it), in no particular order; empty for a leaf or a missing instance.
	ListChildren(ctx context.Context, instance string) ([]string, error)

	// ParentID returns the instance's parent ("" for a root), or [ErrNotFound].
	ParentID(ctx context.Context, instance string) (string, error)

	// InstanceTree returns the instance and its descendants, or [ErrNotFound].
	InstanceTree(ctx context.Context, instance string) (*InstanceTree, error)
}

// Deleter is the write side of management. Deleting an instance removes its
// history (every execution), its views, its KV store and its queued messages,
// timers and work items; a turn of it still in flight cannot commit afterwards (its
// ack fails with [ErrFenced] or [ErrLockLost]), so it is not recreated.
type Deleter interface {
	// DeleteInstance deletes a root instance and its descendants. It returns
	// [ErrNotFound] for a missing instance, [ErrCannotDeleteSubOrchestration] for a
	// sub-orchestration, and [ErrInstanceStillRunning] when an instance of the tree
	// runs and force is false; then nothing is deleted.
	DeleteInstance(ctx context.Context, instance string, force bool) (*DeleteResult, error)

	// DeleteInstances deletes the given instances (duroxide's
	// delete_instances_atomic); missing ids are ignored. It checks before deleting
	// anything: without force, a running instance among them fails the call with
	// [ErrInstanceStillRunning]; an existing child of one of them that is not in the
	// list fails it with [ErrWouldOrphan]. The deletes themselves are not one
	// transaction: a failure part way (a lost connection) leaves the rest.
	DeleteInstances(ctx context.Context, instances []string, force bool) (*DeleteResult, error)

	// DeleteInstanceBulk deletes the finished root instances the filter selects,
	// with their descendants, skipping running instances and sub-orchestrations. An
	// empty filter selects every finished root (up to the limit).
	DeleteInstanceBulk(ctx context.Context, f InstanceFilter) (*DeleteResult, error)

	// PruneExecutions removes the history of an instance's ended executions other
	// than the current one, as opts selects. It is safe while the instance runs. It
	// returns [ErrNotFound] for a missing instance.
	PruneExecutions(ctx context.Context, instance string, opts PruneOptions) (*PruneResult, error)

	// PruneExecutionsBulk prunes every instance the filter selects (running ones
	// included; f.CompletedBefore is ignored, use opts) and returns the totals.
	// Missing instances are skipped.
	PruneExecutionsBulk(ctx context.Context, f InstanceFilter, opts PruneOptions) (*PruneResult, error)
}

// The client's and the runtime's side of the contract beyond [Provider]: optional
// layers a store implements when it has a better way than the fallback the runtime
// uses without them. Each is discovered with a type assertion on the [Provider]; the
// runtime states its fallback in each comment, so a store that implements none of
// them (an in-memory store serving one process) still runs every feature except
// the ones named there.

// InboxPublisher gives client messages (StartOrchestration, ExternalRaised,
// QueueMessage, CancelInstance) a path of their own into an instance's inbox. A
// published message is durable when the call returns and is delivered to the
// instance's next [Provider.FetchOrchestrationItem] like a message of
// [Provider.EnqueueForOrchestrator]; it never creates the instance by itself. Two
// publishes with the same non-empty dedupID within the store's duplicate window
// enqueue one message. Without it, clients call EnqueueForOrchestrator with no delay
// (and no deduplication: the runtime ignores a second start of an existing instance
// anyway).
type InboxPublisher interface {
	// PublishInbox adds a client message to item.Instance's inbox. It returns an
	// error, enqueueing nothing, for an invalid instance id.
	PublishInbox(ctx context.Context, item WorkItem, dedupID string) error
}

// PendingReader reports starts that wait in an inbox: an instance whose
// StartOrchestration no runtime has processed yet has no history
// ([Provider.InstanceSummary] returns [ErrNotFound]) but exists for its clients, as
// Pending. Without it, clients see such an instance as not found until its first turn
// commits, list no pending instances, and a wait for an instance that does not
// exist lasts until its context ends (it cannot tell it from a start waiting).
type PendingReader interface {
	// PendingStart returns the first StartOrchestration waiting in the instance's
	// inbox (nil if none) and how many messages wait there in all (delayed ones
	// included). A message stays counted until the turn that consumed it has
	// committed (and may stay counted a moment longer), so an instance with no
	// history and nothing pending does not exist: read PendingStart first, then
	// InstanceSummary.
	PendingStart(ctx context.Context, instance string) (start *WorkItem, pending uint64, err error)
	// PendingStarts lists instances without history (at the time of the call)
	// whose start waits in their inbox, of orchestration name when name is not empty: at most limit (> 0) of
	// them, after the cursor after ("" for the first page), in an order fixed by
	// the store. next is the cursor of the next page, "" after the last.
	PendingStarts(ctx context.Context, name string, limit int, after string) (ids []string, next string, err error)
}

// DeadLetterReader tells why a store rejected an instance's message (a store that
// dead-letters undecodable or invalid messages instead of dropping them). Without
// it, clients have no reason to give beyond "not found".
type DeadLetterReader interface {
	// LastDeadLetter returns the reason the instance's last dead-lettered message
	// was rejected, or "" when none was.
	LastDeadLetter(ctx context.Context, instance string) (string, error)
}

// StatusWatcher wakes waiters when an instance's status may have changed, so a
// client waiting for an instance to finish does not have to poll. Notices are best
// effort: a waiter always re-reads [Provider.InstanceSummary], and also polls (at
// least every second), so a lost notice only delays it. Without it, waiters only
// poll (every second).
type StatusWatcher interface {
	// WatchStatus calls notify (from any goroutine, possibly spuriously) after each
	// commit that may have changed the instance's summary, until stop is called.
	// notify must not block.
	WatchStatus(instance string, notify func()) (stop func(), err error)
}

// CancelSignaler carries "stop running these activities" from the runtime that
// committed a turn cancelling them ([Commit.CancelledActivities]) to every runtime
// of the deployment, so an attempt running elsewhere stops at once rather than at
// its next lock renewal (which fails with [ErrLockLost]). Signals are best effort
// and sent after the commit. Without it, the runtime signals only its own running
// activities, which is all there is for a store serving one process.
type CancelSignaler interface {
	// SignalCancelled sends one signal naming refs (all of instance).
	SignalCancelled(instance string, refs []ActivityRef) error
	// WatchCancellations calls fn with the refs of each signal (of any instance,
	// from any runtime, this one included) until stop is called. fn must not block.
	WatchCancellations(fn func([]ActivityRef)) (stop func(), err error)
}
