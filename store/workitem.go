package store

import "github.com/duroxide-go/duroxide/history"

// WorkItemType names a queued message. The values are the JSON "type" tags of the
// wire format (see docs/PROTOCOL.md) and must not change.
type WorkItemType string

// Every message kind. ActivityExecute travels on the worker queue; every other kind
// travels on the orchestrator queue (the target instance's inbox).
const (
	StartOrchestration WorkItemType = "StartOrchestration"
	ActivityExecute    WorkItemType = "ActivityExecute"
	ActivityCompleted  WorkItemType = "ActivityCompleted"
	ActivityFailed     WorkItemType = "ActivityFailed"
	TimerFired         WorkItemType = "TimerFired"
	ExternalRaised     WorkItemType = "ExternalRaised"
	SubOrchCompleted   WorkItemType = "SubOrchCompleted"
	SubOrchFailed      WorkItemType = "SubOrchFailed"
	CancelInstance     WorkItemType = "CancelInstance"
	ContinueAsNew      WorkItemType = "ContinueAsNew"
	QueueMessage       WorkItemType = "QueueMessage"
)

// WorkItem is one queued message. Instance is always the instance the message is
// for: the orchestration that must process it, or for ActivityExecute the instance
// that scheduled the activity. Only the fields of the item's Type are set.
type WorkItem struct {
	Type     WorkItemType `json:"type"`
	Instance string       `json:"instance"`
	// ExecutionID is the execution the message belongs to: the one that scheduled the
	// activity or timer, the parent execution for sub-orchestration results, the new
	// execution for ContinueAsNew. Messages for another execution are ignored.
	ExecutionID uint64 `json:"execution_id,omitempty"`
	// ID is the scheduling event id: ActivityScheduled for activity items,
	// TimerCreated for TimerFired, the parent's SubOrchestrationScheduled for
	// sub-orchestration results.
	ID uint64 `json:"id,omitempty"`

	// Incarnation is the incarnation of Instance the message is meant for: one life
	// of an instance id, from its creation to its deletion (see docs/STORE.md). The
	// store stamps it on everything a turn addresses to an instance's own execution
	// (activities and their results, timers, continue-as-new) and on
	// sub-orchestration results to the parent. A message whose incarnation is not the
	// instance's current one (the instance was deleted, or deleted and created again
	// under the same id) is dropped, never applied. Empty: from a client, or written
	// before incarnations existed; not checked.
	Incarnation string `json:"incarnation,omitempty"`
	// Origin and OriginIncarnation name the instance, and its incarnation, whose
	// committed turn sent a StartOrchestration (a sub-orchestration or a detached
	// start) or a CancelInstance (to a child); the store stamps them. A start or
	// cancel whose origin incarnation no longer exists (deleted before it was
	// processed) is dropped: it creates or cancels nothing.
	Origin            string `json:"origin,omitempty"`
	OriginIncarnation string `json:"origin_incarnation,omitempty"`

	// Name is the orchestration (start, continue-as-new), activity, event or queue name.
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Input   string `json:"input,omitempty"`
	Result  string `json:"result,omitempty"`
	Data    string `json:"data,omitempty"`
	Reason  string `json:"reason,omitempty"`

	Details  *history.ErrorDetails `json:"details,omitempty"`
	FireAtMs int64                 `json:"fire_at_ms,omitempty"`

	SessionID string `json:"session_id,omitempty"`
	Tag       string `json:"tag,omitempty"`

	// Orchestration and OrchestrationVersion name the orchestration that scheduled an
	// ActivityExecute (for the activity context).
	Orchestration        string `json:"orchestration,omitempty"`
	OrchestrationVersion string `json:"orchestration_version,omitempty"`
	// ScheduledAtMs is the time of the ActivityScheduled event of an ActivityExecute.
	// With the instance, execution and id it tells this activity apart from one of a
	// deleted and recreated instance with the same id (for cancellation signals).
	ScheduledAtMs int64 `json:"scheduled_at_ms,omitempty"`
	// RetryAttempt numbers the attempts of an ActivityExecute scheduled by a retry
	// policy: 0 for the first attempt (and for activities without a policy), n for
	// the n-th retry. Informational (metrics); not part of the determinism check.
	RetryAttempt int `json:"retry_attempt,omitempty"`

	// ParentInstance and ParentID link a started sub-orchestration to its parent.
	ParentInstance    string `json:"parent_instance,omitempty"`
	ParentExecutionID uint64 `json:"parent_execution_id,omitempty"`
	ParentID          uint64 `json:"parent_id,omitempty"`

	// CarryForward and InitialCustomStatus travel with ContinueAsNew.
	CarryForward        []history.QueuedMessage `json:"carry_forward_events,omitempty"`
	InitialCustomStatus *string                 `json:"initial_custom_status,omitempty"`

	// TraceParent and TraceState are the W3C trace context (the traceparent and
	// tracestate header values, "" when none) of the span that sent the message: a
	// client's start or raise, the turn that scheduled an activity or timer or
	// started a child, the activity that produced a result. The runtime's span for
	// the turn or activity that handles the message continues that trace. They are
	// message metadata, never part of the JSON body or of history: the JetStream
	// store carries them as the NATS headers traceparent and tracestate (see
	// docs/PROTOCOL.md); an in-memory store keeps them with the struct. A store
	// may drop them (tracing then starts a new trace); it must not reject a
	// message for them.
	TraceParent string `json:"-"`
	TraceState  string `json:"-"`
}

// IsCompletion reports whether the item answers something an execution scheduled,
// and so must match that execution.
func (t WorkItemType) IsCompletion() bool {
	switch t {
	case ActivityCompleted, ActivityFailed, TimerFired, SubOrchCompleted, SubOrchFailed:
		return true
	}
	return false
}

// ActivityRef names one scheduled activity in a cancellation signal
// ([CancelSignaler]): the instance, the execution that scheduled it, its
// ActivityScheduled event id and that event's time (which tells it apart from an
// activity of a recreated instance with the same id).
type ActivityRef struct {
	Instance      string `json:"instance"`
	ExecutionID   uint64 `json:"execution_id"`
	ID            uint64 `json:"id"`
	ScheduledAtMs int64  `json:"scheduled_at_ms,omitempty"`
}
