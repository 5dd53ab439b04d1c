// Package dashboard serves a duroxide-go runtime over HTTP: Prometheus metrics,
// liveness and readiness probes, and a web dashboard of the deployment's instances,
// nodes, queues and dead letters, with actions to raise events, cancel and delete
// instances. `node serve` mounts it at 127.0.0.1:8233 by default; a service that
// embeds the runtime mounts [New]'s handler on its own server:
//
//	mux.Handle("/duroxide/", http.StripPrefix("/duroxide", dashboard.New(rt, dashboard.Options{})))
//
// Routes (every link is relative, so the handler works under any prefix):
//
//	GET  /            redirects to instances
//	GET  /instances   instances: status and name filters (?status=, ?name=), id-prefix
//	                  search (?prefix=), paging (?cursor=, ?limit=), counts per status
//	GET  /instance    one instance (?id=, optional ?exec= execution): state, input,
//	                  output or failure, custom status, KV values, executions, history
//	                  timeline, sub-orchestration tree; refreshes itself while it runs
//	GET  /system      totals, queue depths, projector lag, nodes and their partitions,
//	                  recent dead letters, a summary of the metrics; refreshes itself
//	POST /raise       raise an event (form: id, name, data as JSON)
//	POST /cancel      cancel an instance (form: id, reason)
//	GET  /delete      the confirmation page of a delete (?id=)
//	POST /delete      delete an instance and its sub-orchestrations (form: id, force)
//	GET  /static/...  the stylesheet and the small refresh script (embedded)
//	GET  /metrics     Prometheus exposition of Options.Gatherer
//	GET  /healthz     200 "ok" while the process serves HTTP
//	GET  /readyz      200 "ready" when [duroxide.Runtime.Ready] returns nil, else 503
//	                  with its reason
//
// Every read goes through the public [duroxide.Client] management API. Pages answer
// 404 for an unknown instance, 400 for a malformed request, and 503 when a read
// fails (the store is unreachable). The POST routes refuse cross-origin requests
// (Origin and Sec-Fetch-Site, [http.CrossOriginProtection]) and requests without the
// handler's per-process form token, with 403. All user-controlled text is escaped by
// html/template. The handler authenticates no one: mount it where only operators
// reach it (node serve binds 127.0.0.1), or behind an authenticating proxy.
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/duroxide-go/duroxide"
)

// Options configure the handler. The zero value serves everything with the
// defaults below.
type Options struct {
	// Gatherer is what /metrics exposes and the system page summarizes. Default:
	// the runtime's ([duroxide.Runtime.MetricsGatherer]), or
	// prometheus.DefaultGatherer when the runtime has none.
	Gatherer prometheus.Gatherer
	// Logger receives the errors of failed reads. Default slog.Default().
	Logger *slog.Logger
	// RefreshSeconds is how often the system page and the page of a running
	// instance reload themselves (a few lines of JavaScript; without it they do
	// not). Default 3.
	RefreshSeconds int
}

type handler struct {
	rt     *duroxide.Runtime
	c      *duroxide.Client
	opts   Options
	log    *slog.Logger
	token  string // the per-process form token (CSRF defence)
	mux    *http.ServeMux
	origin *http.CrossOriginProtection
}

// New returns the handler serving rt's metrics, probes and dashboard (see the package
// documentation for its routes). With a nil rt every route answers 500 saying so.
func New(rt *duroxide.Runtime, opts Options) http.Handler {
	if rt == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "dashboard.New was given a nil *duroxide.Runtime", http.StatusInternalServerError)
		})
	}
	if opts.Gatherer == nil {
		opts.Gatherer = rt.MetricsGatherer()
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RefreshSeconds <= 0 {
		opts.RefreshSeconds = 3
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := &handler{rt: rt, c: rt.Client(), opts: opts, log: opts.Logger.With("component", "dashboard"),
		token: hex.EncodeToString(b[:]), mux: http.NewServeMux(), origin: http.NewCrossOriginProtection()}
	h.origin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusForbidden, "Forbidden", "Cross-origin request refused: actions are accepted only from the dashboard's own pages.")
	}))
	static, _ := fs.Sub(assets, "static")
	m := h.mux
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{h.log}, ErrorHandling: promhttp.ContinueOnError}))
	m.HandleFunc("GET /healthz", h.healthz)
	m.HandleFunc("GET /readyz", h.readyz)
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { seeOther(w, "instances") })
	m.HandleFunc("GET /instances", h.instances)
	m.HandleFunc("GET /instance", h.instance)
	m.HandleFunc("GET /system", h.system)
	m.HandleFunc("GET /delete", h.confirmDelete)
	m.Handle("POST /raise", h.guard(h.raise))
	m.Handle("POST /cancel", h.guard(h.cancel))
	m.Handle("POST /delete", h.guard(h.delete))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	if err := h.rt.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// slogPrinter adapts a logger to promhttp's ErrorLog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", v) }
