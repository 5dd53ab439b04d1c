package duroxide

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide/store"
)

// OpenTelemetry tracing. One trace follows an instance across processes and nodes:
// the W3C trace context of the span that sent a message rides on the message
// ([store.WorkItem.TraceParent], NATS headers traceparent and tracestate in the
// JetStream store), and the span of the turn or activity that handles it continues
// it. Client calls start the trace (or join the caller's); each turn's context rides
// on everything the turn sends (work items, timers, sub-orchestration starts,
// results to the parent), each activity's on its result. docs/ARCHITECTURE.md
// follows the path.
//
// Tracing is off (no span, no context extracted or injected, nothing allocated)
// unless a TracerProvider is given in the options or set globally with
// otel.SetTracerProvider. Off, a turn still passes the context of its first message
// on to what it sends, so a node without tracing does not cut a trace in two.

// TracerName is the instrumentation scope name of duroxide's spans.
const TracerName = "github.com/duroxide-go/duroxide"

// Span attribute keys.
const (
	attrInstance     = attribute.Key("duroxide.instance.id")
	attrExecution    = attribute.Key("duroxide.execution.id")
	attrOrchName     = attribute.Key("duroxide.orchestration.name")
	attrOrchVersion  = attribute.Key("duroxide.orchestration.version")
	attrOutcome      = attribute.Key("duroxide.outcome")
	attrReplayed     = attribute.Key("duroxide.turn.events_replayed")
	attrNewEvents    = attribute.Key("duroxide.turn.events_new")
	attrMessages     = attribute.Key("duroxide.turn.messages")
	attrActivityName = attribute.Key("duroxide.activity.name")
	attrAttempt      = attribute.Key("duroxide.activity.attempt")
	attrChild        = attribute.Key("duroxide.suborchestration.instance.id")
	attrEventName    = attribute.Key("duroxide.event.name")
)

// defaultGlobalTP is the global TracerProvider before anyone sets one: the no-op
// delegate. While otel.GetTracerProvider() still returns it, tracing is off.
var defaultGlobalTP = otel.GetTracerProvider()

// tracing holds a runtime's or client's tracing settings.
type tracing struct {
	tp   trace.TracerProvider          // nil: the global one, looked up at each span
	prop propagation.TextMapPropagator // nil: the global one, or W3C TraceContext
}

// tracer returns the tracer to use, or nil when tracing is off.
func (t *tracing) tracer() trace.Tracer {
	tp := t.tp
	if tp == nil {
		tp = otel.GetTracerProvider()
		if tp == defaultGlobalTP {
			return nil
		}
	}
	return tp.Tracer(TracerName, trace.WithInstrumentationVersion(EngineVersion))
}

// propagator returns the configured propagator, else the global one, else (the
// global is still the no-op composite, which has no fields) W3C TraceContext.
func (t *tracing) propagator() propagation.TextMapPropagator {
	if t.prop != nil {
		return t.prop
	}
	p := otel.GetTextMapPropagator()
	if len(p.Fields()) == 0 {
		return propagation.TraceContext{}
	}
	return p
}

// itemCarrier reads and writes a work item's trace context for a propagator. Only
// traceparent and tracestate travel; other fields (baggage) are dropped.
type itemCarrier struct{ it *store.WorkItem }

func (c itemCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.it.TraceParent
	case "tracestate":
		return c.it.TraceState
	}
	return ""
}

func (c itemCarrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.it.TraceParent = value
	case "tracestate":
		c.it.TraceState = value
	}
}

func (c itemCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// extract returns ctx with the remote span context carried by it (ctx unchanged when
// it carries none).
func (t *tracing) extract(ctx context.Context, it *store.WorkItem) context.Context {
	if it.TraceParent == "" {
		return ctx
	}
	return t.propagator().Extract(ctx, itemCarrier{it})
}

// inject sets the span context of ctx on the item (nothing when ctx has none).
func (t *tracing) inject(ctx context.Context, it *store.WorkItem) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	it.TraceParent, it.TraceState = "", ""
	t.propagator().Inject(ctx, itemCarrier{it})
}

// startClientSpan starts the span of a client call that publishes item (a
// producer span, child of the caller's span if ctx has one) and sets its context on
// the item. end must be called with the publish's error.
func (t *tracing) startClientSpan(ctx context.Context, name string, it *store.WorkItem) func(error) {
	tr := t.tracer()
	if tr == nil {
		return func(error) {}
	}
	ctx, span := tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrInstance.String(it.Instance)))
	switch it.Type {
	case store.StartOrchestration:
		span.SetAttributes(attrOrchName.String(it.Name), attrOrchVersion.String(it.Version))
	case store.ExternalRaised, store.QueueMessage:
		span.SetAttributes(attrEventName.String(it.Name))
	}
	t.inject(ctx, it)
	return func(err error) { endSpan(span, err) }
}

// endSpan records err (if any) as the span's error status and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// passOn gives items without a trace context the one from carries, when tracing is
// off: a node without tracing passes on what it received instead of cutting the
// trace in two.
func passOn(from *store.WorkItem, items []store.WorkItem) {
	if from == nil || from.TraceParent == "" {
		return
	}
	for i := range items {
		if items[i].TraceParent == "" {
			items[i].TraceParent, items[i].TraceState = from.TraceParent, from.TraceState
		}
	}
}

// clientSpanName names the span of a client call publishing a named message.
func clientSpanName(typ store.WorkItemType, name string) string {
	if typ == store.QueueMessage {
		return "enqueue event " + name
	}
	return "raise event " + name
}
