package duroxide

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// OrchestrationContext is what an orchestration function uses to do anything with a
// side effect. Every method records a decision in history (or replays the recorded
// one), so the function must be deterministic: no wall clock, randomness, I/O, map
// iteration order or goroutines of its own. Use [OrchestrationContext.Now],
// [OrchestrationContext.NewGUID], [OrchestrationContext.Rand], activities, Join,
// Select and [OrchestrationContext.Go] instead.
//
// Methods must be called from the orchestration function's own goroutine or from a
// function it started with Go; a call from any other goroutine is a bug, which the
// engine reports with a panic when it detects it.
type OrchestrationContext struct {
	e      *engine
	logger *slog.Logger
	rnd    *rand.Rand
}

// InstanceID returns the orchestration instance id.
func (c *OrchestrationContext) InstanceID() string { return c.e.instance }

// ExecutionID returns the current execution number (1, then +1 per continue-as-new).
func (c *OrchestrationContext) ExecutionID() uint64 { return c.e.exec }

// Name returns the orchestration's registered name.
func (c *OrchestrationContext) Name() string { return c.e.name }

// Version returns the orchestration version this execution runs.
func (c *OrchestrationContext) Version() string { return c.e.version }

// ParentInstanceID returns the parent's instance id for a sub-orchestration, or "".
func (c *OrchestrationContext) ParentInstanceID() string { return c.e.parentInst }

// IsReplaying reports whether the code is re-executing decisions already in history.
func (c *OrchestrationContext) IsReplaying() bool { return c.e.replaying }

// Logger returns a logger that is silent while the orchestration replays, so each
// line is written once however often the code runs. Records carry the instance id,
// orchestration name and execution.
func (c *OrchestrationContext) Logger() *slog.Logger { return c.logger }

// Now returns the deterministic current time: the time of the history event being
// processed (the turn's start time for new events). It advances only as history does.
func (c *OrchestrationContext) Now() time.Time { return time.UnixMilli(c.e.nowMs) }

// NewGUID returns a deterministic, unique 36-character UUID-formatted string derived
// from the instance, its creation time, the execution and a per-execution counter.
func (c *OrchestrationContext) NewGUID() string {
	c.e.guidSeq++
	h := sha256.New()
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], c.e.exec)
	binary.BigEndian.PutUint64(b[8:], uint64(c.e.startedMs))
	binary.BigEndian.PutUint64(b[16:], c.e.guidSeq)
	h.Write([]byte(c.e.instance))
	h.Write(b[:])
	sum := h.Sum(nil)
	sum[6] = sum[6]&0x0f | 0x50 // version 5 (name-based)
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(sum[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// Rand returns a random source seeded from the instance and execution: the same on
// every replay. Draw from it only on the orchestration goroutine.
func (c *OrchestrationContext) Rand() *rand.Rand {
	if c.rnd == nil {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", c.e.instance, c.e.exec, c.e.startedMs)))
		c.rnd = rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
	}
	return c.rnd
}

// ActivityOption configures one scheduled activity. Make one with [WithTag] or
// [OnSession]; its contents are private.
type ActivityOption struct{ apply func(*activityOptions) }

// activityOptions are the settings ActivityOption values set.
type activityOptions struct {
	tag     string
	session string
	// retryAttempt is set by ScheduleActivityWithRetry: 0 first, n the n-th retry.
	retryAttempt int
}

// WithTag routes the activity to workers that serve tag (see [TagFilter]). A tag
// longer than [MaxTagNameBytes] or holding a NUL byte fails the orchestration. Tags
// are part of the determinism check.
func WithTag(tag string) ActivityOption {
	return ActivityOption{func(o *activityOptions) { o.tag = tag }}
}

// ScheduleActivity schedules the named activity with input (encoded as JSON) and
// returns its future. A failed activity resolves the future with a [*TaskError].
// Options: [WithTag] routes it to a worker pool, [OnSession] to the owner of a
// session.
//
// An input that cannot be encoded or exceeds Options.MaxPayloadBytes resolves the
// future at once with an error wrapping [ErrInvalidInput] or [ErrPayloadTooLarge].
// An invalid tag or session id fails the orchestration, and so does an activity
// failure that is not the application's (an unregistered activity, [ErrUnregistered],
// or a poison work item, [ErrPoison]): see [Status.Err].
func (c *OrchestrationContext) ScheduleActivity(name string, input any, opts ...ActivityOption) *Future {
	e := c.e
	in, err := encodePayload(input, "activity input", e.limits.maxPayload)
	if err != nil {
		return e.failedFuture(fmt.Errorf("duroxide: schedule activity %q: %w", name, err))
	}
	var o activityOptions
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	ev := history.Event{Type: history.ActivityScheduled, Name: name, Input: in, Tag: o.tag, SessionID: o.session}
	if len(ev.Tag) > MaxTagNameBytes || strings.ContainsRune(ev.Tag, 0) {
		e.failFromCoroutine(&history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed,
			Message: fmt.Sprintf("activity %q tag is invalid: %d bytes (the limit is %d) and it must not hold a NUL byte",
				name, len(ev.Tag), MaxTagNameBytes)})
	}
	if err := validSessionID(ev.SessionID); err != nil {
		e.failFromCoroutine(&history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed,
			Message: fmt.Sprintf("activity %q: %v", name, err)})
	}
	stored, fresh := e.emit(ev)
	if fresh {
		e.workItems = append(e.workItems, store.WorkItem{Type: store.ActivityExecute, Instance: e.instance,
			ExecutionID: e.exec, ID: stored.EventID, Name: name, Input: in, Tag: ev.Tag, SessionID: ev.SessionID,
			Orchestration: e.name, OrchestrationVersion: e.version, ScheduledAtMs: stored.TimestampMs,
			RetryAttempt: o.retryAttempt})
	}
	f := e.newFuture(kindActivity, stored.EventID, name)
	f.st.schedAtMs = stored.TimestampMs
	return f
}

// ScheduleTimer schedules a durable timer that fires d after [OrchestrationContext.Now].
// Its future resolves (with no value) when the timer fires; it survives restarts and
// fires once.
func (c *OrchestrationContext) ScheduleTimer(d time.Duration) *Future {
	e := c.e
	if d < 0 {
		d = 0
	}
	stored, fresh := e.emit(history.Event{Type: history.TimerCreated, FireAtMs: e.nowMs + d.Milliseconds()})
	if fresh {
		e.orchItems = append(e.orchItems, store.WorkItem{Type: store.TimerFired, Instance: e.instance,
			ExecutionID: e.exec, ID: stored.EventID, FireAtMs: stored.FireAtMs})
	}
	return e.newFuture(kindTimer, stored.EventID, "timer")
}

// WaitForEvent subscribes to the next external event called name, raised with
// Client.RaiseEvent. Subscriptions are positional: the Nth active wait for a name
// receives the Nth event of that name raised after it subscribed. An event raised
// when no wait is active is recorded in history but delivered to nobody. A wait that
// loses a Select is withdrawn and no longer counts. For messages that must not be
// lost, use the persistent queues ([OrchestrationContext.DequeueEvent] with
// Client.EnqueueEvent), which compares the two models.
func (c *OrchestrationContext) WaitForEvent(name string) *Future {
	e := c.e
	stored, _ := e.emit(history.Event{Type: history.ExternalSubscribed, Name: name})
	f := e.newFuture(kindEvent, stored.EventID, name)
	e.subs[name] = append(e.subs[name], f.st)
	return f
}

// SubOrchestrationOption configures a sub-orchestration, a detached start or a
// continue-as-new. Make one with [WithInstanceID] or [WithVersion]; its contents are
// private.
type SubOrchestrationOption struct{ apply func(*subOptions) }

func applySubOptions(opts []SubOrchestrationOption) subOptions {
	var o subOptions
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	return o
}

type subOptions struct {
	instance string
	version  string
}

// WithInstanceID gives the child an explicit instance id instead of the generated
// one ("<parent>::sub::<event id>" in an instance's first execution, as duroxide
// names it, and "<parent>::sub::<execution>.<event id>" after a continue-as-new, so
// each execution's children are new instances).
func WithInstanceID(id string) SubOrchestrationOption {
	return SubOrchestrationOption{func(o *subOptions) { o.instance = id }}
}

// WithVersion runs a specific registered version of the orchestration instead of the
// version policy's choice.
func WithVersion(v string) SubOrchestrationOption {
	return SubOrchestrationOption{func(o *subOptions) { o.version = v }}
}

// ScheduleSubOrchestration starts a child orchestration and returns a future for its
// result. A failed child resolves the future with a [*TaskError] that matches the
// kind of its failure ([ErrCancelled], [ErrUnregistered], [ErrPanicked],
// [ErrNondeterminism], [ErrPoison]). A bad input, version or instance id resolves it
// at once with an error wrapping [ErrInvalidInput] or [ErrPayloadTooLarge].
func (c *OrchestrationContext) ScheduleSubOrchestration(name string, input any, opts ...SubOrchestrationOption) *Future {
	e := c.e
	o := applySubOptions(opts)
	in, err := encodePayload(input, "sub-orchestration input", e.limits.maxPayload)
	if err != nil {
		return e.failedFuture(fmt.Errorf("duroxide: schedule sub-orchestration %q: %w", name, err))
	}
	if o.version != "" {
		if _, err := store.ParseSemver(o.version); err != nil {
			return e.failedFuture(fmt.Errorf("duroxide: schedule sub-orchestration %q: %w: version: %v", name, ErrInvalidInput, err))
		}
	}
	child := o.instance
	if child == "" {
		child = generatedChildID(e.instance, e.exec, e.peekID())
	} else if err := validateInstanceID(child); err != nil {
		return e.failedFuture(fmt.Errorf("duroxide: schedule sub-orchestration %q: %w", name, err))
	}
	stored, fresh := e.emit(history.Event{Type: history.SubOrchestrationScheduled, Name: name, Instance: child,
		Input: in, Version: o.version})
	if fresh {
		e.orchItems = append(e.orchItems, store.WorkItem{Type: store.StartOrchestration, Instance: child, Name: name,
			Version: o.version, Input: in, ParentInstance: e.instance, ParentExecutionID: e.exec, ParentID: stored.EventID})
	}
	f := e.newFuture(kindSubOrchestration, stored.EventID, name)
	f.st.child = stored.Instance
	return f
}

// StartOrchestration starts an independent (detached) instance of the named
// orchestration with the given instance id: fire-and-forget, with no link to this
// one. Its arguments come in the order of [Client.StartOrchestration] (instance id,
// then name). If the id already exists the start is ignored. It returns an error wrapping [ErrInvalidInput] for an invalid
// instance id or an input that cannot be encoded, and [ErrPayloadTooLarge] for an
// oversized input.
func (c *OrchestrationContext) StartOrchestration(instanceID, name string, input any, opts ...SubOrchestrationOption) error {
	e := c.e
	o := applySubOptions(opts)
	if err := validateInstanceID(instanceID); err != nil {
		return fmt.Errorf("duroxide: start orchestration %q: %w", name, err)
	}
	in, err := encodePayload(input, "orchestration input", e.limits.maxPayload)
	if err != nil {
		return fmt.Errorf("duroxide: start orchestration %q: %w", name, err)
	}
	_, fresh := e.emit(history.Event{Type: history.OrchestrationChained, Name: name, Instance: instanceID, Input: in, Version: o.version})
	if fresh {
		e.orchItems = append(e.orchItems, store.WorkItem{Type: store.StartOrchestration, Instance: instanceID,
			Name: name, Version: o.version, Input: in})
	}
	return nil
}

// ContinueAsNew ends this execution and starts the next one with input, keeping the
// instance id (use it to keep eternal orchestrations' histories short). Return its
// result from the orchestration function:
//
//	return nil, ctx.ContinueAsNew(next)
//
// Pass WithVersion to move the next execution to another registered version (the
// supported upgrade point for long-running orchestrations); without it the next
// execution gets the version policy's choice (the latest by default). The next
// execution also receives the custom status and up to [MaxCarryForwardEvents]
// unconsumed queue messages; in-flight activities are cancelled and positional
// event waits end. It returns an error wrapping [ErrInvalidInput] for a version that
// is not MAJOR.MINOR.PATCH, and [ErrPayloadTooLarge] for an oversized input.
func (c *OrchestrationContext) ContinueAsNew(input any, opts ...SubOrchestrationOption) error {
	o := applySubOptions(opts)
	in, err := encodePayload(input, "continue-as-new input", c.e.limits.maxPayload)
	if err != nil {
		return fmt.Errorf("duroxide: continue as new: %w", err)
	}
	if o.version != "" {
		v, err := store.ParseSemver(o.version)
		if err != nil {
			return fmt.Errorf("duroxide: continue as new: %w: version: %v", ErrInvalidInput, err)
		}
		o.version = v.String()
	}
	return &continueAsNewError{input: in, version: o.version}
}

// Select waits until at least one of the futures resolves and returns the index of
// the one that resolved first in history order.
//
// As in duroxide (select2/select3 drop their losers), every other future that has
// not resolved yet is cancelled: a running activity is cancelled (its
// ActivityContext is cancelled, then its result is dropped), a sub-orchestration is
// cancelled with "parent dropped sub-orchestration future", an event or queue
// subscription is withdrawn (a queue message stays queued for the next
// DequeueEvent), a timer is simply forgotten, and a function started with
// [OrchestrationContext.Go] is cancelled with everything it waits for. Get on a
// cancelled loser returns [ErrFutureCancelled]. Losers that had already resolved keep
// their results.
func (c *OrchestrationContext) Select(futures ...*Future) int {
	if len(futures) == 0 {
		return -1
	}
	first := func() int {
		best := -1
		for i, f := range futures {
			if f.st.done && (best < 0 || f.st.order < futures[best].st.order) {
				best = i
			}
		}
		return best
	}
	c.e.block(func() bool { return first() >= 0 })
	won := first()
	for i, f := range futures {
		if i != won && f != nil && f.st != nil && f.st != futures[won].st {
			c.e.cancelFuture(f.st, ReasonDroppedFuture)
		}
	}
	return won
}

// Join waits until all futures resolve (or are cancelled: a future another Go
// function's Select dropped). Read each result with Get.
func (c *OrchestrationContext) Join(futures ...*Future) {
	c.e.block(func() bool {
		for _, f := range futures {
			if !f.st.done && !f.st.cancelled {
				return false
			}
		}
		return true
	})
}

// generatedChildID names a sub-orchestration started without [WithInstanceID]. Event
// ids restart at 1 in every execution, so after the first the execution is part of
// the id: otherwise a continued-as-new parent's child would reuse the finished child
// of an earlier execution, and its start would be ignored.
func generatedChildID(parent string, exec, eventID uint64) string {
	if exec <= 1 {
		return fmt.Sprintf("%s::sub::%d", parent, eventID)
	}
	return fmt.Sprintf("%s::sub::%d.%d", parent, exec, eventID)
}
