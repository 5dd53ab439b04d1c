// Package history defines the durable history model of duroxide-go: the events an
// orchestration execution appends, one turn at a time, and the error details that
// describe failures.
//
// The model follows duroxide 0.1.27: every event has an id that starts at 1 with
// [OrchestrationStarted] and grows by one per event within an execution; completion
// events point at the event that scheduled them through SourceEventID. Events are
// JSON-encoded with snake_case field names; fields that do not apply to a kind are
// omitted.
package history

// EventType names the kind of a history event. The string values are the JSON
// "type" tags and are part of the stored format: never rename them.
type EventType string

// Every event kind an execution's history can hold.
const (
	OrchestrationStarted         EventType = "OrchestrationStarted"
	OrchestrationCompleted       EventType = "OrchestrationCompleted"
	OrchestrationFailed          EventType = "OrchestrationFailed"
	OrchestrationContinuedAsNew  EventType = "OrchestrationContinuedAsNew"
	OrchestrationCancelRequested EventType = "OrchestrationCancelRequested"
	OrchestrationChained         EventType = "OrchestrationChained"

	ActivityScheduled       EventType = "ActivityScheduled"
	ActivityCompleted       EventType = "ActivityCompleted"
	ActivityFailed          EventType = "ActivityFailed"
	ActivityCancelRequested EventType = "ActivityCancelRequested"

	TimerCreated EventType = "TimerCreated"
	TimerFired   EventType = "TimerFired"

	ExternalSubscribed          EventType = "ExternalSubscribed"
	ExternalEvent               EventType = "ExternalEvent"
	ExternalSubscribedCancelled EventType = "ExternalSubscribedCancelled"

	SubOrchestrationScheduled       EventType = "SubOrchestrationScheduled"
	SubOrchestrationCompleted       EventType = "SubOrchestrationCompleted"
	SubOrchestrationFailed          EventType = "SubOrchestrationFailed"
	SubOrchestrationCancelRequested EventType = "SubOrchestrationCancelRequested"

	QueueSubscribed            EventType = "QueueSubscribed"
	QueueEventDelivered        EventType = "QueueEventDelivered"
	QueueSubscriptionCancelled EventType = "QueueSubscriptionCancelled"

	CustomStatusUpdated EventType = "CustomStatusUpdated"
	KeyValueSet         EventType = "KeyValueSet"
	KeyValueCleared     EventType = "KeyValueCleared"
	KeyValuesCleared    EventType = "KeyValuesCleared"
)

// Event is one entry of an execution's history. Only the fields that belong to
// Type are set; the others stay at their zero value and are omitted from JSON.
type Event struct {
	EventID       uint64    `json:"event_id"`
	SourceEventID uint64    `json:"source_event_id,omitempty"`
	InstanceID    string    `json:"instance_id"`
	ExecutionID   uint64    `json:"execution_id"`
	TimestampMs   int64     `json:"timestamp_ms"`
	EngineVersion string    `json:"duroxide_version,omitempty"`
	Type          EventType `json:"type"`

	// Name is the orchestration, activity, sub-orchestration, event or queue name.
	Name string `json:"name,omitempty"`
	// Version is the orchestration version (OrchestrationStarted, SubOrchestrationScheduled,
	// OrchestrationChained).
	Version string `json:"version,omitempty"`
	// Instance is the target instance of SubOrchestrationScheduled and OrchestrationChained.
	Instance string `json:"instance,omitempty"`
	// Input is the JSON input of a started execution, activity or sub-orchestration, or
	// the new input of OrchestrationContinuedAsNew.
	Input string `json:"input,omitempty"`
	// Output is the JSON result of OrchestrationCompleted, ActivityCompleted and
	// SubOrchestrationCompleted.
	Output string `json:"output,omitempty"`
	// Data is the payload of ExternalEvent and QueueEventDelivered.
	Data string `json:"data,omitempty"`
	// Details describes the failure of OrchestrationFailed, ActivityFailed and
	// SubOrchestrationFailed.
	Details *ErrorDetails `json:"details,omitempty"`
	// Reason explains a cancellation event.
	Reason string `json:"reason,omitempty"`
	// FireAtMs is the due time of TimerCreated and TimerFired, in Unix milliseconds.
	FireAtMs int64 `json:"fire_at_ms,omitempty"`
	// SessionID and Tag route an ActivityScheduled to a worker.
	SessionID string `json:"session_id,omitempty"`
	Tag       string `json:"tag,omitempty"`

	// ParentInstance and ParentID link a sub-orchestration's OrchestrationStarted to the
	// parent's SubOrchestrationScheduled event.
	ParentInstance  string `json:"parent_instance,omitempty"`
	ParentExecution uint64 `json:"parent_execution_id,omitempty"`
	ParentID        uint64 `json:"parent_id,omitempty"`
	// CarryForward holds queue messages carried into a new execution by continue-as-new.
	CarryForward []QueuedMessage `json:"carry_forward_events,omitempty"`
	// CustomStatus is the status set by CustomStatusUpdated (nil clears it), or the
	// initial custom status of an execution started by continue-as-new.
	CustomStatus *string `json:"status,omitempty"`

	// Key, Value and LastUpdatedAtMs belong to the KV events.
	Key             string `json:"key,omitempty"`
	Value           string `json:"value,omitempty"`
	LastUpdatedAtMs int64  `json:"last_updated_at_ms,omitempty"`
}

// QueuedMessage is an unconsumed queue message carried across continue-as-new.
type QueuedMessage struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// IsTerminal reports whether the event ends its execution.
func (t EventType) IsTerminal() bool {
	return t == OrchestrationCompleted || t == OrchestrationFailed || t == OrchestrationContinuedAsNew
}

// IsSchedule reports whether the event records an action the orchestration code took
// (as opposed to a completion or message that arrived from outside). Schedule events
// are matched, in order, against the actions the code emits on replay. The
// cancellation breadcrumbs a Select writes for its losers (ActivityCancelRequested,
// SubOrchestrationCancelRequested, ExternalSubscribedCancelled,
// QueueSubscriptionCancelled) are decisions of the code too.
func (t EventType) IsSchedule() bool {
	switch t {
	case ActivityScheduled, TimerCreated, ExternalSubscribed, SubOrchestrationScheduled,
		OrchestrationChained, QueueSubscribed, CustomStatusUpdated,
		KeyValueSet, KeyValueCleared, KeyValuesCleared,
		ActivityCancelRequested, SubOrchestrationCancelRequested,
		ExternalSubscribedCancelled, QueueSubscriptionCancelled:
		return true
	}
	return false
}
