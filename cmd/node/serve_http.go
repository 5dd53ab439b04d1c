package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/dashboard"
)

// defaultHTTP is where `node serve` serves metrics, probes and the dashboard unless
// --http says otherwise.
const defaultHTTP = "127.0.0.1:8233"

// httpFlag is the --http flag of `node serve`.
type httpFlag struct {
	addr     *string
	explicit bool
}

func registerHTTPFlag(fs *flagSet) *httpFlag {
	return &httpFlag{addr: fs.String("http", defaultHTTP,
		"serve /metrics, /healthz, /readyz and the web dashboard on `HOST:PORT` (\"off\" disables; when the default address is taken the node warns and runs without HTTP)")}
}

// parsed records whether --http was given; call it after parsing.
func (f *httpFlag) parsed(fs *flagSet) {
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "http" {
			f.explicit = true
		}
	})
}

// listen binds the HTTP address before the runtime starts, so an explicit address
// that cannot be bound fails the start. It returns a nil listener for "off", and for
// the default address when it is taken (after logging a warning: several nodes on
// one machine).
func (f *httpFlag) listen(logger *slog.Logger) (net.Listener, error) {
	addr := *f.addr
	if addr == "off" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageErrorf("--http %q: %v (want HOST:PORT or off)", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if !f.explicit {
			logger.Warn("HTTP disabled: the default address cannot be bound (another node on this machine?); pass --http HOST:PORT to choose one", "addr", addr, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("--http %s: cannot listen: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves rt's dashboard handler on ln until the returned stop is called.
func serveHTTP(ln net.Listener, rt *duroxide.Runtime, logger *slog.Logger, stdout io.Writer) (stop func()) {
	if ln == nil {
		return func() {}
	}
	srv := &http.Server{Handler: dashboard.New(rt, dashboard.Options{Logger: logger,
		// The runtime's metrics and the Go runtime's and process's.
		Gatherer: prometheus.Gatherers{rt.MetricsGatherer(), prometheus.DefaultGatherer}}), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP server", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "dashboard, metrics and probes on http://%s/\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}
