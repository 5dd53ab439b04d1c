package e2e

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/duroxide-go/duroxide"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// With tracing on, the runtime's turn and activity records, the orchestration's
// TraceInfo records and the activity's Logger records carry the instance, the
// execution and the trace_id and span_id of the turn's or activity's span.
func TestLogRecordsCarryTraceIDs(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "LoggedGreet", func(actx *duroxide.ActivityContext, in string) (string, error) {
		actx.Logger().Info("greeting")
		return "hi " + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Logged", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		ctx.TraceInfo("scheduling")
		return duroxide.Await[string](ctx.ScheduleActivity("LoggedGreet", in))
	}))
	rec, tp := recorder(t)
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt := startRuntime(t, reg, duroxide.Options{TracerProvider: tp, Logger: logger})
	must(t, rt.Client().StartOrchestration(t.Context(), "logged", "Logged", "x"))
	waitDone(t, rt.Client(), "logged", sampleWait)
	waitSpan(t, rec, "of the completing turn", turnOf("logged", "completed"))
	// The turn's record is logged before its span ends: all are in by now.
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.SpanContext().SpanID().String()] = s
	}
	type record struct {
		Msg       string  `json:"msg"`
		Instance  string  `json:"instance"`
		Execution float64 `json:"execution"`
		TraceID   string  `json:"trace_id"`
		SpanID    string  `json:"span_id"`
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r.Instance != "logged" {
			continue
		}
		want := map[string]string{"turn": "turn Logged", "scheduling": "turn Logged", "activity": "activity LoggedGreet",
			"greeting": "activity LoggedGreet"}[r.Msg]
		if want == "" {
			continue
		}
		seen[r.Msg]++
		s := spans[r.SpanID]
		if s == nil || s.Name() != want || s.SpanContext().TraceID().String() != r.TraceID || r.Execution != 1 {
			t.Errorf("record %q: %+v; want the ids of span %q (found %v)", r.Msg, r, want, s != nil)
		}
	}
	if seen["turn"] != 2 || seen["scheduling"] != 1 || seen["activity"] != 1 || seen["greeting"] != 1 {
		t.Fatalf("records per message %v; logs:\n%s", seen, logs.String())
	}
}
