package duroxide

import (
	"errors"
	"fmt"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// Every error of this package a caller may branch on. Calls return them wrapped
// (test with errors.Is); each call's doc comment lists the ones it returns.

// Errors of bad input, returned by the calls that take it.
var (
	// ErrInvalidInput is returned (wrapped) for input a caller must fix: a bad
	// instance id, name, version, tag, retry policy or option, or a value that cannot
	// be encoded as JSON.
	ErrInvalidInput = errors.New("invalid input")
	// ErrPayloadTooLarge is returned (wrapped) when a payload exceeds the configured
	// limit (Options.MaxPayloadBytes, ClientOptions.MaxPayloadBytes).
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrNotSupported is returned (wrapped, naming the call) by a client or
	// runtime call the runtime's store cannot serve: a management read or delete
	// on a store ([Options.Store]) that implements neither [store.Admin] nor
	// [store.Deleter], or a NATS-only feature on a store without NATS.
	ErrNotSupported = errors.New("not supported by this store")
)

// ErrDataDirLocked is returned (wrapped) by [Start] when another process, or
// another runtime of this process, serves Options.DataDir. The error names the
// directory and the id of the process holding it.
var ErrDataDirLocked = jetstream.ErrDataDirLocked

// ErrMetricsAlreadyRegistered is returned (wrapped) by [Start] when
// Options.MetricsRegisterer already holds the runtime's metrics: another runtime of
// this process registered them and has not shut down (or a client of [NewClient]
// registered its client metrics there and is not closed). [NewClient] returns it
// when ClientOptions.MetricsRegisterer already holds the client metrics (a runtime's
// or another client's). Give each its own registry, or tell their metrics apart
// with a constant label:
// prometheus.WrapRegistererWith(prometheus.Labels{"node": name}, reg).
var ErrMetricsAlreadyRegistered = errors.New("duroxide: metrics already registered")

// Errors of the client's instance calls.
var (
	// ErrInstanceExists is returned by Client.StartOrchestration when the instance
	// id is taken.
	ErrInstanceExists = errors.New("instance already exists")
	// ErrInstanceNotFound means the instance does not exist. It is the store's
	// sentinel (store.ErrNotFound), so a store's error matches it unwrapped.
	ErrInstanceNotFound = store.ErrNotFound
	// ErrExecutionNotFound means the instance has no such execution (any more).
	ErrExecutionNotFound = store.ErrExecutionNotFound
	// ErrInstanceStillRunning means a delete without force met a running instance.
	ErrInstanceStillRunning = store.ErrInstanceStillRunning
	// ErrCannotDeleteSubOrchestration means the instance is a sub-orchestration:
	// delete its root instead, which deletes the whole tree.
	ErrCannotDeleteSubOrchestration = store.ErrCannotDeleteSubOrchestration
	// ErrViewsUnavailable means the management views are not (yet) up to date: no
	// runtime runs a projector in the namespace, or it is far behind.
	ErrViewsUnavailable = store.ErrViewsUnavailable
	// ErrInstanceFailed is returned (wrapped, with the failure) by
	// Orchestration.Result for an instance that ended Failed.
	ErrInstanceFailed = errors.New("instance failed")
)

// Errors orchestration and activity code meets.
var (
	// ErrFutureCancelled is returned by Get on a future that lost a Select and was
	// cancelled: its activity was cancelled, its sub-orchestration was asked to
	// cancel, its event or queue subscription was withdrawn, or its Go function was
	// unwound.
	ErrFutureCancelled = errors.New("duroxide: the future lost a Select and was cancelled")
	// ErrActivityTimeout matches the [*TaskError] of a retried activity whose attempt
	// ran out of its RetryPolicy.Timeout (its message is [ActivityTimeoutMessage]).
	ErrActivityTimeout = errors.New("duroxide: activity timed out")
	// ErrActivityCancelled is the cause of a cancelled ActivityContext when the
	// orchestration no longer wants the activity's result (a Select loser, or the
	// execution ended or was cancelled). Read it with context.Cause.
	ErrActivityCancelled = errors.New("duroxide: activity cancelled by its orchestration")
)

// Kinds of failure. A failed instance's [Status.Err] and [Status.Failure], and the
// [*TaskError] of a failed activity or sub-orchestration, match them with errors.Is.
var (
	// ErrCancelled: the instance or sub-orchestration was cancelled
	// (Client.CancelInstance, or its parent was cancelled or dropped it).
	ErrCancelled = history.ErrCancelled
	// ErrNondeterminism: the orchestration code did not reproduce its history
	// (the failure's message names the event), or the history is corrupted.
	ErrNondeterminism = history.ErrNondeterminism
	// ErrPoison: a message of the instance or activity was delivered more often
	// than Options.MaxAttempts allows.
	ErrPoison = history.ErrPoison
	// ErrUnregistered: no node that fetched the work has the orchestration (or
	// version) or activity registered, after Options.MaxAttempts deliveries.
	ErrUnregistered = history.ErrUnregistered
	// ErrPanicked: the orchestration or activity code panicked.
	ErrPanicked = history.ErrPanicked
)

// ActivityTimeoutMessage is the error message of an activity attempt that ran out of
// its RetryPolicy.Timeout, as in duroxide. Branch on [ErrActivityTimeout] instead of
// comparing it.
const ActivityTimeoutMessage = "timeout: activity timed out"

// TaskError is the error a Future returns when the activity or sub-orchestration it
// stands for failed. Orchestration code can inspect it with errors.As and recover.
// errors.Is matches it against the kinds of failure ([ErrCancelled],
// [ErrNondeterminism], [ErrPoison], [ErrUnregistered], [ErrPanicked]) by its
// Details, and against [ErrActivityTimeout] when a retried activity timed out.
type TaskError struct {
	Details history.ErrorDetails
	// timeout is set on the error of a retried activity's timed-out attempt.
	timeout bool
}

func (e *TaskError) Error() string { return e.Details.DisplayMessage() }

// Is reports whether e is a retried activity's timeout (target [ErrActivityTimeout]).
func (e *TaskError) Is(target error) bool { return target == ErrActivityTimeout && e.timeout }

// Unwrap returns the failure's details, which errors.Is matches against the kinds
// of failure and errors.As can extract as a *history.ErrorDetails.
func (e *TaskError) Unwrap() error { return &e.Details }

// continueAsNewError is what ContinueAsNew returns for the orchestration function to
// return in turn.
type continueAsNewError struct {
	input   string
	version string
}

func (e *continueAsNewError) Error() string {
	return "duroxide: continue-as-new must be returned from the orchestration function"
}

// Errors of the replayer ([ReplayHistory]).

// ErrInvalidHistory is returned (wrapped) by [ReplayHistory] for a history that
// breaks the history model's rules, and by history.ParseEvents for data that is not
// a history. It is history.ErrMalformed.
var ErrInvalidHistory = history.ErrMalformed

// NondeterminismError is the error [ReplayHistory] returns when the registered code
// does not reproduce a recorded history. errors.Is matches it against
// [ErrNondeterminism]. Its fields are the engine's diagnostics: the event where the
// code and history part, what history holds there and what the code asked for.
type NondeterminismError struct {
	// Instance and Execution name the replayed execution.
	Instance  string
	Execution uint64
	// EventID is the event where replay diverged.
	EventID uint64
	// History describes what history holds at EventID (for example
	// `ActivityScheduled{name="Charge" input=5}`), or says that it holds nothing.
	History string
	// Code describes what the code asked for there instead, or says that it asked
	// for nothing.
	Code string
	// Message is the engine's full diagnostic, as a live runtime would record it in
	// the instance's failure.
	Message string
}

func (e *NondeterminismError) Error() string {
	return fmt.Sprintf("nondeterminism in instance %q execution %d at event %d: history holds %s, but the code asked for %s",
		e.Instance, e.Execution, e.EventID, e.History, e.Code)
}

// Unwrap returns [ErrNondeterminism].
func (e *NondeterminismError) Unwrap() error { return ErrNondeterminism }
