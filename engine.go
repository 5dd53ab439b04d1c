package duroxide

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// orchestrationFunc is a registered orchestration with its input and output as JSON.
type orchestrationFunc func(ctx *OrchestrationContext, input string) (string, error)

// engine replays and advances one execution of one instance.
//
// The orchestration function runs as a coroutine on its own goroutine, as does every
// function it starts with ctx.Go, but only one of them runs at a time and never at
// the same time as the engine: the engine resumes one and waits until it blocks on an
// unresolved future or returns (coroutines.go). Completions are delivered one at a
// time in history order, and the coroutines run to quiescence after each, in creation
// order, so Select and Join resolve the same way on every replay. Between turns a live
// engine stays cached with its coroutines parked, and the next turn continues them
// without replaying.
type engine struct {
	instance      string
	exec          uint64
	name, version string
	input         string
	startedMs     int64
	parentInst    string
	parentExec    uint64
	parentID      uint64
	fn            orchestrationFunc
	limits        limits
	ctx           *OrchestrationContext
	log           *slog.Logger
	// span is the running turn's span (invalid when tracing is off), for the
	// orchestration's log records (logging.go).
	span trace.SpanContext

	// coroutine hand-off (coroutines.go): cos[0] runs the orchestration function,
	// the others run ctx.Go functions; cur is the one running (nil: none).
	cos         []*coroutine
	cur         *coroutine
	yield       chan struct{}
	inCoroutine atomic.Bool
	// finished: the orchestration function returned (or ended its goroutine).
	finished bool
	aborting bool
	// spawned is a coroutine just started with Go, which step runs before resuming
	// the coroutine that started it.
	spawned    *coroutine
	output     string
	userErr    error
	canInput   *string
	canVersion string

	// replay state
	committed   []history.Event
	schedIdx    []int // indices of schedule events in committed
	nextSched   int   // schedule events matched so far
	replaying   bool
	nowMs       int64
	nextEventID uint64

	// outputs of the current turn
	newEvents []history.Event
	workItems []store.WorkItem
	orchItems []store.WorkItem

	futures  map[uint64]*futureState
	subs     map[string][]*futureState // unresolved event subscriptions, oldest first
	qsubs    map[string][]*futureState // unresolved queue subscriptions, oldest first
	queue    []history.QueuedMessage   // queue messages delivered but not dequeued, oldest first
	resolved uint64
	guidSeq  uint64

	// customStatus is the execution's current custom status (nil: none).
	customStatus *string
	// cancelActs are the activities this turn cancelled (Select losers, or in
	// flight when the execution ended); the runtime removes and signals them after
	// the commit.
	cancelActs []activityRef

	// failure ends the execution as Failed with these details (nondeterminism,
	// cancellation, configuration errors, panics).
	failure *history.ErrorDetails
	// diverged is where replay found the code not reproducing history (nil: it
	// did, or the failure is of another kind); the replayer reports it.
	diverged *divergence
	// replayPos is the index in committed of the event being replayed.
	replayPos int
	// newLimit, when not 0, bounds the new events a replayer lets the code add
	// beyond history; the code asking for more ends with errNewLimit.
	newLimit int

	// kv is the instance's KV store as this execution sees it: the prior executions'
	// store plus this execution's own changes (kv.go).
	kv map[string]store.KVEntry
}

// limits are the size limits the engine enforces on payloads.
type limits struct {
	maxPayload int
}

func newEngine(instance string, fn orchestrationFunc, lim limits, log *slog.Logger) *engine {
	e := &engine{
		instance: instance,
		fn:       fn,
		limits:   lim,
		yield:    make(chan struct{}),
		futures:  make(map[uint64]*futureState),
		subs:     make(map[string][]*futureState),
		qsubs:    make(map[string][]*futureState),
	}
	e.ctx = &OrchestrationContext{e: e}
	e.cos = []*coroutine{{resume: make(chan struct{}), main: true}}
	e.log = log
	return e
}

// begin initialises the engine from an execution's OrchestrationStarted event.
func (e *engine) begin(started *history.Event) {
	e.exec = started.ExecutionID
	e.name, e.version = started.Name, started.Version
	e.input = started.Input
	e.startedMs = started.TimestampMs
	e.parentInst, e.parentID, e.parentExec = started.ParentInstance, started.ParentID, started.ParentExecution
	e.nowMs = started.TimestampMs
	e.nextEventID = started.EventID + 1
	e.queue = append([]history.QueuedMessage(nil), started.CarryForward...)
	e.customStatus = started.CustomStatus
	e.ctx.logger = slog.New(&replaySafeHandler{inner: e.log.Handler(), e: e}).With(
		"instance", e.instance, "orchestration", e.name, "execution", e.exec)
}

// startNew begins a brand-new execution: started is the turn's first new event.
func (e *engine) startNew(started history.Event) {
	e.newEvents = append(e.newEvents, started)
	e.begin(&started)
	e.run()
}

// replay rebuilds the engine's state from committed history (cache miss, restart, or
// after a lost fence). It records a failure if the code does not reproduce history.
func (e *engine) replay(committed []history.Event) {
	e.committed = committed
	if len(committed) == 0 || committed[0].Type != history.OrchestrationStarted {
		e.fail(corruption("history does not begin with OrchestrationStarted"))
		return
	}
	for i := range committed {
		if committed[i].Type.IsSchedule() {
			e.schedIdx = append(e.schedIdx, i)
		}
	}
	e.begin(&committed[0])
	e.replaying = len(committed) > 1
	e.nextEventID = committed[len(committed)-1].EventID + 1
	e.run()
	for i := 1; i < len(committed) && e.failure == nil; i++ {
		ev := &committed[i]
		e.replayPos = i
		e.replaying = i < len(committed)-1
		e.nowMs = ev.TimestampMs
		if e.finished && !ev.Type.IsTerminal() && !(ev.Type.IsSchedule() && e.matched(i)) {
			e.fail(e.diverge(ev.EventID, describeEvent(ev), "nothing more (the orchestration returned)",
				fmt.Sprintf("the orchestration returned, but history continues with %s at event %d", describeEvent(ev), ev.EventID)))
			break
		}
		if ev.Type.IsSchedule() {
			if !e.matched(i) {
				e.fail(e.diverge(ev.EventID, describeEvent(ev), "nothing (it did not schedule it)",
					fmt.Sprintf("history holds %s at event %d, but the code did not schedule it", describeEvent(ev), ev.EventID)))
			}
			continue
		}
		if ev.Type.IsTerminal() {
			e.fail(corruption(fmt.Sprintf("terminal event %s at %d is not the end of history", ev.Type, ev.EventID)))
			return
		}
		if err := e.validateCompletion(ev); err != nil {
			e.fail(e.diverge(ev.EventID, describeEvent(ev), "nothing it answers ("+err.Error()+")", err.Error()))
			return
		}
		e.deliver(ev)
	}
	e.replaying = false
	if e.failure == nil && e.finished && e.nextSched < len(e.schedIdx) {
		ev := &committed[e.schedIdx[e.nextSched]]
		e.fail(e.diverge(ev.EventID, describeEvent(ev), "nothing more (the orchestration returned)",
			fmt.Sprintf("the orchestration returned, but history continues with %s at event %d", describeEvent(ev), ev.EventID)))
	}
	e.committed, e.schedIdx, e.nextSched = nil, nil, 0 // only needed while replaying
}

func (e *engine) matched(idx int) bool {
	for p, i := range e.schedIdx {
		if i == idx {
			return p < e.nextSched
		}
	}
	return false
}

// fail ends the execution with details. Called on the engine goroutine.
func (e *engine) fail(d *history.ErrorDetails) {
	if e.failure == nil {
		e.failure = d
	}
	e.abort()
}

// failFromCoroutine records a failure detected while the coroutine runs and ends it.
func (e *engine) failFromCoroutine(d *history.ErrorDetails) {
	if e.failure == nil {
		e.failure = d
	}
	e.aborting = true
	runtime.Goexit()
}

// divergence is where replay found the code not reproducing history: the event,
// what history holds there and what the code did instead.
type divergence struct {
	eventID       uint64
	history, code string
	msg           string
}

// diverge records the first divergence and returns its nondeterminism failure.
func (e *engine) diverge(eventID uint64, hist, code, msg string) *history.ErrorDetails {
	if e.diverged == nil {
		e.diverged = &divergence{eventID: eventID, history: hist, code: code, msg: msg}
	}
	return nondeterminism(msg)
}

func nondeterminism(msg string) *history.ErrorDetails {
	return &history.ErrorDetails{Category: history.Configuration, Kind: history.KindNondeterminism, Message: "nondeterminism: " + msg}
}

func corruption(msg string) *history.ErrorDetails {
	return &history.ErrorDetails{Category: history.Configuration, Kind: history.KindNondeterminism, Message: "corrupted history: " + msg}
}

func describeEvent(ev *history.Event) string {
	switch ev.Type {
	case history.ActivityScheduled:
		return fmt.Sprintf("ActivityScheduled{name=%q input=%s}", ev.Name, ev.Input)
	case history.SubOrchestrationScheduled, history.OrchestrationChained:
		return fmt.Sprintf("%s{name=%q instance=%q input=%s}", ev.Type, ev.Name, ev.Instance, ev.Input)
	case history.ExternalSubscribed, history.QueueSubscribed:
		return fmt.Sprintf("%s{name=%q}", ev.Type, ev.Name)
	case history.TimerCreated:
		return "TimerCreated"
	case history.KeyValueSet:
		return fmt.Sprintf("KeyValueSet{key=%q value=%q}", ev.Key, ev.Value)
	case history.KeyValueCleared:
		return fmt.Sprintf("KeyValueCleared{key=%q}", ev.Key)
	case history.ActivityCancelRequested, history.SubOrchestrationCancelRequested,
		history.ExternalSubscribedCancelled, history.QueueSubscriptionCancelled,
		history.ActivityCompleted, history.ActivityFailed, history.TimerFired,
		history.SubOrchestrationCompleted, history.SubOrchestrationFailed:
		return fmt.Sprintf("%s{source=%d}", ev.Type, ev.SourceEventID)
	case history.ExternalEvent, history.QueueEventDelivered:
		return fmt.Sprintf("%s{name=%q}", ev.Type, ev.Name)
	}
	return string(ev.Type)
}
