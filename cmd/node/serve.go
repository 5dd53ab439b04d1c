package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

const (
	defaultDataDir = "./duroxide-data"
	defaultListen  = "127.0.0.1:4222"
)

// runServe runs a node with the demo orchestrations registered until ctx ends, then
// shuts it down.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--data-dir DIR] [--listen HOST:PORT] [--nats-url URL]", stdout)
	dataDir := fs.String("data-dir", defaultDataDir, "embedded server's JetStream data `directory`")
	listen := fs.String("listen", defaultListen, "embedded server's client address `HOST:PORT` (port 0 picks a free port)")
	natsURL := fs.String("nats-url", "", "connect to this NATS server or cluster (comma-separated `URLs`) instead of starting an embedded server")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long to wait for running work on shutdown")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := duroxide.Options{DataDir: *dataDir, NATSURL: *natsURL, Logger: logger}
	if *natsURL == "" {
		addr, err := listenAddr(*listen)
		if err != nil {
			return err
		}
		opts.Listen = addr
	}
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		return err
	}
	rt, err := duroxide.Start(ctx, reg, opts)
	if err != nil {
		return err
	}
	url := *natsURL
	where := "NATS"
	if url == "" {
		url = rt.ClientURL()
		where = "embedded server, data in " + *dataDir
	}
	fmt.Fprintf(stdout, "duroxide node serving on %s (%s); stop with Ctrl-C\n", url, where)

	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := rt.Shutdown(sctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutdown: running activities did not finish within %s and were handed back to the queue", *shutdownTimeout)
		}
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// listenAddr checks a HOST:PORT listen address. Port 0 becomes -1, which the
// embedded nats-server takes as "pick a free port" (it takes 0 as its default, 4222).
func listenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", usageErrorf("--listen %q: %v", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", usageErrorf("--listen %q: port must be a number from 0 to 65535", s)
	}
	if p == 0 {
		port = "-1"
	}
	return net.JoinHostPort(host, port), nil
}
