package duroxide

import (
	"encoding/json"
	"fmt"
)

// Future is the pending result of something an orchestration scheduled: an activity,
// a timer, an external event, a queue message, a sub-orchestration, or a function
// started with [OrchestrationContext.Go] (a retried activity is one). It resolves when the matching
// completion is delivered from history, never by wall-clock or goroutine timing, so
// the same code always observes the same order on replay.
type Future struct {
	e  *engine
	st *futureState
}

type futureKind int

const (
	kindActivity futureKind = iota + 1
	kindTimer
	kindEvent
	kindSubOrchestration
	kindQueue
	kindGo     // a function started with OrchestrationContext.Go
	kindFailed // failed before anything was scheduled (bad input)
)

func (k futureKind) String() string {
	switch k {
	case kindActivity:
		return "activity"
	case kindTimer:
		return "timer"
	case kindEvent:
		return "external event"
	case kindSubOrchestration:
		return "sub-orchestration"
	case kindQueue:
		return "queue event"
	case kindGo:
		return "concurrent function"
	}
	return "failed call"
}

type futureState struct {
	kind   futureKind
	id     uint64 // scheduling event id
	name   string
	done   bool
	order  uint64 // resolution order, for Select
	result string // JSON
	err    error
	// cancelled is set when the future was dropped (a Select loser): its completion,
	// if one still arrives, is ignored.
	cancelled bool
	child     string     // sub-orchestration instance id
	schedAtMs int64      // activity: time of its ActivityScheduled event
	co        *coroutine // Go: the coroutine that runs the function
}

// Get waits for the future and decodes its JSON result into out (which may be nil to
// discard it). Its errors:
//   - a failed activity or sub-orchestration: a [*TaskError], which matches the kind
//     of failure with errors.Is ([ErrCancelled], [ErrUnregistered], [ErrPanicked],
//     [ErrNondeterminism], [ErrPoison]; [ErrActivityTimeout] for a retried
//     activity's timeout);
//   - a function started with [OrchestrationContext.Go]: its error as returned;
//   - a future that lost a Select (or whose Go function did): [ErrFutureCancelled];
//   - a call rejected before it scheduled anything: its error, wrapping
//     [ErrInvalidInput] or [ErrPayloadTooLarge];
//   - a result that does not decode into out: the decoding error.
func (f *Future) Get(out any) error {
	if f == nil || f.st == nil {
		return fmt.Errorf("duroxide: Get on a nil Future")
	}
	f.e.block(func() bool { return f.st.done || f.st.cancelled })
	if f.st.cancelled && !f.st.done {
		return fmt.Errorf("%w (%s %q)", ErrFutureCancelled, f.st.kind, f.st.name)
	}
	if f.st.err != nil {
		return f.st.err
	}
	if out == nil || f.st.result == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(f.st.result), out); err != nil {
		return fmt.Errorf("duroxide: decode %s %q result into %T: %w", f.st.kind, f.st.name, out, err)
	}
	return nil
}

// Done reports whether the future has resolved. It never blocks.
func (f *Future) Done() bool { return f != nil && f.st != nil && f.st.done }

// Await waits for f and returns its result decoded as T, with the errors of
// [Future.Get].
func Await[T any](f *Future) (T, error) {
	var out T
	err := f.Get(&out)
	return out, err
}
