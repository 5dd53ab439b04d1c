package duroxide

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide/store"
)

// Turn and activity outcomes, the duroxide.outcome attribute of their spans and the
// outcome of their log records.
const (
	outcomeRunning        = "running" // committed; the execution goes on
	outcomeCompleted      = "completed"
	outcomeFailed         = "failed"
	outcomeContinuedAsNew = "continued_as_new"
	outcomeNotCommitted   = "not_committed" // fenced, lock lost or store error: runs again
	outcomeAbandoned      = "abandoned"     // handed back to run later
	outcomeCancelled      = "cancelled"     // an activity whose result is dropped
	outcomeDropped        = "dropped"       // messages acked without a change (finished instance, duplicates)
)

// firstTraced returns the first message that carries a trace context, or nil.
func firstTraced(item *store.OrchestrationItem) *store.WorkItem {
	for i := range item.Messages {
		if item.Messages[i].Item.TraceParent != "" {
			return &item.Messages[i].Item
		}
	}
	return nil
}

// turnIdentity names the orchestration a batch is for: from its history, else from
// its start (or continue-as-new) message.
func turnIdentity(item *store.OrchestrationItem) (name, version string) {
	if len(item.History) > 0 {
		return item.History[0].Name, item.History[0].Version
	}
	for i := range item.Messages {
		if m := &item.Messages[i].Item; m.Type == store.StartOrchestration || m.Type == store.ContinueAsNew {
			return m.Name, m.Version
		}
	}
	return "", ""
}

// startTurnSpan starts the span of one turn (context.Background() and nil when
// tracing is off). Its parent is the context of the batch's first message that
// carries one; the other messages' contexts become links.
func (r *Runtime) startTurnSpan(item *store.OrchestrationItem) (context.Context, trace.Span) {
	ctx := context.Background()
	tr := r.tr.tracer()
	if tr == nil {
		return ctx, nil
	}
	parent := ctx
	var parentSC trace.SpanContext
	var links []trace.Link
	for i := range item.Messages {
		m := &item.Messages[i].Item
		if m.TraceParent == "" {
			continue
		}
		mctx := r.tr.extract(ctx, m)
		sc := trace.SpanContextFromContext(mctx)
		switch {
		case !sc.IsValid():
		case !parentSC.IsValid():
			parent, parentSC = mctx, sc
		case sc.Equal(parentSC):
		default:
			dup := false
			for _, l := range links {
				dup = dup || l.SpanContext.Equal(sc)
			}
			if !dup {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	name, version := turnIdentity(item)
	spanName := "turn"
	if name != "" {
		spanName = "turn " + name // messages for an instance not started yet have no name
	}
	return tr.Start(parent, spanName, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attrInstance.String(item.Instance), attrExecution.Int64(int64(item.ExecutionID)),
			attrOrchName.String(name), attrOrchVersion.String(version), attrMessages.Int(len(item.Messages)),
			attrReplayed.Int(len(item.History))))
}

// annotateTurn records what the engine knows once it ran: the execution (a new one
// after a start or continue-as-new), the version it resolved and the events the turn
// added. It also lets the orchestration's log records carry the turn's span.
func annotateTurn(ctx context.Context, e *engine, newEvents int) {
	span := trace.SpanFromContext(ctx)
	e.span = span.SpanContext()
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attrExecution.Int64(int64(e.exec)), attrOrchVersion.String(e.version), attrNewEvents.Int(newEvents))
}

// turnOutcome records how the turn ended on its span and in a debug log record.
func (r *Runtime) turnOutcome(ctx context.Context, item *store.OrchestrationItem, exec uint64, outcome string, err error) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrOutcome.String(outcome))
		if outcome == outcomeFailed {
			span.SetStatus(codes.Error, "orchestration failed")
		}
		if err != nil {
			span.RecordError(err)
		}
	}
	if r.log.Enabled(ctx, slog.LevelDebug) {
		name, _ := turnIdentity(item)
		r.log.DebugContext(ctx, "turn", "instance", item.Instance, "execution", exec, "orchestration", name,
			"messages", len(item.Messages), "outcome", outcome)
	}
}

// commitOutcome is the outcome of a turn that committed c with result err.
func commitOutcome(c *store.Commit, err error) string {
	if err != nil {
		return outcomeNotCommitted
	}
	if len(c.HistoryDelta) == 0 && len(c.WorkerItems) == 0 && len(c.OrchestratorItems) == 0 && c.Metadata.Status == "" {
		return outcomeDropped
	}
	switch c.Metadata.Status {
	case store.StatusCompleted:
		return outcomeCompleted
	case store.StatusFailed:
		return outcomeFailed
	case store.StatusContinuedAsNew:
		return outcomeContinuedAsNew
	}
	return outcomeRunning
}

// stampCommit sets the trace context on everything a turn sends: the turn span's
// (ctx), or when tracing is off the context of the batch's first traced message.
// A sub-orchestration start (or detached start) gets a span of its own under the
// turn, ended at once, whose context the child's turns continue.
func (r *Runtime) stampCommit(ctx context.Context, item *store.OrchestrationItem, c *store.Commit) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		from := firstTraced(item)
		passOn(from, c.WorkerItems)
		passOn(from, c.OrchestratorItems)
		return
	}
	var turnTC store.WorkItem
	r.tr.inject(ctx, &turnTC)
	for i := range c.WorkerItems {
		c.WorkerItems[i].TraceParent, c.WorkerItems[i].TraceState = turnTC.TraceParent, turnTC.TraceState
	}
	tr := r.tr.tracer()
	for i := range c.OrchestratorItems {
		it := &c.OrchestratorItems[i]
		it.TraceParent, it.TraceState = turnTC.TraceParent, turnTC.TraceState
		if it.Type != store.StartOrchestration || tr == nil {
			continue
		}
		name := "start sub-orchestration "
		if it.ParentInstance == "" {
			name = "start orchestration " // a detached start (OrchestrationContext.StartOrchestration)
		}
		sctx, span := tr.Start(ctx, name+it.Name, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attrInstance.String(item.Instance), attrChild.String(it.Instance),
				attrOrchName.String(it.Name), attrOrchVersion.String(it.Version)))
		r.tr.inject(sctx, it)
		span.End()
	}
}

// startActivitySpan starts the span of one activity execution, under the context of
// the turn that scheduled it (context.Background() and nil when tracing is off).
func (r *Runtime) startActivitySpan(lease *store.WorkLease) (context.Context, trace.Span) {
	ctx := context.Background()
	tr := r.tr.tracer()
	if tr == nil {
		return ctx, nil
	}
	it := &lease.Item
	return tr.Start(r.tr.extract(ctx, it), "activity "+it.Name, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrActivityName.String(it.Name), attrInstance.String(it.Instance),
			attrExecution.Int64(int64(it.ExecutionID)), attrAttempt.Int(lease.AttemptCount),
			attrOrchName.String(it.Orchestration)))
}

// activityOutcome stamps the activity's result with its span's context (or passes
// on the work item's when tracing is off) and records the outcome: on the span (an
// error status for a failure) and in a debug log record.
func (r *Runtime) activityOutcome(ctx context.Context, lease *store.WorkLease, c *store.WorkItem, outcome string) {
	it := &lease.Item
	if c != nil {
		if trace.SpanContextFromContext(ctx).IsValid() {
			r.tr.inject(ctx, c)
		} else if it.TraceParent != "" {
			c.TraceParent, c.TraceState = it.TraceParent, it.TraceState
		}
		switch c.Type {
		case store.ActivityCompleted:
			outcome = outcomeCompleted
		case store.ActivityFailed:
			outcome = outcomeFailed
		}
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrOutcome.String(outcome))
		if outcome == outcomeFailed && c != nil && c.Details != nil {
			span.SetStatus(codes.Error, c.Details.DisplayMessage())
		}
	}
	if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.DebugContext(ctx, "activity", "instance", it.Instance, "execution", it.ExecutionID, "activity", it.Name,
			"attempt", lease.AttemptCount, "outcome", outcome)
	}
}

// activityBase is the context an activity runs under: the runtime's activity
// context, carrying the activity's span when tracing (so spans the activity starts
// are its children).
func activityBase(base context.Context, span trace.Span) context.Context {
	if span == nil {
		return base
	}
	return trace.ContextWithSpan(base, span)
}

// activityLogger is the logger of [ActivityContext.Logger]: the runtime's, with the
// activity's instance, execution, name and attempt, and its trace and span ids when
// tracing.
func activityLogger(l *slog.Logger, a *ActivityContext, span trace.Span) *slog.Logger {
	if span != nil {
		if sc := span.SpanContext(); sc.IsValid() {
			return l.With("instance", a.instance, "execution", a.execution, "activity", a.activity, "attempt", a.attempt,
				"trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
		}
	}
	return l.With("instance", a.instance, "execution", a.execution, "activity", a.activity, "attempt", a.attempt)
}
