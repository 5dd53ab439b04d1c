package duroxide

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// replaySafeHandler drops records while its orchestration replays. While a turn
// runs with tracing on, records carry the turn span's trace_id and span_id.
type replaySafeHandler struct {
	inner slog.Handler
	e     *engine
}

func (h *replaySafeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.e.replaying && h.inner.Enabled(ctx, l)
}

func (h *replaySafeHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.e.replaying {
		return nil
	}
	if h.e.span.IsValid() {
		addTraceAttrs(&r, h.e.span)
	}
	return h.inner.Handle(ctx, r)
}

func (h *replaySafeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &replaySafeHandler{inner: h.inner.WithAttrs(attrs), e: h.e}
}

func (h *replaySafeHandler) WithGroup(name string) slog.Handler {
	return &replaySafeHandler{inner: h.inner.WithGroup(name), e: h.e}
}

// traceLogHandler adds the trace_id and span_id of the span in a record's context
// (the runtime logs turn and activity records with their span's context).
type traceLogHandler struct{ inner slog.Handler }

func (h traceLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		addTraceAttrs(&r, sc)
	}
	return h.inner.Handle(ctx, r)
}

func (h traceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceLogHandler{h.inner.WithAttrs(attrs)}
}

func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{h.inner.WithGroup(name)}
}

func addTraceAttrs(r *slog.Record, sc trace.SpanContext) {
	r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}
