package duroxide

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// activityLoop fetches one work item at a time and runs its activity.
func (r *Runtime) activityLoop() {
	defer r.wg.Done()
	r.acts.acquire(r)
	defer r.acts.release()
	pollLoop(r, "work item", func(ctx context.Context) (*store.WorkLease, error) {
		start := time.Now()
		lease, err := r.st.FetchWorkItem(ctx, r.opts.ActivityLockTimeout, fetchPoll)
		if lease != nil || err != nil && !r.isStopping(err) {
			r.metrics.storeOp(opFetchWork, start, err)
		}
		return lease, err
	}, r.runActivity)
}

func (r *Runtime) runActivity(lease *store.WorkLease) {
	ctx, span := r.startActivitySpan(lease)
	if span != nil {
		defer span.End()
	}
	start := time.Now()
	it := &lease.Item
	fail := func(d history.ErrorDetails) *store.WorkItem {
		return &store.WorkItem{Type: store.ActivityFailed, Instance: it.Instance, ExecutionID: it.ExecutionID, ID: it.ID, Details: &d}
	}
	if lease.AttemptCount > r.opts.MaxAttempts {
		r.completeActivity(ctx, lease, start, fail(history.ErrorDetails{Category: history.Poison, Kind: history.KindPoison, Resource: it.Name,
			Message: fmt.Sprintf("activity %q delivered %d times (max %d)", it.Name, lease.AttemptCount, r.opts.MaxAttempts)}))
		return
	}
	fn, ok := r.activity(it.Name)
	if !ok {
		if lease.AttemptCount < r.opts.MaxAttempts {
			r.activityOutcome(ctx, lease, nil, outcomeAbandoned)
			abStart := time.Now()
			err := r.st.AbandonWorkItem(ctx, lease.LockToken, r.opts.unregisteredDelay(lease.AttemptCount), false)
			r.metrics.storeOp(opAbandonWork, abStart, err)
			return
		}
		r.completeActivity(ctx, lease, start, fail(history.ErrorDetails{Category: history.Configuration, Kind: history.KindUnregistered,
			Resource: it.Name, Message: unregisteredMessage("activity", it.Name, "")}))
		return
	}
	key := actKey{it.Instance, it.ExecutionID, it.ID, it.ScheduledAtMs}
	runCtx, cancelRun := context.WithCancelCause(activityBase(r.actCtx, span))
	defer cancelRun(nil)
	if !r.acts.start(key, cancelRun) {
		// Cancelled before it ran: drop it.
		r.completeActivity(ctx, lease, start, nil)
		return
	}
	defer r.acts.finish(key)
	actx := &ActivityContext{
		Context: runCtx, instance: it.Instance, execution: it.ExecutionID, orchestration: it.Orchestration,
		orchVersion: it.OrchestrationVersion, activity: it.Name, tag: it.Tag, attempt: lease.AttemptCount, client: r.client,
		session: it.SessionID, worker: r.opts.WorkerNodeID,
		baseLog: r.opts.Logger, span: span,
	}
	stop := r.renewWork(lease.LockToken)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := callActivity(fn, actx, it.Input)
		done <- result{out, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-runCtx.Done():
		if r.actCtx.Err() != nil {
			res = <-done // shutdown: wait for the activity, as before
			break
		}
		// Cancelled by its orchestration: give it the grace period to stop, then
		// drop its result either way (it keeps running detached if it ignores ctx).
		grace := time.NewTimer(r.opts.ActivityCancellationGracePeriod)
		select {
		case <-done:
		case <-grace.C:
			r.log.Warn("cancelled activity did not stop within the grace period; its result will be dropped",
				"instance", it.Instance, "activity", it.Name, "grace", r.opts.ActivityCancellationGracePeriod)
		}
		grace.Stop()
		stop()
		r.completeActivity(ctx, lease, start, nil)
		return
	}
	stop()
	out, err := res.out, res.err
	if r.actCtx.Err() != nil {
		// Shutting down without waiting: hand the item back for another run.
		r.activityOutcome(ctx, lease, nil, outcomeAbandoned)
		abStart := time.Now()
		err := r.st.AbandonWorkItem(ctx, lease.LockToken, 0, true)
		r.metrics.storeOp(opAbandonWork, abStart, err)
		return
	}
	if errors.Is(context.Cause(runCtx), ErrActivityCancelled) {
		r.completeActivity(ctx, lease, start, nil) // cancelled just as it returned
		return
	}
	var completion *store.WorkItem
	switch {
	case err != nil:
		var d *history.ErrorDetails
		if !errors.As(err, &d) {
			d = &history.ErrorDetails{Category: history.Application, Kind: history.KindActivityFailed, Message: err.Error()}
		}
		completion = fail(*d)
	case len(out) > r.opts.MaxPayloadBytes:
		completion = fail(history.ErrorDetails{Category: history.Application, Kind: history.KindActivityFailed, Resource: it.Name,
			Message: fmt.Sprintf("%v: activity %q result is %d bytes, the limit is %d", ErrPayloadTooLarge, it.Name, len(out), r.opts.MaxPayloadBytes)})
	default:
		completion = &store.WorkItem{Type: store.ActivityCompleted, Instance: it.Instance, ExecutionID: it.ExecutionID, ID: it.ID, Result: out}
	}
	r.completeActivity(ctx, lease, start, completion)
}

// callActivity runs fn, turning a panic into an application failure.
func callActivity(fn activityFunc, actx *ActivityContext, input string) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &history.ErrorDetails{Category: history.Application, Kind: history.KindPanicked,
				Message: fmt.Sprintf("activity %s panicked: %v", actx.activity, p)}
		}
	}()
	return fn(actx, input)
}

// completeActivity acks the work item with its completion c (nil: drop it) and
// records the activity's outcome, timed from start.
func (r *Runtime) completeActivity(ctx context.Context, lease *store.WorkLease, start time.Time, c *store.WorkItem) {
	r.activityOutcome(ctx, lease, c, outcomeCancelled)
	r.metrics.activityDone(lease, c, start)
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ackStart := time.Now()
		err := r.st.AckWorkItem(ctx, lease.LockToken, c)
		r.metrics.storeOp(opAckWork, ackStart, err)
		if err == nil || errors.Is(err, store.ErrLockLost) {
			switch {
			case err == nil:
			case c == nil:
				// A cancelled activity: its work item was already removed.
				r.log.Debug("cancelled activity's work item already removed", "instance", lease.Item.Instance, "activity", lease.Item.Name)
			default:
				r.metrics.activityUndelivered(lease)
				r.log.Warn("activity result dropped: its lock was lost", "instance", lease.Item.Instance, "activity", lease.Item.Name)
			}
			return
		}
		if attempt == 5 {
			r.metrics.activityUndelivered(lease)
			r.log.Error("activity result not delivered; the work item will be redelivered", "instance", lease.Item.Instance, "err", err)
			return
		}
		time.Sleep(backoff)
		backoff *= 2
	}
}

// renewWork keeps a running activity's lock alive (every half lock timeout).
func (r *Runtime) renewWork(token string) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(r.opts.ActivityLockTimeout / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				start := time.Now()
				err := r.st.RenewWorkItemLock(context.Background(), token, r.opts.ActivityLockTimeout)
				r.metrics.storeOp(opRenewWork, start, err)
				if err != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
