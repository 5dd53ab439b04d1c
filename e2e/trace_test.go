package e2e

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/duroxide-go/duroxide"
)

// captureHandler records the messages of every log record.
type captureHandler struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "instance" {
			*h.msgs = append(*h.msgs, a.Value.String()+":"+r.Message)
		}
		return true
	})
	return nil
}
func (h captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return attrHandler{h, attrs}
}
func (h captureHandler) WithGroup(string) slog.Handler { return h }

// attrHandler keeps the attributes given with Logger.With.
type attrHandler struct {
	captureHandler
	attrs []slog.Attr
}

func (h attrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(h.attrs...)
	return h.captureHandler.Handle(ctx, r)
}
func (h attrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return attrHandler{h.captureHandler, append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

// Orchestration tracing is replay-safe (duroxide's trace_* helpers): each line is
// written once although the instances are replayed from history (the engine cache
// holds one instance, two run).
func TestTraceIsReplaySafe(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	logger := slog.New(captureHandler{mu: &mu, msgs: &msgs})
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Noop", func(*duroxide.ActivityContext, string) (string, error) { return "", nil }))
	must(t, duroxide.RegisterOrchestration(reg, "Traced", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		ctx.TraceInfo("step 1")
		if err := ctx.ScheduleActivity("Noop", "").Get(nil); err != nil {
			return "", err
		}
		ctx.TraceWarn("step 2")
		if err := ctx.WaitForEvent("go").Get(nil); err != nil {
			return "", err
		}
		ctx.TraceInfo("step 3")
		return "ok", ctx.ScheduleActivity("Noop", "").Get(nil)
	}))
	c := startRuntime(t, reg, duroxide.Options{MaxCachedInstances: 1, Logger: logger}).Client()
	ctx := context.Background()
	ids := []string{"traced-a", "traced-b"}
	for _, id := range ids {
		must(t, c.StartOrchestration(ctx, id, "Traced", ""))
	}
	for _, id := range ids {
		sampleWaitSubscribed(t, c, id, "go", sampleWait)
	}
	for _, id := range ids {
		must(t, c.RaiseEvent(ctx, id, "go", nil))
	}
	for _, id := range ids {
		sampleOutput[string](t, waitDone(t, c, id, sampleWait))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		for _, step := range []string{"step 1", "step 2", "step 3"} {
			n := 0
			for _, m := range msgs {
				if m == id+":"+step {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s %q logged %d times, want once (log: %s)", id, step, n, strings.Join(msgs, "; "))
			}
		}
	}
}
