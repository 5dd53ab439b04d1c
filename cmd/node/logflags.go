package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
)

// logFlags are serve's --log-format and --log-level.
type logFlags struct {
	format, level string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "text", "log record `format`: text (key=value) or json (one object per line)")
	fs.StringVar(&l.level, "log-level", "info", "least severe `level` logged: debug, info, warn or error (debug adds a record per turn and per activity)")
}

// logger returns the logger the flags ask for, writing to w. A value it does not
// know is a usage error naming the flag and the values it accepts.
func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(l.level) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: want text or json", l.format)
}
