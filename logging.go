package duroxide

import (
	"context"
	"log/slog"
)

// replaySafeHandler drops records while its orchestration replays.
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
	return h.inner.Handle(ctx, r)
}

func (h *replaySafeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &replaySafeHandler{inner: h.inner.WithAttrs(attrs), e: h.e}
}

func (h *replaySafeHandler) WithGroup(name string) slog.Handler {
	return &replaySafeHandler{inner: h.inner.WithGroup(name), e: h.e}
}
