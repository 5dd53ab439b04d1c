package duroxide

import (
	"context"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide/store"
)

// cancelMemory is how long a node remembers a cancelled activity, so a work item
// that was already buffered when the cancellation came is not run.
const cancelMemory = 10 * time.Minute

type actKey struct {
	instance  string
	exec, id  uint64
	schedAtMs int64
}

// activityTracker knows the activities running on this node and listens for the
// cancellation signals orchestration turns push through the store
// ([store.CancelSignaler]; on JetStream, <ns>.cancel.<id>).
type activityTracker struct {
	mu        sync.Mutex
	running   map[actKey]context.CancelCauseFunc
	cancelled map[actKey]time.Time
	loops     int
	stopWatch func() // ends the store's cancellation watch, nil when none
}

func newActivityTracker() *activityTracker {
	return &activityTracker{running: make(map[actKey]context.CancelCauseFunc), cancelled: make(map[actKey]time.Time)}
}

// acquire is called by each activity loop as it starts: the first one subscribes.
func (t *activityTracker) acquire(r *Runtime) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loops++
	if t.stopWatch != nil {
		return
	}
	sig, ok := r.st.(store.CancelSignaler)
	if !ok {
		return // this runtime's own signals are delivered directly (signalCancelled)
	}
	stop, err := sig.WatchCancellations(t.cancel)
	if err != nil {
		r.log.Warn("watch activity cancellations; running activities will not be interrupted", "err", err)
		return
	}
	t.stopWatch = stop
}

// release is called by each activity loop as it ends: the last one unsubscribes.
func (t *activityTracker) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loops--
	if t.loops == 0 && t.stopWatch != nil {
		t.stopWatch()
		t.stopWatch = nil
	}
}

// cancel cancels the named activities that run here and remembers them all.
func (t *activityTracker) cancel(refs []store.ActivityRef) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, at := range t.cancelled {
		if now.Sub(at) > cancelMemory {
			delete(t.cancelled, k)
		}
	}
	for _, ref := range refs {
		k := actKey{ref.Instance, ref.ExecutionID, ref.ID, ref.ScheduledAtMs}
		t.cancelled[k] = now
		if c := t.running[k]; c != nil {
			c(ErrActivityCancelled)
		}
	}
}

// start registers a running activity; it reports false when the activity was
// already cancelled (it must not run).
func (t *activityTracker) start(k actKey, c context.CancelCauseFunc) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, gone := t.cancelled[k]; gone {
		return false
	}
	t.running[k] = c
	return true
}

func (t *activityTracker) finish(k actKey) {
	t.mu.Lock()
	delete(t.running, k)
	t.mu.Unlock()
}

// scheduledActivities turns the engine's cancelled activities into the commit's
// CancelledActivities: the store purges their work items as part of the turn.
func scheduledActivities(instance string, refs []activityRef) []store.ScheduledActivity {
	out := make([]store.ScheduledActivity, len(refs))
	for i, a := range refs {
		out[i] = store.ScheduledActivity{Instance: instance, ExecutionID: a.exec, ID: a.id}
	}
	return out
}

// signalCancelled tells running attempts of the activities a committed turn cancelled
// to stop (this node's at once, other nodes' through the store's signal).
func (r *Runtime) signalCancelled(instance string, refs []activityRef) {
	if len(refs) == 0 {
		return
	}
	out := make([]store.ActivityRef, len(refs))
	for i, a := range refs {
		out[i] = store.ActivityRef{Instance: instance, ExecutionID: a.exec, ID: a.id, ScheduledAtMs: a.schedAtMs}
	}
	r.acts.cancel(out)
	sig, ok := r.st.(store.CancelSignaler)
	if !ok {
		return
	}
	if err := sig.SignalCancelled(instance, out); err != nil {
		r.log.Warn("signal cancelled activities", "instance", instance, "err", err)
	}
}
