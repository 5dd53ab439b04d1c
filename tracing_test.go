package duroxide

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/duroxide-go/duroxide/store"
)

const testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// With no TracerProvider (none in the options, none set globally) tracing is off:
// no span, no context on client messages, W3C TraceContext as the propagator.
func TestTracingOffWithoutProvider(t *testing.T) {
	var tr tracing
	if tr.tracer() != nil {
		t.Fatal("a tracer without any provider set")
	}
	if _, ok := tr.propagator().(propagation.TraceContext); !ok {
		t.Fatalf("propagator %T, want W3C TraceContext while the global one is the no-op default", tr.propagator())
	}
	it := store.WorkItem{Type: store.StartOrchestration, Instance: "i", Name: "n"}
	tr.startClientSpan(context.Background(), "start orchestration n", &it)(nil)
	if it.TraceParent != "" {
		t.Fatalf("client message got trace context %q with tracing off", it.TraceParent)
	}
}

// With tracing off a turn passes the trace context of its first traced message on
// to everything it sends (so an untraced node does not cut the trace), and neither
// the turn's span nor the stamping allocates.
func TestTurnPassesTraceContextOnWhenOff(t *testing.T) {
	r := &Runtime{}
	item := &store.OrchestrationItem{Instance: "i", Messages: []store.Message{
		{Item: store.WorkItem{Type: store.ExternalRaised}},
		{Item: store.WorkItem{Type: store.ActivityCompleted, TraceParent: testTraceParent, TraceState: "v=1"}},
	}}
	c := store.Commit{WorkerItems: []store.WorkItem{{Type: store.ActivityExecute}},
		OrchestratorItems: []store.WorkItem{{Type: store.TimerFired}, {Type: store.StartOrchestration}}}
	ctx, span := r.startTurnSpan(item)
	if span != nil {
		t.Fatal("a turn span with tracing off")
	}
	r.stampCommit(ctx, item, &c)
	for _, it := range append(c.WorkerItems, c.OrchestratorItems...) {
		if it.TraceParent != testTraceParent || it.TraceState != "v=1" {
			t.Errorf("%s carries %q %q, want the first traced message's context", it.Type, it.TraceParent, it.TraceState)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		ctx, _ := r.startTurnSpan(item)
		c.WorkerItems[0].TraceParent = ""
		r.stampCommit(ctx, item, &c)
	})
	if allocs != 0 {
		t.Errorf("turn tracing allocates %v times per turn with tracing off", allocs)
	}
}

// A turn that handles several messages continues the first traced one's context and
// links the others' (each distinct context once).
func TestTurnSpanLinksTheOtherMessages(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	r := &Runtime{tr: tracing{tp: tp}}
	const (
		tp2 = "00-4bf92f3577b34da6a3ce929d0e0e4736-2222222222222222-01"
		tp3 = "00-0af7651916cd43dd8448eb211c80319c-3333333333333333-01"
	)
	item := &store.OrchestrationItem{Instance: "i", ExecutionID: 1, Messages: []store.Message{
		{Item: store.WorkItem{Type: store.ExternalRaised}},
		{Item: store.WorkItem{Type: store.ActivityCompleted, TraceParent: testTraceParent}},
		{Item: store.WorkItem{Type: store.TimerFired, TraceParent: tp2}},
		{Item: store.WorkItem{Type: store.TimerFired, TraceParent: tp2}},
		{Item: store.WorkItem{Type: store.ExternalRaised, TraceParent: tp3}},
		{Item: store.WorkItem{Type: store.ExternalRaised, TraceParent: "garbage"}},
	}}
	ctx, span := r.startTurnSpan(item)
	var c store.Commit
	c.WorkerItems = []store.WorkItem{{Type: store.ActivityExecute}}
	r.stampCommit(ctx, item, &c)
	span.End()
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Parent().SpanID().String() != "00f067aa0ba902b7" || s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("turn span's parent %s in trace %s, want the first traced message's", s.Parent().SpanID(), s.SpanContext().TraceID())
	}
	var links []string
	for _, l := range s.Links() {
		links = append(links, l.SpanContext.SpanID().String())
	}
	if len(links) != 2 || links[0] != "2222222222222222" || links[1] != "3333333333333333" {
		t.Fatalf("links %v, want the other two distinct contexts", links)
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanContext().SpanID().String() + "-01"; c.WorkerItems[0].TraceParent != want {
		t.Fatalf("work item carries %q, want the turn span's %q", c.WorkerItems[0].TraceParent, want)
	}
}
