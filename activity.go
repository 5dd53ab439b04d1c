package duroxide

import (
	"context"
	"log/slog"
)

// ActivityContext is passed to an activity. It is a [context.Context] that is
// cancelled when the runtime shuts down without waiting for the activity, so pass it
// to the I/O the activity does.
type ActivityContext struct {
	context.Context
	instance      string
	execution     uint64
	orchestration string
	orchVersion   string
	activity      string
	tag           string
	attempt       int
	logger        *slog.Logger
	client        *Client
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

// Attempt is the delivery attempt, starting at 1. It exceeds 1 when a previous
// attempt's worker died or lost its lock: activities run at least once.
func (a *ActivityContext) Attempt() int { return a.attempt }

// Logger returns a logger that tags records with the instance and activity.
func (a *ActivityContext) Logger() *slog.Logger { return a.logger }

// Client returns a client on the runtime's store, for example to manage the
// activity's own instance.
func (a *ActivityContext) Client() *Client { return a.client }
