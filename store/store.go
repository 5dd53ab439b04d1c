// Package store is the contract between the duroxide-go runtime and its durable
// store: two peek-lock queues (orchestrator and worker), per-instance histories, and
// the reads clients need. It mirrors duroxide 0.1.27's Provider. The JetStream
// implementation lives in package jetstream; docs/STORE.md maps each guarantee to the
// JetStream mechanism that provides it. Every interface of the contract is in
// contract.go; the other files hold the types they exchange.
//
// The whole engine's correctness rests on one call: [Provider.AckOrchestrationItem]
// commits every output of a turn (history, activities, timers, messages to other
// instances) or nothing, and at most one holder of an instance can commit.
package store

import (
	"errors"

	"github.com/duroxide-go/duroxide/history"
)

// Sentinel errors. Implementations wrap them with %w; callers branch with errors.Is.
var (
	// ErrLockLost means the lock token is unknown, expired, or was already used: the
	// caller no longer owns the item and must not act on it.
	ErrLockLost = errors.New("store: lock lost")
	// ErrFenced means another holder committed to the instance first. The caller's view
	// of the instance is stale; it must drop any cached state and fetch again.
	ErrFenced = errors.New("store: fenced out by a concurrent commit")
	// ErrNotFound means the instance does not exist.
	ErrNotFound = errors.New("store: instance not found")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidCommit means AckOrchestrationItem rejected a malformed commit (event
	// ids that repeat or do not follow the execution's history). Nothing was written
	// and the lock is still held.
	ErrInvalidCommit = errors.New("store: invalid commit")
)

// Message is one orchestrator-queue message handed to the runtime in a batch.
type Message struct {
	Item WorkItem
	// Attempt is how many times this message has been delivered, starting at 1.
	Attempt int
}

// OrchestrationItem is a locked batch of messages for one instance, plus the history
// of the instance's current execution.
type OrchestrationItem struct {
	Instance string
	// ExecutionID is the current execution (0 if the instance has no history yet).
	ExecutionID uint64
	// History is the current execution's history in event-id order. The slice is
	// shared with the store's cache: callers must not modify it.
	History  []history.Event
	Messages []Message
	// HistoryError is set (and History empty) when the stored history could not be
	// decoded. The lock is held all the same.
	HistoryError string
	LockToken    string
	// AttemptCount is the highest delivery count among Messages.
	AttemptCount int
	// KV is the instance's key-value store as left by its previous executions (the
	// current execution rebuilds its own changes by replaying its history).
	KV map[string]KVEntry
	// PinnedEngineVersion is the current execution's pinned engine version ("" if it
	// has none; see [ExecutionMetadata.PinnedEngineVersion]).
	PinnedEngineVersion string
	// Incarnation names this life of the instance id ("" before the instance exists,
	// or for an instance created before incarnations): it changes when the instance
	// is deleted and created again, so state kept about the instance (a cached
	// engine) must match it.
	Incarnation string
}

// KVEntry is one value of an instance's key-value store.
type KVEntry struct {
	Value           string `json:"value"`
	LastUpdatedAtMs int64  `json:"last_updated_at_ms"`
}

// ExecutionMetadata carries what the runtime computed about the execution in a turn.
// Zero fields mean "unchanged".
type ExecutionMetadata struct {
	// Status is "Completed", "Failed" or "ContinuedAsNew" when the turn ended the
	// execution.
	Status string
	// Output is the result, the failure message, or the continue-as-new input.
	Output               string
	OrchestrationName    string
	OrchestrationVersion string
	ParentInstanceID     string
	// PinnedEngineVersion (MAJOR.MINOR.PATCH; duroxide's pinned_duroxide_version),
	// when set, becomes the execution's pinned engine version: the version of the
	// replay engine that created it, matched by [CapabilityFilter]s. The store
	// overwrites the execution's pinned version with it unconditionally (keeping it
	// write-once is the runtime's job). Empty leaves the pinned version unchanged. A
	// new execution (continue-as-new) does not inherit the previous execution's
	// version: it has none until a commit sets one. A value that does not parse is
	// rejected with [ErrInvalidCommit].
	PinnedEngineVersion string
}

// Commit is everything one orchestration turn produced.
type Commit struct {
	// ExecutionID is the execution the delta belongs to. It is the item's execution or,
	// when the turn started a new execution (a start or continue-as-new message), the
	// next one.
	ExecutionID uint64
	// HistoryDelta is appended as given, after the execution's existing events.
	HistoryDelta []history.Event
	// WorkerItems are ActivityExecute items for the worker queue.
	WorkerItems []WorkItem
	// OrchestratorItems are messages for instance inboxes (this one or others).
	// TimerFired items become visible at their FireAtMs.
	OrchestratorItems []WorkItem
	Metadata          ExecutionMetadata
	// CancelledActivities are activities whose worker-queue items the commit removes
	// (duroxide's cancelled_activities, "lock stealing"): after WorkerItems are
	// enqueued, so an activity scheduled and cancelled in the same turn nets to
	// nothing. Activities with no item (finished, never scheduled) are ignored. A
	// worker holding a removed item finds out when its ack or renewal fails with
	// [ErrLockLost].
	CancelledActivities []ScheduledActivity
}

// ScheduledActivity names one scheduled activity (duroxide's
// ScheduledActivityIdentifier): its instance, execution and ActivityScheduled id.
type ScheduledActivity struct {
	Instance    string `json:"instance"`
	ExecutionID uint64 `json:"execution_id"`
	ID          uint64 `json:"id"`
}

// WorkLease is a locked worker-queue item.
type WorkLease struct {
	Item      WorkItem
	LockToken string
	// AttemptCount is how many times the item has been delivered, starting at 1.
	AttemptCount int
}

// Status values of an instance.
const (
	StatusRunning        = "Running"
	StatusCompleted      = "Completed"
	StatusFailed         = "Failed"
	StatusContinuedAsNew = "ContinuedAsNew"
)

// InstanceSummary is the state of an instance as of its last committed turn.
type InstanceSummary struct {
	Instance            string                `json:"instance"`
	Name                string                `json:"name"`
	Version             string                `json:"version"`
	ExecutionID         uint64                `json:"execution_id"`
	Status              string                `json:"status"`
	Output              string                `json:"output,omitempty"`
	Failure             *history.ErrorDetails `json:"failure,omitempty"`
	CustomStatus        *string               `json:"custom_status,omitempty"`
	CustomStatusVersion uint64                `json:"custom_status_version,omitempty"`
	ParentInstance      string                `json:"parent_instance,omitempty"`
	CreatedAtMs         int64                 `json:"created_at_ms"`
	UpdatedAtMs         int64                 `json:"updated_at_ms"`
}
