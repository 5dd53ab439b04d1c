package duroxide

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// ReplayOption configures [ReplayHistory]. Make one with [ReplayLogger] or
// [ReplayMaxPayloadBytes]; its contents are private.
type ReplayOption struct{ apply func(*replayOptions) }

type replayOptions struct {
	logger     *slog.Logger
	maxPayload int
}

// ReplayLogger sends the orchestration code's logs (ctx.Logger) to l while it
// replays. By default they are discarded. As in a live runtime, records logged while
// the code replays events it has already seen are suppressed: a replayer sees only
// what the code logs after the last event of history.
func ReplayLogger(l *slog.Logger) ReplayOption {
	return ReplayOption{func(o *replayOptions) { o.logger = l }}
}

// ReplayMaxPayloadBytes sets the payload limit the code replays under, which must be
// the Options.MaxPayloadBytes of the runtime that recorded the history when the code
// hits it. Default [DefaultMaxPayloadBytes]; 0 or less: no limit.
func ReplayMaxPayloadBytes(n int) ReplayOption {
	return ReplayOption{func(o *replayOptions) { o.maxPayload = n }}
}

// ReplayHistory replays a recorded history against the orchestrations registered in
// reg, with the engine a runtime replays with, and reports whether the code
// reproduces it. Use it to check, before a deployment, that changed orchestration
// code still replays the histories of running instances.
//
// events is one execution's history as Client.ReadHistory returns it (or
// history.ParseEvents reads it from "node history ID --json"), or several
// consecutive executions of one instance in order, each but the last ended by
// continue-as-new; the instance's key-value store is carried from one to the next. An
// execution that is not the instance's first starts from an empty key-value store
// unless its predecessors are in events.
//
// Each execution replays with the orchestration and version its OrchestrationStarted
// records. The code must ask for every action history holds, in order, and then do
// what history shows at the end: for an ended execution, end the same way (the same
// output, failure or continue-as-new input; a failure the runtime imposed, such as a
// poison message or another version's nondeterminism, is accepted while the code
// still waits); for a running one, ask for nothing more than history holds.
// Activities are not run: their recorded results are delivered.
//
// It returns nil when the code reproduces every execution, and otherwise:
//   - a [*NondeterminismError] (errors.Is: [ErrNondeterminism]) naming the event
//     where the code and history part and both sides;
//   - an error wrapping [ErrUnregistered] when the orchestration, or the version
//     history records, is not in reg;
//   - an error wrapping [ErrPanicked] when the code panics where history does not
//     record that panic, naming the event being replayed;
//   - an error wrapping [ErrInvalidHistory] when events is empty, does not begin with
//     OrchestrationStarted, has event ids that do not count up from 1 by one, mixes
//     instances, has a terminal event before the end of an execution, or has
//     executions out of order;
//   - an error wrapping [ErrInvalidInput] for a nil reg;
//   - ctx's error if ctx ends first. Replay cannot interrupt orchestration code that
//     never yields (an endless loop): its goroutine is then left running.
func ReplayHistory(ctx context.Context, reg *Registry, events []history.Event, opts ...ReplayOption) error {
	if reg == nil {
		return fmt.Errorf("%w: ReplayHistory: the registry is nil", ErrInvalidInput)
	}
	o := replayOptions{maxPayload: DefaultMaxPayloadBytes}
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	execs, err := splitExecutions(events)
	if err != nil {
		return err
	}
	kv := map[string]store.KVEntry{}
	for _, ex := range execs {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- replayOne(reg, ex, kv, &o) }()
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		applyKV(kv, ex)
	}
	return nil
}

// splitExecutions checks events against the history model and splits them into
// executions.
func splitExecutions(events []history.Event) ([][]history.Event, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events: a history begins with OrchestrationStarted", ErrInvalidHistory)
	}
	inst := events[0].InstanceID
	for i := range events {
		if ev := &events[i]; ev.InstanceID != inst {
			return nil, fmt.Errorf("%w: event %d (position %d) belongs to instance %q, the history to %q",
				ErrInvalidHistory, ev.EventID, i, ev.InstanceID, inst)
		}
	}
	var execs [][]history.Event
	start := 0
	for i := range events {
		ev := &events[i]
		if i > start && ev.ExecutionID != events[start].ExecutionID {
			prev := &events[i-1]
			if ev.ExecutionID != events[start].ExecutionID+1 || prev.Type != history.OrchestrationContinuedAsNew {
				return nil, fmt.Errorf("%w: execution %d (position %d) follows execution %d, which ends with %s at event %d: "+
					"only the next execution after a continue-as-new can follow", ErrInvalidHistory,
					ev.ExecutionID, i, events[start].ExecutionID, prev.Type, prev.EventID)
			}
			execs = append(execs, events[start:i])
			start = i
		}
		pos := uint64(i - start)
		switch {
		case pos == 0 && ev.Type != history.OrchestrationStarted:
			return nil, fmt.Errorf("%w: execution %d begins with %s at position %d, not OrchestrationStarted",
				ErrInvalidHistory, ev.ExecutionID, ev.Type, i)
		case pos > 0 && ev.Type == history.OrchestrationStarted:
			return nil, fmt.Errorf("%w: a second OrchestrationStarted at position %d in execution %d",
				ErrInvalidHistory, i, ev.ExecutionID)
		case ev.EventID != pos+1:
			return nil, fmt.Errorf("%w: event ids out of order: position %d of execution %d holds event %d, want %d",
				ErrInvalidHistory, i, ev.ExecutionID, ev.EventID, pos+1)
		case ev.Type.IsTerminal() && i+1 < len(events) && events[i+1].ExecutionID == ev.ExecutionID:
			return nil, fmt.Errorf("%w: %s at event %d is not the end of execution %d",
				ErrInvalidHistory, ev.Type, ev.EventID, ev.ExecutionID)
		case !ev.Type.Known():
			return nil, fmt.Errorf("%w: event %d has the unknown type %q", ErrInvalidHistory, ev.EventID, ev.Type)
		}
	}
	return append(execs, events[start:]), nil
}

// replayOne replays one execution, kv being the key-value store its predecessors
// left.
func replayOne(reg *Registry, ex []history.Event, kv map[string]store.KVEntry, o *replayOptions) error {
	started := &ex[0]
	fn, _, ok := reg.resolveOrchestration(started.Name, started.Version)
	if !ok {
		return fmt.Errorf("instance %q execution %d: %w: orchestration %q version %s is not in the registry",
			started.InstanceID, started.ExecutionID, ErrUnregistered, started.Name, started.Version)
	}
	// prefix is what the engine replays; tail is how the execution ended: its
	// terminal event and the cancellations of the work it left outstanding, which
	// the engine writes itself when the code ends (engine.terminal).
	prefix, tail := ex, []history.Event(nil)
	if n := len(ex); ex[n-1].Type.IsTerminal() {
		end := n - 1
		for end > 1 && isEndCancel(ex[end-1].Type) {
			end--
		}
		prefix, tail = ex[:end], ex[end:]
	}
	e := newEngine(started.InstanceID, fn, limits{maxPayload: o.maxPayload}, o.logger)
	e.kv = cloneKV(kv)
	// Beyond history, the code may ask for what the tail holds; one more event shows
	// the divergence (code looping over a corrupted input stops there).
	e.newLimit = len(tail) + 1
	defer e.abort()
	e.replay(prefix)
	if d := e.diverged; d != nil {
		return &NondeterminismError{Instance: e.instance, Execution: e.exec, EventID: d.eventID,
			History: d.history, Code: d.code, Message: nondeterminism(d.msg).Message}
	}
	if e.failure != nil && e.replayPos < len(prefix)-1 {
		// The code ended the execution (a panic, a failure) where history goes on.
		next := &prefix[e.replayPos+1]
		return replayDiverged(e, prefix[e.replayPos].EventID, next.EventID, describeEvent(next),
			describeEnd(&history.Event{Type: history.OrchestrationFailed, Details: e.failure}))
	}
	if e.done() && e.failure != errNewLimit {
		e.terminal()
	}
	return compareEnd(e, ex, prefix, tail)
}

// compareEnd compares what the code did after the last replayed event (the new
// events of e, the terminal one included when the code ended) with the tail of
// history, and returns the first difference as an error.
func compareEnd(e *engine, ex, prefix, tail []history.Event) error {
	got := e.newEvents
	for i := 0; i < len(got) || i < len(tail); i++ {
		var g, w *history.Event
		if i < len(got) {
			g = &got[i]
		}
		if i < len(tail) {
			w = &tail[i]
		}
		if g != nil && w != nil && sameOutcome(g, w) {
			continue
		}
		if g == nil && i == len(tail)-1 && !e.done() && imposedFailure(w) {
			return nil // the runtime failed the execution while the code waited
		}
		hist := fmt.Sprintf("nothing more (history ends at event %d)", ex[len(ex)-1].EventID)
		id := ex[len(ex)-1].EventID + 1
		if w != nil {
			hist, id = describeEnd(w), w.EventID
		}
		code := "nothing more (it still waits)"
		if g != nil {
			code = describeEnd(g)
			if last := &got[len(got)-1]; last != g && last.Type.IsTerminal() {
				code += ", then " + describeEnd(last)
			}
		}
		return replayDiverged(e, prefix[len(prefix)-1].EventID, id, hist, code)
	}
	return nil
}

// replayDiverged is the error for code that parts from history at event id: a panic
// error when the code panicked (while replaying event at), else a nondeterminism
// error.
func replayDiverged(e *engine, at, id uint64, hist, code string) error {
	if e.failure != nil && e.failure.Kind == history.KindPanicked {
		return fmt.Errorf("instance %q execution %d: %w while replaying event %d: %s",
			e.instance, e.exec, ErrPanicked, at, e.failure.Message)
	}
	return &NondeterminismError{Instance: e.instance, Execution: e.exec, EventID: id, History: hist, Code: code,
		Message: fmt.Sprintf("nondeterminism: at event %d history holds %s, but the code asked for %s", id, hist, code)}
}

// isEndCancel reports whether t is a cancellation the engine writes for outstanding
// work when an execution ends.
func isEndCancel(t history.EventType) bool {
	return t == history.ActivityCancelRequested || t == history.SubOrchestrationCancelRequested
}

// imposedFailure reports whether ev is a failure the runtime, not the code, ended
// the execution with: poison, an unregistered orchestration or version, an
// infrastructure failure, or nondeterminism of the code a node ran then.
func imposedFailure(ev *history.Event) bool {
	return ev.Type == history.OrchestrationFailed && ev.Details != nil && ev.Details.Category != history.Application
}

// sameOutcome reports whether the event the code produced at the end of replay is
// the one history holds.
func sameOutcome(g, w *history.Event) bool {
	if g.Type != w.Type {
		return false
	}
	switch g.Type {
	case history.OrchestrationCompleted:
		return g.Output == w.Output
	case history.OrchestrationContinuedAsNew:
		return g.Input == w.Input
	case history.OrchestrationFailed:
		return g.Details != nil && w.Details != nil && g.Details.Kind == w.Details.Kind &&
			g.Details.Message == w.Details.Message
	}
	return mismatch(w, g) == ""
}

// describeEnd describes an event for a replay report, terminal events included.
func describeEnd(ev *history.Event) string {
	switch ev.Type {
	case history.OrchestrationCompleted:
		return fmt.Sprintf("OrchestrationCompleted{output=%s}", ev.Output)
	case history.OrchestrationContinuedAsNew:
		return fmt.Sprintf("OrchestrationContinuedAsNew{input=%s}", ev.Input)
	case history.OrchestrationFailed:
		if ev.Details == nil {
			return "OrchestrationFailed"
		}
		return fmt.Sprintf("OrchestrationFailed{%s}", ev.Details.DisplayMessage())
	}
	return describeEvent(ev)
}

// applyKV merges an execution's key-value writes into kv, as the store does when
// the execution ends.
func applyKV(kv map[string]store.KVEntry, ex []history.Event) {
	for i := range ex {
		switch ev := &ex[i]; ev.Type {
		case history.KeyValueSet:
			kv[ev.Key] = store.KVEntry{Value: ev.Value, LastUpdatedAtMs: ev.LastUpdatedAtMs}
		case history.KeyValueCleared:
			delete(kv, ev.Key)
		case history.KeyValuesCleared:
			clear(kv)
		}
	}
}
