package store

import (
	"errors"
	"time"

	"github.com/duroxide-go/duroxide/history"
)

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
	InstanceID         string `json:"instance_id"`
	Name               string `json:"name"`
	Version            string `json:"version"`
	CurrentExecutionID uint64 `json:"current_execution_id"`
	// Status is "Running", "Completed", "Failed" or "ContinuedAsNew".
	Status string `json:"status"`
	// Output is the result of a Completed instance (JSON) or the failure message.
	Output              string                `json:"output,omitempty"`
	Failure             *history.ErrorDetails `json:"failure,omitempty"`
	CustomStatus        *string               `json:"custom_status,omitempty"`
	CustomStatusVersion uint64                `json:"custom_status_version"`
	ParentInstanceID    string                `json:"parent_instance_id,omitempty"`
	CreatedAt           time.Time             `json:"created_at,omitzero"`
	UpdatedAt           time.Time             `json:"updated_at,omitzero"`
	// ExecutionCount and EventCount count what the history still holds.
	ExecutionCount int64 `json:"execution_count"`
	EventCount     int64 `json:"event_count"`
}

// ExecutionInfo describes one execution (duroxide's ExecutionInfo).
type ExecutionInfo struct {
	ExecutionID uint64 `json:"execution_id"`
	// Status is "Running", "Completed", "Failed" or "ContinuedAsNew".
	Status string `json:"status"`
	// Output is the result, the failure message, or the continue-as-new input.
	Output    string                `json:"output,omitempty"`
	Failure   *history.ErrorDetails `json:"failure,omitempty"`
	StartedAt time.Time             `json:"started_at,omitzero"`
	// CompletedAt is zero while the execution runs.
	CompletedAt time.Time `json:"completed_at,omitzero"`
	EventCount  int64     `json:"event_count"`
}

// SystemMetrics are system-wide totals (duroxide's SystemMetrics).
type SystemMetrics struct {
	TotalInstances     int64 `json:"total_instances"`
	TotalExecutions    int64 `json:"total_executions"`
	RunningInstances   int64 `json:"running_instances"`
	CompletedInstances int64 `json:"completed_instances"`
	FailedInstances    int64 `json:"failed_instances"`
	// ContinuedAsNewInstances are between two executions.
	ContinuedAsNewInstances int64 `json:"continued_as_new_instances"`
	TotalEvents             int64 `json:"total_events"`
}

// QueueDepths are the numbers of messages waiting in the queues.
type QueueDepths struct {
	// OrchestratorQueue counts unprocessed instance messages (timers excluded).
	OrchestratorQueue int64 `json:"orchestrator_queue"`
	// WorkerQueue counts activity work items not yet completed.
	WorkerQueue int64 `json:"worker_queue"`
	// TimerQueue counts durable timers not yet fired.
	TimerQueue int64 `json:"timer_queue"`
}

// InstanceStats are the sizes of one instance (duroxide's get_instance_stats).
type InstanceStats struct {
	// HistoryEventCount and HistorySizeBytes cover every execution still held
	// (HistorySizeBytes: the size of the stored turn records).
	HistoryEventCount int64 `json:"history_event_count"`
	HistorySizeBytes  int64 `json:"history_size_bytes"`
	// KVUserKeyCount and KVTotalValueBytes describe the instance's key-value store,
	// the running execution's changes included.
	KVUserKeyCount    int64 `json:"kv_user_key_count"`
	KVTotalValueBytes int64 `json:"kv_total_value_bytes"`
	// QueuePendingCount is the number of messages the current execution carried
	// forward from the previous one.
	QueuePendingCount int64 `json:"queue_pending_count"`
}

// InstanceTree is an instance and all its sub-orchestrations, recursively.
type InstanceTree struct {
	RootID string `json:"root_id"`
	// AllIDs holds the root first, then its descendants breadth first.
	AllIDs []string `json:"all_ids"`
}

// Size is the number of instances in the tree.
func (t *InstanceTree) Size() int { return len(t.AllIDs) }

// IsRootOnly reports whether the instance has no sub-orchestrations.
func (t *InstanceTree) IsRootOnly() bool { return len(t.AllIDs) == 1 }

// DeleteResult counts what a delete removed.
type DeleteResult struct {
	InstancesDeleted  int64 `json:"instances_deleted"`
	ExecutionsDeleted int64 `json:"executions_deleted"`
	EventsDeleted     int64 `json:"events_deleted"`
	// QueueMessagesDeleted counts inbox messages, timers and activity work items.
	QueueMessagesDeleted int64 `json:"queue_messages_deleted"`
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
	// InstanceIDs, if not nil, limits the operation to these instances.
	InstanceIDs []string
	// CompletedBefore, if not zero, keeps instances that finished before it.
	CompletedBefore time.Time
	// Limit bounds the number of instances (roots) processed: 0 means 1000.
	Limit int
}

// PruneOptions selects the executions a prune removes. The current execution is
// never removed.
type PruneOptions struct {
	// KeepLast keeps the most recent executions, the current one included (0 and 1
	// both keep only the current one).
	KeepLast int
	// CompletedBefore, if not zero, removes only executions that ended before it.
	CompletedBefore time.Time
}

// PruneResult counts what a prune removed.
type PruneResult struct {
	InstancesProcessed int64 `json:"instances_processed"`
	ExecutionsDeleted  int64 `json:"executions_deleted"`
	EventsDeleted      int64 `json:"events_deleted"`
}
