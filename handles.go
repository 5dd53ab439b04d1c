package duroxide

import (
	"context"
	"fmt"
)

// Typed handles. Registering through DefineActivity or DefineOrchestration returns a
// handle that carries the function's input and output types, so calls through the
// handle are checked by the compiler: changing an activity's input type breaks the
// compile of every caller that schedules it through its handle. The by-name calls
// (ScheduleActivity, Client.StartOrchestration, ...) stay for code that only knows
// the name: other services, other languages. Both reach the same registration.

// TypedFuture is a [Future] whose result has type T. It embeds the *Future, so pass
// f.Future to [OrchestrationContext.Join] and [OrchestrationContext.Select].
type TypedFuture[T any] struct {
	*Future
}

// Await waits for the future and returns its result, with the errors of
// [Future.Get].
func (f TypedFuture[T]) Await() (T, error) { return Await[T](f.Future) }

// Activity is a handle on an activity whose input is In and output is Out. Make one
// with [DefineActivity] (which registers the function) or [ActivityRef] (for an
// activity registered elsewhere); the zero Activity has no name.
type Activity[In, Out any] struct {
	name string
}

// DefineActivity registers fn as the named activity, as [RegisterActivity] does, and
// returns its typed handle. It returns an error wrapping [ErrInvalidInput] for an
// empty, oversized or reserved name, or a name registered twice (the handle is then
// the zero Activity).
func DefineActivity[In, Out any](r *Registry, name string, fn func(*ActivityContext, In) (Out, error)) (Activity[In, Out], error) {
	if err := RegisterActivity(r, name, fn); err != nil {
		return Activity[In, Out]{}, err
	}
	return Activity[In, Out]{name: name}, nil
}

// ActivityRef returns a typed handle on the named activity without registering
// anything: for an activity another process (or another language) registers, whose
// types the caller knows. The compiler checks calls through it against In and Out;
// nothing checks that they match the remote activity's types.
func ActivityRef[In, Out any](name string) Activity[In, Out] { return Activity[In, Out]{name: name} }

// Name is the activity's registered name.
func (a Activity[In, Out]) Name() string { return a.name }

// Schedule schedules the activity with input in and returns its typed future, with
// the options and errors of [OrchestrationContext.ScheduleActivity].
func (a Activity[In, Out]) Schedule(ctx *OrchestrationContext, in In, opts ...ActivityOption) TypedFuture[Out] {
	return TypedFuture[Out]{ctx.ScheduleActivity(a.name, in, opts...)}
}

// ScheduleWithRetry schedules the activity with retries and returns its typed
// future, with the options and errors of
// [OrchestrationContext.ScheduleActivityWithRetry].
func (a Activity[In, Out]) ScheduleWithRetry(ctx *OrchestrationContext, in In, policy RetryPolicy, opts ...ActivityOption) TypedFuture[Out] {
	return TypedFuture[Out]{ctx.ScheduleActivityWithRetry(a.name, in, policy, opts...)}
}

// Orchestration is a handle on an orchestration whose input is In and output is Out.
// Make one with [DefineOrchestration] or [DefineOrchestrationVersion] (which register
// the function) or [OrchestrationRef] (for one registered elsewhere). A handle names
// the orchestration, not a version: starts follow the version policy unless given
// [StartVersion] or [WithVersion].
type Orchestration[In, Out any] struct {
	name string
}

// DefineOrchestration registers fn as version 1.0.0 of the named orchestration, as
// [RegisterOrchestration] does, and returns its typed handle. It returns an error
// wrapping [ErrInvalidInput] for an empty, oversized or reserved name, or a name and
// version registered twice (the handle is then the zero Orchestration).
func DefineOrchestration[In, Out any](r *Registry, name string, fn func(*OrchestrationContext, In) (Out, error)) (Orchestration[In, Out], error) {
	return DefineOrchestrationVersion(r, name, DefaultVersion, fn)
}

// DefineOrchestrationVersion registers fn as the given version of the named
// orchestration, as [RegisterOrchestrationVersion] does, and returns its typed
// handle, with that call's errors (wrapping [ErrInvalidInput]; a version that is not
// MAJOR.MINOR.PATCH among them).
func DefineOrchestrationVersion[In, Out any](r *Registry, name, version string, fn func(*OrchestrationContext, In) (Out, error)) (Orchestration[In, Out], error) {
	if err := RegisterOrchestrationVersion(r, name, version, fn); err != nil {
		return Orchestration[In, Out]{}, err
	}
	return Orchestration[In, Out]{name: name}, nil
}

// OrchestrationRef returns a typed handle on the named orchestration without
// registering anything: for a client process, or an orchestration another process
// registers. The compiler checks calls through it against In and Out; nothing checks
// that they match the registered function's types.
func OrchestrationRef[In, Out any](name string) Orchestration[In, Out] {
	return Orchestration[In, Out]{name: name}
}

// Name is the orchestration's registered name.
func (o Orchestration[In, Out]) Name() string { return o.name }

// Start starts a new instance with input in, as [Client.StartOrchestration] does,
// with its options and errors ([ErrInstanceExists], [ErrInvalidInput],
// [ErrPayloadTooLarge]).
func (o Orchestration[In, Out]) Start(ctx context.Context, c *Client, instanceID string, in In, opts ...StartOption) error {
	return c.StartOrchestration(ctx, instanceID, o.name, in, opts...)
}

// Result waits until the instance finishes, as [Client.WaitForOrchestration] does, and
// returns its output. A failed instance is an error wrapping [ErrInstanceFailed] and
// [Status.Err]'s error, so errors.Is matches the kind of failure ([ErrCancelled],
// [ErrNondeterminism], [ErrPoison], [ErrUnregistered], [ErrPanicked]) and errors.As
// extracts the *[FailureDetails]. It also returns WaitForOrchestration's errors (ctx
// ending first, [ErrInvalidInput]) and the decoding error of an output that is not
// an Out.
func (o Orchestration[In, Out]) Result(ctx context.Context, c *Client, instanceID string) (Out, error) {
	var out Out
	st, err := c.WaitForOrchestration(ctx, instanceID)
	if err != nil {
		return out, err
	}
	if err := st.Err(); err != nil {
		return out, fmt.Errorf("%w: %w", ErrInstanceFailed, err)
	}
	if err := st.Decode(&out); err != nil {
		return out, fmt.Errorf("duroxide: orchestration %q instance %q: %w", o.name, instanceID, err)
	}
	return out, nil
}

// Schedule starts the orchestration as a sub-orchestration of ctx's and returns its
// typed future, with the options and errors of
// [OrchestrationContext.ScheduleSubOrchestration].
func (o Orchestration[In, Out]) Schedule(ctx *OrchestrationContext, in In, opts ...SubOrchestrationOption) TypedFuture[Out] {
	return TypedFuture[Out]{ctx.ScheduleSubOrchestration(o.name, in, opts...)}
}

// StartDetached starts an independent instance from an orchestration, as
// [OrchestrationContext.StartOrchestration] does, with its options and errors.
func (o Orchestration[In, Out]) StartDetached(ctx *OrchestrationContext, instanceID string, in In, opts ...SubOrchestrationOption) error {
	return ctx.StartOrchestration(instanceID, o.name, in, opts...)
}
