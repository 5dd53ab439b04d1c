package history

import (
	"errors"
	"fmt"
)

// Category classifies a failure the way duroxide does.
type Category string

// Failure categories.
const (
	// Application failures come from user code: an activity or orchestration returned an
	// error, panicked, or the instance was cancelled. Orchestration code can observe them.
	Application Category = "application"
	// Configuration failures mean the deployment does not match the history: an
	// unregistered orchestration or activity, or nondeterministic orchestration code.
	Configuration Category = "configuration"
	// Infrastructure failures come from the store or the network.
	Infrastructure Category = "infrastructure"
	// Poison failures mean a message was delivered more often than MaxAttempts allows.
	Poison Category = "poison"
)

// Kinds of failure within a category.
const (
	KindActivityFailed      = "ActivityFailed"
	KindOrchestrationFailed = "OrchestrationFailed"
	KindPanicked            = "Panicked"
	KindCancelled           = "Cancelled"
	KindNondeterminism      = "Nondeterminism"
	KindUnregistered        = "Unregistered"
	KindInvalidInput        = "InvalidInput"
	KindPoison              = "Poison"
	KindStore               = "Store"
)

// ErrorDetails describes why an activity, sub-orchestration or orchestration failed.
type ErrorDetails struct {
	Category Category `json:"category"`
	Kind     string   `json:"kind"`
	Message  string   `json:"message"`
	// Resource names what the failure is about when that helps (an activity or
	// orchestration name, a message type).
	Resource string `json:"resource,omitempty"`
	// Retryable is set for failures that may succeed if tried again.
	Retryable bool `json:"retryable,omitempty"`
}

// DisplayMessage is the human-readable message, as duroxide formats it: the message
// of an application failure as is, "canceled: <reason>" for cancellation, and the
// category-prefixed text for the rest.
func (d ErrorDetails) DisplayMessage() string {
	switch {
	case d.Category == Application && d.Kind == KindCancelled:
		return "canceled: " + d.Message
	case d.Category == Application:
		return d.Message
	case d.Resource != "":
		return fmt.Sprintf("%s error (%s, %s): %s", d.Category, d.Kind, d.Resource, d.Message)
	default:
		return fmt.Sprintf("%s error (%s): %s", d.Category, d.Kind, d.Message)
	}
}

// Error implements the error interface with DisplayMessage.
func (d *ErrorDetails) Error() string { return d.DisplayMessage() }

// Sentinel errors for the kinds of failure a caller branches on. A failure's
// [*ErrorDetails] matches them with errors.Is (see [ErrorDetails.Is]); the root
// package re-exports them (duroxide.ErrCancelled, ...).
var (
	// ErrCancelled matches a failure of kind [KindCancelled]: the instance (or a
	// sub-orchestration) was cancelled.
	ErrCancelled = errors.New("duroxide: cancelled")
	// ErrNondeterminism matches a failure of kind [KindNondeterminism]: the code did
	// not reproduce its history, or the history is corrupted.
	ErrNondeterminism = errors.New("duroxide: nondeterminism")
	// ErrPoison matches a failure of category [Poison]: a message was delivered more
	// often than MaxAttempts allows.
	ErrPoison = errors.New("duroxide: poison message")
	// ErrUnregistered matches a failure of kind [KindUnregistered]: no node that
	// fetched the work has the orchestration, version or activity registered.
	ErrUnregistered = errors.New("duroxide: not registered")
	// ErrPanicked matches a failure of kind [KindPanicked]: the code panicked.
	ErrPanicked = errors.New("duroxide: panicked")
)

// Is reports whether d is of the kind target names: [ErrCancelled],
// [ErrNondeterminism], [ErrPoison], [ErrUnregistered] or [ErrPanicked]. It lets
// errors.Is classify a failure without reading its text.
func (d *ErrorDetails) Is(target error) bool {
	if d == nil {
		return false
	}
	switch target {
	case ErrCancelled:
		return d.Kind == KindCancelled
	case ErrNondeterminism:
		return d.Kind == KindNondeterminism
	case ErrPoison:
		return d.Category == Poison || d.Kind == KindPoison
	case ErrUnregistered:
		return d.Kind == KindUnregistered
	case ErrPanicked:
		return d.Kind == KindPanicked
	}
	return false
}
