package duroxide

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

const fetchPoll = time.Second

// orchestrationLoop fetches one locked instance batch at a time and runs its turn.
func (r *Runtime) orchestrationLoop() {
	defer r.wg.Done()
	pollLoop(r, "orchestration item", func(ctx context.Context) (*store.OrchestrationItem, error) {
		start := time.Now()
		item, err := r.st.FetchOrchestrationItem(ctx, r.opts.OrchestrationLockTimeout, fetchPoll, r.replay)
		if item != nil || err != nil && !r.isStopping(err) {
			r.metrics.storeOp(opFetchOrchestration, start, err)
		}
		return item, err
	}, r.turn)
}

// pollLoop fetches and handles items until the runtime stops, backing off (10 ms
// doubling to 2 s) while fetches fail.
func pollLoop[T any](r *Runtime, what string, fetch func(context.Context) (*T, error), handle func(*T)) {
	backoff := 10 * time.Millisecond
	for r.loopCtx.Err() == nil {
		item, err := fetch(r.loopCtx)
		if err != nil {
			if r.isStopping(err) {
				return
			}
			r.log.Warn("fetch "+what, "err", err)
			sleepCtx(r.loopCtx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		if item != nil {
			handle(item)
		}
	}
}

// turn processes one batch: it resumes the instance's cached engine (or replays
// history into a new one), applies the messages, and commits the outputs.
func (r *Runtime) turn(item *store.OrchestrationItem) {
	// A started turn finishes even during shutdown: ctx is never cancelled.
	ctx, span := r.startTurnSpan(item)
	if span != nil {
		defer span.End()
	}
	defer r.metrics.turnDone(time.Now())
	stopRenew := r.renewWhileRunning(item.LockToken)
	defer stopRenew()

	if !r.replay.Compatible(item.PinnedEngineVersion) {
		// The store's filter should have skipped it; this engine must not replay an
		// execution pinned to a version it does not support. Leave it to a node
		// that does (retried after 1 s, poison once its attempts run out).
		r.log.Warn("execution pinned to an unsupported engine version", "instance", item.Instance,
			"pinned", item.PinnedEngineVersion, "supported", r.replay.SupportedVersions[0].String())
		r.failOrAbandon(ctx, item, poisonDetails(item, r.opts.MaxAttempts), time.Second)
		return
	}
	if item.HistoryError != "" {
		r.failOrAbandon(ctx, item, &history.ErrorDetails{Category: history.Configuration, Kind: history.KindNondeterminism,
			Message: "corrupted history: " + item.HistoryError}, time.Second)
		return
	}
	status := execStatus(item.History)
	if item.AttemptCount > r.opts.MaxAttempts && status == store.StatusRunning {
		r.poison(ctx, item)
		return
	}
	cached := r.cache.take(item.Instance)
	var e *engine
	newExec := false
	switch status {
	case store.StatusCompleted, store.StatusFailed:
		// A finished instance: late messages are acked and dropped.
		if cached != nil {
			cached.e.abort()
		}
		r.ack(ctx, item, nil, store.Commit{ExecutionID: item.ExecutionID})
		return
	case "", store.StatusContinuedAsNew:
		if cached != nil {
			cached.e.abort()
		}
		e = r.startExecution(ctx, item, status)
		if e == nil {
			return
		}
		newExec = true
	default:
		if cached != nil && cached.e.exec == item.ExecutionID && cached.histLen == len(item.History) && cached.inc == item.Incarnation {
			e = cached.e
			r.metrics.cacheHit()
		} else {
			r.metrics.cacheMiss()
			if cached != nil {
				cached.e.abort()
			}
			if e = r.replayExecution(ctx, item); e == nil {
				return
			}
		}
		e.span = trace.SpanContextFromContext(ctx)
		e.apply(item.Messages, r.now().UnixMilli())
	}
	st, out := e.terminal()
	events, work, orch := e.takeTurn()
	annotateTurn(ctx, e, len(events))
	cancels := e.takeCancels()
	commit := store.Commit{ExecutionID: e.exec, HistoryDelta: events, WorkerItems: work, OrchestratorItems: orch,
		CancelledActivities: scheduledActivities(item.Instance, cancels),
		Metadata: store.ExecutionMetadata{Status: st, Output: out, OrchestrationName: e.name, OrchestrationVersion: e.version,
			ParentInstanceID: e.parentInst}}
	if newExec {
		// The first turn of an execution pins it to this engine's version.
		commit.Metadata.PinnedEngineVersion = EngineVersion
	}
	if !r.ack(ctx, item, e, commit) {
		return
	}
	r.signalCancelled(item.Instance, cancels)
	if e.done() {
		e.abort()
		return
	}
	histLen := len(item.History) + len(events)
	if newExec {
		histLen = len(events)
	}
	r.cache.put(item.Instance, &cachedEngine{e: e, histLen: histLen, inc: item.Incarnation})
}

// ack commits a turn; on failure the engine (whose state is now ahead of history) is
// discarded and the messages will be fetched again.
func (r *Runtime) ack(ctx context.Context, item *store.OrchestrationItem, e *engine, c store.Commit) bool {
	r.stampCommit(ctx, item, &c)
	start := time.Now()
	err := r.st.AckOrchestrationItem(ctx, item.LockToken, c)
	r.metrics.storeOp(opAckOrchestration, start, err)
	r.turnOutcome(ctx, item, c.ExecutionID, commitOutcome(&c, err), err)
	if err == nil {
		r.metrics.committed(item, &c)
		return true
	}
	r.metrics.turnFailed(err)
	if e != nil {
		e.abort()
	}
	switch {
	case errors.Is(err, store.ErrFenced), errors.Is(err, store.ErrLockLost):
		r.log.Debug("turn not committed", "instance", item.Instance, "err", err)
	default:
		r.log.Warn("commit turn", "instance", item.Instance, "err", err)
	}
	return false
}

// startExecution begins execution 1 (from a StartOrchestration message) or the next
// execution after continue-as-new (from the ContinueAsNew message). It returns nil if
// the batch cannot start anything yet; the item has then been abandoned or acked.
func (r *Runtime) startExecution(ctx context.Context, item *store.OrchestrationItem, status string) *engine {
	var start *store.WorkItem
	for i := range item.Messages {
		m := &item.Messages[i].Item
		if status == "" && m.Type == store.StartOrchestration ||
			status == store.StatusContinuedAsNew && m.Type == store.ContinueAsNew && m.ExecutionID == item.ExecutionID+1 {
			start = m
			break
		}
	}
	if start == nil {
		r.noStart(ctx, item, status)
		return nil
	}
	// Everything else is applied after the start, in arrival order (an event may have
	// arrived before the start message). Further starts are duplicates.
	var rest []store.Message
	for _, m := range item.Messages {
		if m.Item.Type != store.StartOrchestration && m.Item.Type != store.ContinueAsNew {
			rest = append(rest, m)
		}
	}
	fn, version, ok := r.reg.resolveOrchestration(start.Name, start.Version)
	exec := item.ExecutionID + 1
	now := r.now().UnixMilli()
	if !ok {
		if item.AttemptCount <= r.opts.MaxAttempts {
			delay := r.opts.unregisteredDelay(item.AttemptCount)
			r.log.Warn("start waits for a handler: this node has not registered the orchestration",
				"instance", item.Instance, "orchestration", start.Name, "version", start.Version,
				"attempt", item.AttemptCount, "max_attempts", r.opts.MaxAttempts, "retry_in", delay)
			r.abandon(ctx, item, delay)
			return nil
		}
		fn = func(*OrchestrationContext, string) (string, error) { return "", nil }
		version = start.Version
	}
	e := newEngine(item.Instance, fn, limits{maxPayload: r.opts.MaxPayloadBytes}, r.opts.Logger)
	e.kv = cloneKV(item.KV)
	e.span = trace.SpanContextFromContext(ctx)
	started := history.Event{EventID: 1, InstanceID: item.Instance, ExecutionID: exec, TimestampMs: now,
		Type: history.OrchestrationStarted, Name: start.Name, Version: version, Input: start.Input,
		ParentInstance: start.ParentInstance, ParentExecution: start.ParentExecutionID, ParentID: start.ParentID,
		CarryForward: start.CarryForward, CustomStatus: start.InitialCustomStatus}
	if !ok || item.AttemptCount > r.opts.MaxAttempts {
		// Record the start, then the failure: the instance exists, visibly failed.
		e.begin(&started)
		e.newEvents = append(e.newEvents, started)
		e.failure = &history.ErrorDetails{Category: history.Configuration, Kind: history.KindUnregistered, Resource: start.Name,
			Message: unregisteredMessage("orchestration", start.Name, start.Version)}
		if ok {
			e.failure = poisonDetails(item, r.opts.MaxAttempts)
		}
		return e
	}
	e.startNew(started)
	e.apply(rest, now)
	return e
}

func unregisteredMessage(kind, name, version string) string {
	if version != "" {
		return fmt.Sprintf("%s %q version %s is not registered on any node that fetched it", kind, name, version)
	}
	return fmt.Sprintf("%s %q is not registered on any node that fetched it", kind, name)
}

// noStart handles a batch for an instance that has no running execution and no start
// message: queue messages for a missing instance are dropped (as duroxide does),
// messages waiting for a continue-as-new are retried shortly, and other early messages
// (an event raised before the start arrived) are retried with backoff until they are
// poison.
// startPendingRetry is how soon messages that overtook their instance's start are
// fetched again.
const startPendingRetry = time.Second

// msgWaitForStart is the Debug record of messages put back to wait for their
// instance's start.
const msgWaitForStart = "messages wait for their instance's start"

// startPending reports whether a StartOrchestration of instance waits in its inbox
// (false on a store without [store.PendingReader], or when the read fails: the
// messages are then handled as before).
func (r *Runtime) startPending(ctx context.Context, instance string) bool {
	p, ok := r.st.(store.PendingReader)
	if !ok {
		return false
	}
	start, _, err := p.PendingStart(ctx, instance)
	if err != nil {
		r.log.Warn("read pending start", "instance", instance, "err", err)
		return false
	}
	return start != nil
}

func (r *Runtime) noStart(ctx context.Context, item *store.OrchestrationItem, status string) {
	if status == store.StatusContinuedAsNew {
		_ = r.st.AbandonOrchestrationItem(ctx, item.LockToken, 20*time.Millisecond, true)
		return
	}
	if r.startPending(ctx, item.Instance) {
		// The instance's start waits in its inbox: these messages overtook it (it is
		// in flight on another node, or was on a killed one until the inbox AckWait).
		// They wait for it, uncounted, rather than being dropped as orphans.
		r.log.Debug(msgWaitForStart, "instance", item.Instance, "messages", len(item.Messages), "retry_in", startPendingRetry)
		_ = r.st.AbandonOrchestrationItem(ctx, item.LockToken, startPendingRetry, true)
		return
	}
	onlyQueue := true
	for _, m := range item.Messages {
		if m.Item.Type != store.QueueMessage {
			onlyQueue = false
		}
	}
	if onlyQueue || item.AttemptCount > r.opts.MaxAttempts {
		if !onlyQueue {
			r.log.Warn("dropping messages for an instance that never started", "instance", item.Instance, "messages", len(item.Messages))
		}
		r.ack(ctx, item, nil, store.Commit{ExecutionID: item.ExecutionID})
		return
	}
	r.abandon(ctx, item, r.opts.unregisteredDelay(item.AttemptCount))
}

// replayExecution builds an engine for a running execution from its history.
func (r *Runtime) replayExecution(ctx context.Context, item *store.OrchestrationItem) *engine {
	started := item.History[0]
	fn, _, ok := r.reg.resolveOrchestration(started.Name, started.Version)
	if !ok {
		// The version recorded in history is required: replaying with another would
		// be nondeterministic. Wait for a node that has it (rolling deploy).
		r.failOrAbandon(ctx, item, &history.ErrorDetails{Category: history.Configuration, Kind: history.KindUnregistered,
			Resource: started.Name, Message: unregisteredMessage("orchestration", started.Name, started.Version)},
			r.opts.unregisteredDelay(item.AttemptCount))
		return nil
	}
	e := newEngine(item.Instance, fn, limits{maxPayload: r.opts.MaxPayloadBytes}, r.opts.Logger)
	e.kv = cloneKV(item.KV)
	e.replay(item.History)
	return e
}

// failOrAbandon retries the item after delay while it has attempts left, then fails
// the execution with details.
func (r *Runtime) failOrAbandon(ctx context.Context, item *store.OrchestrationItem, d *history.ErrorDetails, delay time.Duration) {
	if item.AttemptCount <= r.opts.MaxAttempts {
		r.abandon(ctx, item, delay)
		return
	}
	r.commitFailure(ctx, item, d)
}

// poison fails the instance because its messages were delivered too often.
func (r *Runtime) poison(ctx context.Context, item *store.OrchestrationItem) {
	r.commitFailure(ctx, item, poisonDetails(item, r.opts.MaxAttempts))
}

func poisonDetails(item *store.OrchestrationItem, maxAttempts int) *history.ErrorDetails {
	types := make([]string, 0, len(item.Messages))
	for _, m := range item.Messages {
		types = append(types, string(m.Item.Type))
	}
	return &history.ErrorDetails{Category: history.Poison, Kind: history.KindPoison,
		Message: fmt.Sprintf("orchestration messages %v delivered %d times (max %d)", types, item.AttemptCount, maxAttempts)}
}

// commitFailure appends OrchestrationFailed to the current execution (or drops the
// messages when there is no execution to fail).
func (r *Runtime) commitFailure(ctx context.Context, item *store.OrchestrationItem, d *history.ErrorDetails) {
	now := r.now().UnixMilli()
	if item.HistoryError != "" {
		// The history cannot be read, so the failure is appended where it stands
		// (the store's ack is append-only): the instance's status becomes Failed
		// with the reason, though its history stays unreadable.
		exec := max(item.ExecutionID, 1)
		ev := history.Event{EventID: 1, InstanceID: item.Instance, ExecutionID: exec, TimestampMs: now,
			Type: history.OrchestrationFailed, Details: d}
		r.ack(ctx, item, nil, store.Commit{ExecutionID: exec, HistoryDelta: []history.Event{ev},
			Metadata: store.ExecutionMetadata{Status: store.StatusFailed, Output: d.DisplayMessage()}})
		return
	}
	if len(item.History) == 0 || execStatus(item.History) != store.StatusRunning {
		r.log.Warn("dropping messages", "instance", item.Instance, "reason", d.DisplayMessage())
		r.ack(ctx, item, nil, store.Commit{ExecutionID: item.ExecutionID})
		return
	}
	last := item.History[len(item.History)-1]
	first := item.History[0]
	ev := history.Event{EventID: last.EventID + 1, InstanceID: item.Instance, ExecutionID: item.ExecutionID,
		TimestampMs: now, Type: history.OrchestrationFailed, Details: d}
	c := store.Commit{ExecutionID: item.ExecutionID, HistoryDelta: []history.Event{ev},
		Metadata: store.ExecutionMetadata{Status: store.StatusFailed, Output: d.DisplayMessage()}}
	if first.ParentInstance != "" {
		c.OrchestratorItems = append(c.OrchestratorItems, store.WorkItem{Type: store.SubOrchFailed,
			Instance: first.ParentInstance, ExecutionID: first.ParentExecution, ID: first.ParentID, Details: d})
	}
	r.ack(ctx, item, nil, c)
}

func (r *Runtime) abandon(ctx context.Context, item *store.OrchestrationItem, delay time.Duration) {
	r.turnOutcome(ctx, item, item.ExecutionID, outcomeAbandoned, nil)
	start := time.Now()
	err := r.st.AbandonOrchestrationItem(ctx, item.LockToken, delay, false)
	r.metrics.storeOp(opAbandonOrch, start, err)
	if err != nil {
		r.log.Debug("abandon", "instance", item.Instance, "err", err)
	}
}

// renewWhileRunning renews the turn's lock at half its timeout until stopped.
func (r *Runtime) renewWhileRunning(token string) func() {
	every := r.opts.OrchestrationLockTimeout / 2
	var mu sync.Mutex
	var t *time.Timer
	stopped := false
	mu.Lock()
	t = time.AfterFunc(every, func() {
		start := time.Now()
		err := r.st.RenewOrchestrationItemLock(context.Background(), token, r.opts.OrchestrationLockTimeout)
		r.metrics.storeOp(opRenewOrchestration, start, err)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && !stopped {
			t.Reset(every)
		}
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// execStatus derives the current execution's status from its history.
func execStatus(h []history.Event) string {
	if len(h) == 0 {
		return ""
	}
	switch h[len(h)-1].Type {
	case history.OrchestrationCompleted:
		return store.StatusCompleted
	case history.OrchestrationFailed:
		return store.StatusFailed
	case history.OrchestrationContinuedAsNew:
		return store.StatusContinuedAsNew
	}
	return store.StatusRunning
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
