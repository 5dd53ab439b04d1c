package store

import (
	"context"
	"errors"

	"github.com/duroxide-go/duroxide/history"
)

// The management side of the store contract (duroxide's ProviderAdmin), split by
// concern: [Admin] reads (listings, views, metrics, queue depths, stats, trees) and
// [Deleter] removes (delete, bulk delete, prune). A store that supports management
// implements both on one value; callers discover them with a type assertion on the
// [Provider] (or get them from the store's constructor).
//
// Reads that depend on views built asynchronously from the history must observe every
// turn committed before the call (read-your-writes); a store that cannot guarantee it
// in bounded time returns [ErrViewsUnavailable].

// Sentinel errors of the management side. Implementations wrap them with %w; callers
// branch with errors.Is. A missing instance is [ErrNotFound].
var (
	// ErrExecutionNotFound means the instance has no such execution (any more).
	ErrExecutionNotFound = errors.New("store: execution not found")
	// ErrInstanceStillRunning means a delete without force met a running instance
	// (Running or ContinuedAsNew) in the tree.
	ErrInstanceStillRunning = errors.New("store: instance is still running")
	// ErrCannotDeleteSubOrchestration means the instance is a sub-orchestration:
	// delete its root instead, which deletes the whole tree.
	ErrCannotDeleteSubOrchestration = errors.New("store: cannot delete a sub-orchestration directly")
	// ErrViewsUnavailable means the management views could not be brought up to date
	// with the history in time (no projector runs, or it is far behind).
	ErrViewsUnavailable = errors.New("store: management views unavailable")
	// ErrWouldOrphan means a delete of a list of instances left out a child of one
	// of them: deleting would orphan the child. Nothing was deleted.
	ErrWouldOrphan = errors.New("store: delete would orphan a child instance")
)

// ListQuery selects instances to list. Zero fields select all.
type ListQuery struct {
	// Status keeps instances in this status (StatusRunning, ...).
	Status string
	// Name keeps instances of this orchestration.
	Name string
	// CreatedFromMs and CreatedToMs (Unix ms, 0 = open) keep instances created in
	// [CreatedFromMs, CreatedToMs).
	CreatedFromMs, CreatedToMs int64
	// Limit is the page size (default 100).
	Limit int
	// Cursor continues a listing: "" for the first page, then the previous page's Next.
	Cursor string
}

// ListPage is one page of instance ids.
type ListPage struct {
	Instances []string
	// Next is the cursor of the next page, "" after the last page.
	Next string
}

// InstanceInfo describes an instance (duroxide's InstanceInfo).
type InstanceInfo struct {
	Instance            string
	Name                string
	Version             string
	CurrentExecutionID  uint64
	Status              string
	Output              string
	Failure             *history.ErrorDetails
	CustomStatus        *string
	CustomStatusVersion uint64
	ParentInstance      string
	CreatedAtMs         int64
	UpdatedAtMs         int64
	// ExecutionCount and EventCount count what the history still holds.
	ExecutionCount int64
	EventCount     int64
}

// ExecutionInfo describes one execution (duroxide's ExecutionInfo).
type ExecutionInfo struct {
	ExecutionID uint64
	// Status is the execution's status: Running, or how it ended.
	Status string
	// Output is the result, the failure message, or the continue-as-new input.
	Output      string
	Failure     *history.ErrorDetails
	StartedAtMs int64
	// CompletedAtMs is 0 while the execution runs.
	CompletedAtMs int64
	EventCount    int64
}

// SystemMetrics are system-wide totals (duroxide's SystemMetrics).
type SystemMetrics struct {
	TotalInstances          int64
	TotalExecutions         int64
	RunningInstances        int64
	CompletedInstances      int64
	FailedInstances         int64
	ContinuedAsNewInstances int64
	TotalEvents             int64
}

// QueueDepths are the numbers of messages waiting in the queues.
type QueueDepths struct {
	// Orchestrator counts unprocessed instance messages (timers excluded).
	Orchestrator int64
	// Worker counts activity work items not yet completed.
	Worker int64
	// Timers counts durable timers not yet fired.
	Timers int64
}

// InstanceStats are the sizes of one instance (duroxide's get_instance_stats).
type InstanceStats struct {
	// HistoryEventCount and HistorySizeBytes cover every execution still held.
	HistoryEventCount int64
	HistorySizeBytes  int64
	// KVUserKeyCount and KVTotalValueBytes describe the instance's key-value store,
	// the running execution's changes included.
	KVUserKeyCount    int64
	KVTotalValueBytes int64
	// QueuePendingCount is the number of messages the current execution carried
	// forward from the previous one.
	QueuePendingCount int64
}

// InstanceTree is an instance and all its sub-orchestrations, recursively.
type InstanceTree struct {
	Root string
	// All holds the root first, then its descendants breadth first.
	All []string
}

// DeleteResult counts what a delete removed.
type DeleteResult struct {
	InstancesDeleted  int64
	ExecutionsDeleted int64
	EventsDeleted     int64
	// QueueMessagesDeleted counts inbox messages, timers and activity work items.
	QueueMessagesDeleted int64
}

// Add adds o's counts to r.
func (r *DeleteResult) Add(o *DeleteResult) {
	r.InstancesDeleted += o.InstancesDeleted
	r.ExecutionsDeleted += o.ExecutionsDeleted
	r.EventsDeleted += o.EventsDeleted
	r.QueueMessagesDeleted += o.QueueMessagesDeleted
}

// InstanceFilter selects instances for the bulk operations. Conditions combine with
// AND; the zero filter selects every instance.
type InstanceFilter struct {
	// Instances, if not nil, limits the operation to these instances.
	Instances []string
	// CompletedBeforeMs (Unix ms), if not 0, keeps instances that finished before it.
	CompletedBeforeMs int64
	// Limit bounds the number of instances (roots) processed: 0 means 1000.
	Limit int
}

// PruneOptions selects the executions a prune removes. The current execution is
// never removed.
type PruneOptions struct {
	// KeepLast keeps the most recent executions, the current one included (0 and 1
	// both keep only the current one).
	KeepLast int
	// CompletedBeforeMs (Unix ms), if not 0, removes only executions that ended
	// before it.
	CompletedBeforeMs int64
}

// PruneResult counts what a prune removed.
type PruneResult struct {
	InstancesProcessed int64
	ExecutionsDeleted  int64
	EventsDeleted      int64
}

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
	// included; f.CompletedBeforeMs is ignored, use opts) and returns the totals.
	// Missing instances are skipped.
	PruneExecutionsBulk(ctx context.Context, f InstanceFilter, opts PruneOptions) (*PruneResult, error)
}
