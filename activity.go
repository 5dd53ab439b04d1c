package duroxide

import (
	"context"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// ActivityContext is passed to an activity. It is a [context.Context] that is
// cancelled when the runtime shuts down without waiting for the activity, and when
// the orchestration no longer wants the result (the activity lost a Select, or its
// execution ended or was cancelled; context.Cause is then [ErrActivityCancelled]).
// Pass it to the I/O the activity does. The cancellation is pushed to the worker over
// NATS as soon as the orchestration's turn commits; after
// Options.ActivityCancellationGracePeriod the worker stops waiting for the activity
// and drops its result.
type ActivityContext struct {
	context.Context
	instance      string
	execution     uint64
	orchestration string
	orchVersion   string
	activity      string
	tag           string
	session       string
	worker        string
	attempt       int
	client        *Client
	// The logger is built on the first Logger call (most activities never log):
	// from baseLog, with the span's ids when tracing (span nil when off).
	baseLog *slog.Logger
	span    trace.Span
	logOnce sync.Once
	logger  *slog.Logger
}

// InstanceID is the orchestration instance that scheduled the activity.
func (a *ActivityContext) InstanceID() string { return a.instance }

// ExecutionID is the execution that scheduled the activity.
func (a *ActivityContext) ExecutionID() uint64 { return a.execution }

// OrchestrationName is the name of the orchestration that scheduled the activity.
func (a *ActivityContext) OrchestrationName() string { return a.orchestration }

// OrchestrationVersion is the version of the orchestration that scheduled it.
func (a *ActivityContext) OrchestrationVersion() string { return a.orchVersion }

// ActivityName is the activity's registered name.
func (a *ActivityContext) ActivityName() string { return a.activity }

// Tag is the worker tag the activity was scheduled with ("" for untagged).
func (a *ActivityContext) Tag() string { return a.tag }

// SessionID is the session the activity was scheduled on ([OnSession]), or "".
func (a *ActivityContext) SessionID() string { return a.session }

// WorkerID is the session owner identity of the node running the activity
// (Options.WorkerNodeID, or the runtime's generated id).
func (a *ActivityContext) WorkerID() string { return a.worker }

// Attempt is the delivery attempt, starting at 1. It exceeds 1 when a previous
// attempt's worker died or lost its lock: activities run at least once.
func (a *ActivityContext) Attempt() int { return a.attempt }

// Logger returns a logger that tags records with the instance, execution, activity
// and attempt, and while tracing with the trace_id and span_id of the activity's
// span.
func (a *ActivityContext) Logger() *slog.Logger {
	a.logOnce.Do(func() { a.logger = activityLogger(a.baseLog, a, a.span) })
	return a.logger
}

// Client returns a client on the runtime's store, for example to manage the
// activity's own instance.
func (a *ActivityContext) Client() *Client { return a.client }

// IsCancelled reports whether the activity has been cancelled (by its orchestration
// or by a shutdown that stopped waiting).
func (a *ActivityContext) IsCancelled() bool { return a.Err() != nil }
