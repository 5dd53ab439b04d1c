package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide"
)

// spanWait bounds how long a test waits for the last span of an instance to end.
const spanWait = 20 * time.Second

// recorder is an in-memory TracerProvider: its spans, once ended.
func recorder(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, tp
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// waitSpan waits until rec holds an ended span matching ok, and returns it.
func waitSpan(t *testing.T, rec *tracetest.SpanRecorder, what string, ok func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(spanWait)
	for {
		for _, s := range rec.Ended() {
			if ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %s after %v; recorded: %s", what, spanWait, describeSpans(rec.Ended()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSpans waits until rec has ended n spans that satisfy ok.
func waitSpans(t *testing.T, rec *tracetest.SpanRecorder, what string, n int, ok func(sdktrace.ReadOnlySpan) bool) {
	t.Helper()
	deadline := time.Now().Add(spanWait)
	for {
		got := 0
		for _, s := range rec.Ended() {
			if ok(s) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans %s after %v, want %d; recorded: %s", got, what, spanWait, n, describeSpans(rec.Ended()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describeSpans(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %q span=%s parent=%s instance=%s outcome=%s", s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID(),
			spanAttr(s, "duroxide.instance.id").AsString(), spanAttr(s, "duroxide.outcome").AsString())
	}
	return b.String()
}

// turnOf matches the turn spans of instance with the given outcome ("" for any).
func turnOf(instance, outcome string) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool {
		return strings.HasPrefix(s.Name(), "turn ") && spanAttr(s, "duroxide.instance.id").AsString() == instance &&
			(outcome == "" || spanAttr(s, "duroxide.outcome").AsString() == outcome)
	}
}

// One trace follows an instance from the client through two runtimes (one running
// only orchestrations, the other only activities) and into its sub-orchestration:
// the trace context travels in NATS headers, each runtime records its own spans,
// and the spans nest as the messages flowed.
func TestTracesFollowAnInstanceAcrossRuntimes(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "TracedGreet", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "hi " + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TracedChild", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("TracedGreet", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TracedParent", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		a, err := duroxide.Await[string](ctx.ScheduleActivity("TracedGreet", in))
		if err != nil {
			return "", err
		}
		b, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("TracedChild", in+"-child"))
		return a + "/" + b, err
	}))
	orchRec, orchTP := recorder(t)
	actRec, actTP := recorder(t)
	cliRec, cliTP := recorder(t)
	orchNode := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", ActivityConcurrency: -1, TracerProvider: orchTP})
	startRuntime(t, reg, duroxide.Options{NATSURL: orchNode.ClientURL(), OrchestrationConcurrency: -1, TracerProvider: actTP})
	nc, err := nats.Connect(orchNode.ClientURL())
	must(t, err)
	t.Cleanup(nc.Close)
	ctx := context.Background()
	c, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{TracerProvider: cliTP})
	must(t, err)

	must(t, c.StartOrchestration(ctx, "traced", "TracedParent", "x"))
	if st := waitDone(t, c, "traced", sampleWait); string(st.Output) != `"hi x/hi x-child"` {
		t.Fatalf("state %s output %s failure %+v", st.State, st.Output, st.Failure)
	}
	parentLast := waitSpan(t, orchRec, "of the parent's completing turn", turnOf("traced", "completed"))
	// A span ends after its commit or ack, so it can end after the turns it led to
	// have run: wait for both activities' spans and the child's completing turn too.
	waitSpans(t, actRec, "of the two activities", 2, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "activity TracedGreet" })
	waitSpans(t, orchRec, "of the child's completing turn", 1, func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "turn TracedChild" && spanAttr(s, "duroxide.outcome").AsString() == "completed"
	})

	// The client's span starts the trace; every span of every recorder is in it.
	cli := cliRec.Ended()
	if len(cli) != 1 || cli[0].Name() != "start orchestration TracedParent" || cli[0].SpanKind() != trace.SpanKindProducer {
		t.Fatalf("client spans: %s", describeSpans(cli))
	}
	start := cli[0]
	traceID := start.SpanContext().TraceID()
	orch, act := orchRec.Ended(), actRec.Ended()
	for _, s := range append(append([]sdktrace.ReadOnlySpan{}, orch...), act...) {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %q is in trace %s, not the client's %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
	}
	// Each runtime records only what it runs.
	for _, s := range orch {
		if !strings.HasPrefix(s.Name(), "turn ") && !strings.HasPrefix(s.Name(), "start sub-orchestration ") {
			t.Errorf("orchestration-only runtime recorded %q", s.Name())
		}
	}
	for _, s := range act {
		if s.Name() != "activity TracedGreet" {
			t.Errorf("activity-only runtime recorded %q", s.Name())
		}
	}

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range append(append(append([]sdktrace.ReadOnlySpan{}, cli...), orch...), act...) {
		byID[s.SpanContext().SpanID()] = s
	}
	parentOf := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[s.Parent().SpanID()] }
	wantParent := func(child, parent sdktrace.ReadOnlySpan, what string) {
		t.Helper()
		if child.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("%s: %q has parent %s, want %q (%s); spans: %s", what, child.Name(), child.Parent().SpanID(),
				parent.Name(), parent.SpanContext().SpanID(), describeSpans(append(append(cli, orch...), act...)))
		}
	}
	find := func(spans []sdktrace.ReadOnlySpan, what string, ok func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
		t.Helper()
		var found sdktrace.ReadOnlySpan
		for _, s := range spans {
			if ok(s) {
				if found != nil {
					t.Fatalf("two spans %s: %s", what, describeSpans([]sdktrace.ReadOnlySpan{found, s}))
				}
				found = s
			}
		}
		if found == nil {
			t.Fatalf("no span %s: %s", what, describeSpans(spans))
		}
		return found
	}
	childOf := func(parent sdktrace.ReadOnlySpan) func(sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool { return s.Parent().SpanID() == parent.SpanContext().SpanID() }
	}

	// client start → parent's first turn → its activity → the next turn, which
	// starts the child → the child's turns → the child's activity → the child's
	// completion → the parent's last turn.
	first := find(orch, "of the parent's first turn", childOf(start))
	if first.Name() != "turn TracedParent" || spanAttr(first, "duroxide.instance.id").AsString() != "traced" ||
		spanAttr(first, "duroxide.orchestration.name").AsString() != "TracedParent" ||
		spanAttr(first, "duroxide.execution.id").AsInt64() != 1 || spanAttr(first, "duroxide.outcome").AsString() != "running" {
		t.Fatalf("first turn: %q %v", first.Name(), first.Attributes())
	}
	act1 := find(act, "of the parent's activity", childOf(first))
	if spanAttr(act1, "duroxide.instance.id").AsString() != "traced" || spanAttr(act1, "duroxide.outcome").AsString() != "completed" ||
		spanAttr(act1, "duroxide.activity.attempt").AsInt64() != 1 {
		t.Fatalf("parent's activity: %v", act1.Attributes())
	}
	second := find(orch, "of the parent's second turn", childOf(act1))
	subStart := find(orch, "of the sub-orchestration start", childOf(second))
	if subStart.Name() != "start sub-orchestration TracedChild" {
		t.Fatalf("under the parent's second turn: %q", subStart.Name())
	}
	childID := spanAttr(subStart, "duroxide.suborchestration.instance.id").AsString()
	childFirst := find(orch, "of the child's first turn", childOf(subStart))
	if spanAttr(childFirst, "duroxide.instance.id").AsString() != childID || childFirst.Name() != "turn TracedChild" {
		t.Fatalf("child's first turn: %q %v (child %q)", childFirst.Name(), childFirst.Attributes(), childID)
	}
	childAct := find(act, "of the child's activity", childOf(childFirst))
	childLast := find(orch, "of the child's completing turn", childOf(childAct))
	if spanAttr(childLast, "duroxide.instance.id").AsString() != childID || spanAttr(childLast, "duroxide.outcome").AsString() != "completed" {
		t.Fatalf("child's last turn: %v", childLast.Attributes())
	}
	wantParent(parentLast, childLast, "the child's result resumes the parent")
	// Every turn names its orchestration, instance and execution.
	for _, s := range orch {
		if strings.HasPrefix(s.Name(), "turn ") && (spanAttr(s, "duroxide.orchestration.name").AsString() == "" ||
			spanAttr(s, "duroxide.instance.id").AsString() == "" || spanAttr(s, "duroxide.execution.id").AsInt64() != 1) {
			t.Errorf("turn span %q lacks its identity: %v", s.Name(), s.Attributes())
		}
	}
	// The chain from the parent's last turn leads back to the client's span.
	hops := 0
	for s := parentLast; s != nil && s != start; s = parentOf(s) {
		hops++
	}
	if hops != 8 {
		t.Fatalf("the parent's last turn is %d spans below the client's start, want 8", hops)
	}
}

// A client in any language joins an instance's spans to its own trace by setting
// the W3C traceparent header on its plain-NATS start (docs/PROTOCOL.md).
func TestPlainNATSStartJoinsCallersTrace(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "TracedGreet", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "hi " + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TracedChild", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("TracedGreet", in))
	}))
	rec, tp := recorder(t)
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", TracerProvider: tp})
	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	must(t, err)

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	m := nats.NewMsg("duroxide.inbox.plain-traced")
	m.Data = []byte(`{"type":"StartOrchestration","name":"TracedChild","input":"\"p\""}`)
	m.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	m.Header.Set("tracestate", "vendor=abc")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, rt.Client(), "plain-traced", sampleWait); string(st.Output) != `"hi p"` {
		t.Fatalf("state %s output %s", st.State, st.Output)
	}
	waitSpan(t, rec, "of the completing turn", turnOf("plain-traced", "completed"))
	spans := rec.Ended()
	first := waitSpan(t, rec, "of the first turn", turnOf("plain-traced", "running"))
	if first.Parent().SpanID().String() != callerSpan || !first.Parent().IsRemote() ||
		first.Parent().TraceState().Get("vendor") != "abc" {
		t.Fatalf("first turn's parent %s (remote %v, state %q), want the caller's span %s", first.Parent().SpanID(),
			first.Parent().IsRemote(), first.Parent().TraceState().String(), callerSpan)
	}
	for _, s := range spans {
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q is in trace %s, not the caller's %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
	}
	if len(spans) != 3 {
		t.Errorf("want 3 spans (two turns, one activity): %s", describeSpans(spans))
	}
}

// A failed activity's span has an error status with the failure; the turn that
// fails the orchestration records the outcome "failed" with an error status.
func TestFailureSpansHaveErrorStatus(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "TracedBoom", func(_ *duroxide.ActivityContext, _ string) (string, error) {
		return "", fmt.Errorf("boom")
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TracedFails", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("TracedBoom", in))
	}))
	rec, tp := recorder(t)
	rt := startRuntime(t, reg, duroxide.Options{TracerProvider: tp})
	must(t, rt.Client().StartOrchestration(context.Background(), "traced-fail", "TracedFails", "x"))
	if st := waitDone(t, rt.Client(), "traced-fail", sampleWait); st.Failure == nil {
		t.Fatalf("state %s, want failed", st.State)
	}
	last := waitSpan(t, rec, "of the failing turn", turnOf("traced-fail", "failed"))
	if last.Status().Code != codes.Error {
		t.Errorf("failing turn's status %v", last.Status())
	}
	act := waitSpan(t, rec, "of the activity", func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "activity TracedBoom" })
	if act.Status().Code != codes.Error || !strings.Contains(act.Status().Description, "boom") ||
		spanAttr(act, "duroxide.outcome").AsString() != "failed" {
		t.Errorf("failed activity's span: status %v, outcome %q", act.Status(), spanAttr(act, "duroxide.outcome").AsString())
	}
}
