package duroxide

import (
	"context"
	"log/slog"
)

// TraceInfo logs msg at Info level through [OrchestrationContext.Logger]: once per
// decision, never again while the orchestration replays (duroxide's trace_info).
// Records carry the instance id, orchestration name and execution, plus args
// (slog key-value pairs). Tracing writes nothing to history.
func (c *OrchestrationContext) TraceInfo(msg string, args ...any) { c.trace(slog.LevelInfo, msg, args) }

// TraceWarn is TraceInfo at Warn level.
func (c *OrchestrationContext) TraceWarn(msg string, args ...any) { c.trace(slog.LevelWarn, msg, args) }

// TraceError is TraceInfo at Error level.
func (c *OrchestrationContext) TraceError(msg string, args ...any) {
	c.trace(slog.LevelError, msg, args)
}

// TraceDebug is TraceInfo at Debug level.
func (c *OrchestrationContext) TraceDebug(msg string, args ...any) {
	c.trace(slog.LevelDebug, msg, args)
}

func (c *OrchestrationContext) trace(level slog.Level, msg string, args []any) {
	c.logger.Log(context.Background(), level, msg, args...)
}
