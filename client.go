package duroxide

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// ClientOptions configures a [Client]. Zero values mean the defaults.
type ClientOptions struct {
	// Namespace must match the runtime's. Default "duroxide".
	Namespace string
	// MaxPayloadBytes bounds inputs and event data. Default [DefaultMaxPayloadBytes].
	MaxPayloadBytes int
	// TracerProvider receives a producer span for each start, raise, enqueue and
	// cancel (a child of the span in the call's context, if any); its context
	// travels with the message, so the instance's turns join the same trace.
	// Default: the global provider; while none is set, tracing is off.
	TracerProvider trace.TracerProvider
	// Propagator writes the trace context onto messages. Default: the global
	// propagator, or W3C TraceContext while the global one is the no-op default.
	Propagator propagation.TextMapPropagator
	// MetricsRegisterer receives the client's four Prometheus metrics
	// (duroxide_client_orchestration_starts_total, _external_events_raised_total,
	// _cancellations_total, _wait_duration_seconds) and no other. Default, as for a
	// runtime: a registry of the client's own, which [Client.MetricsGatherer]
	// returns. A standalone client knows no registered names, so its
	// orchestration_name label takes the first 100 distinct names it started and
	// "other" for every later one (event_name likewise). NewClient returns an error
	// wrapping [ErrMetricsAlreadyRegistered] when the registerer already holds
	// these metrics (another client or a runtime that has not shut down or been
	// closed): give each its own registry or a constant label
	// (prometheus.WrapRegistererWith). [Client.Close] unregisters them.
	MetricsRegisterer prometheus.Registerer
}

// Client starts and observes orchestrations. It needs only a NATS connection to a
// server (or cluster) where a runtime runs; it does not run one itself. A runtime on
// another store ([Options.Store]) gives its client with [Runtime.Client]. It is safe
// for concurrent use.
type Client struct {
	st         store.Provider
	js         *jetstream.Store // st when it is the JetStream store, else nil
	maxPayload int
	tr         tracing    // OpenTelemetry settings (tracing.go)
	admin      adminState // management views (client_admin.go)
	notices    noticeHub  // the status-notice subscription the waits share (client_notices.go)
	metrics    *metrics   // the runtime's for its client, or the client's own (metrics.go)
	gatherer   prometheus.Gatherer
	ownMetrics bool // metrics are the client's own: Close unregisters them
}

// NewClient returns a client on nc. It creates the namespace's streams if no runtime
// has yet, and returns the store's error when it cannot open or create them, or an
// error wrapping [ErrMetricsAlreadyRegistered] (see
// [ClientOptions.MetricsRegisterer]).
func NewClient(ctx context.Context, nc *nats.Conn, opts ClientOptions) (*Client, error) {
	registerer, gatherer := newMetricsRegistry(opts.MetricsRegisterer)
	m := newClientMetrics(registerer)
	if err := m.register(); err != nil {
		return nil, err
	}
	st, err := jetstream.Open(ctx, nc, jetstream.Config{Namespace: opts.Namespace})
	if err != nil {
		m.unregister()
		return nil, err
	}
	c := newClient(st, opts.MaxPayloadBytes)
	c.tr = tracing{tp: opts.TracerProvider, prop: opts.Propagator}
	c.metrics, c.gatherer, c.ownMetrics = m, gatherer, true
	return c, nil
}

// MetricsGatherer returns where the client's metrics can be read: for a client of
// [NewClient], its own registry when [ClientOptions.MetricsRegisterer] was nil, the
// given registerer when it is also a [prometheus.Gatherer], and nil otherwise; for
// [Runtime.Client], [Runtime.MetricsGatherer].
func (c *Client) MetricsGatherer() prometheus.Gatherer { return c.gatherer }

// Close unregisters the metrics of a client of [NewClient] from
// [ClientOptions.MetricsRegisterer], so another client may register there. It does
// not close the NATS connection; the client's calls keep working, their metrics no
// longer gathered. Closing twice, or closing [Runtime.Client] (whose metrics are the
// runtime's until it shuts down), does nothing.
func (c *Client) Close() {
	if c.ownMetrics {
		c.metrics.unregister()
	}
}

func newClient(st store.Provider, maxPayload int) *Client {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayloadBytes
	}
	js, _ := st.(*jetstream.Store)
	return &Client{st: st, js: js, maxPayload: maxPayload}
}

// publish adds a client message to an instance's inbox: through the store's own path
// for client messages when it has one ([store.InboxPublisher], deduplicated by a
// fresh id), else as any other inbox message.
func (c *Client) publish(ctx context.Context, item store.WorkItem) error {
	if p, ok := c.st.(store.InboxPublisher); ok {
		return p.PublishInbox(ctx, item, newULID())
	}
	return c.st.EnqueueForOrchestrator(ctx, item, 0)
}

// pendingStart is [store.PendingReader.PendingStart], or nothing pending on a store
// without it.
func (c *Client) pendingStart(ctx context.Context, instanceID string) (*store.WorkItem, uint64, error) {
	if p, ok := c.st.(store.PendingReader); ok {
		return p.PendingStart(ctx, instanceID)
	}
	return nil, 0, nil
}

// StartOption configures StartOrchestration. Make one with [StartVersion]; its
// contents are private.
type StartOption struct{ apply func(*startOptions) }

// startOptions are the settings StartOption values set.
type startOptions struct {
	version string
}

// StartVersion starts a specific registered version instead of the version policy's.
func StartVersion(version string) StartOption {
	return StartOption{func(o *startOptions) { o.version = version }}
}

// StartOrchestration starts a new instance of the named orchestration with input
// (encoded as JSON). The instance id may be any non-empty UTF-8 string of at most 256
// bytes.
//
// Starting an id that already exists does not overwrite it: StartOrchestration
// returns [ErrInstanceExists] when the instance has history, and if two starts of a
// new id race, the first one the runtime processes wins and the other is ignored.
// Invalid arguments return an error wrapping [ErrInvalidInput] or
// [ErrPayloadTooLarge] that names the field.
func (c *Client) StartOrchestration(ctx context.Context, instanceID, name string, input any, opts ...StartOption) (err error) {
	defer c.metrics.clientStarted(name, &err)
	if err := validateInstanceID(instanceID); err != nil {
		return err
	}
	if err := validateName("orchestration", name); err != nil {
		return err
	}
	in, err := encodePayload(input, "input", c.maxPayload)
	if err != nil {
		return err
	}
	var o startOptions
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	item := store.WorkItem{Type: store.StartOrchestration, Instance: instanceID, Name: name, Input: in, Version: o.version}
	if item.Version != "" {
		if _, err := store.ParseSemver(item.Version); err != nil {
			return fmt.Errorf("%w: version: %v", ErrInvalidInput, err)
		}
	}
	if _, err := c.st.InstanceSummary(ctx, instanceID); err == nil {
		return fmt.Errorf("%w: %q", ErrInstanceExists, instanceID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// A fresh deduplication id per call: a fixed one per instance id would drop a
	// legitimate start of an id deleted within the duplicate window. Retries of the
	// same start are harmless anyway (the runtime ignores a start for an existing
	// instance).
	end := c.tr.startClientSpan(ctx, "start orchestration "+name, &item)
	err = c.publish(ctx, item)
	end(err)
	return err
}

// RaiseEvent sends the external event name with data to an instance, for its
// WaitForEvent. Events for an instance that does not exist yet wait in its inbox until
// it starts; events for a finished instance are dropped. Invalid arguments return an
// error wrapping [ErrInvalidInput] or [ErrPayloadTooLarge] naming the field; a
// failed publish returns the store's error.
func (c *Client) RaiseEvent(ctx context.Context, instanceID, name string, data any) (err error) {
	defer c.metrics.clientRaised(name, &err)
	return c.publishNamed(ctx, store.ExternalRaised, "event", instanceID, name, data)
}

// publishNamed validates and publishes a named message with a payload (a raised event
// or a queue message); kind names it in errors.
func (c *Client) publishNamed(ctx context.Context, typ store.WorkItemType, kind, instanceID, name string, data any) error {
	if err := validateInstanceID(instanceID); err != nil {
		return err
	}
	if err := validateName(kind, name); err != nil {
		return err
	}
	d, err := encodePayload(data, kind+" data", c.maxPayload)
	if err != nil {
		return err
	}
	item := store.WorkItem{Type: typ, Instance: instanceID, Name: name, Data: d}
	end := c.tr.startClientSpan(ctx, clientSpanName(typ, name), &item)
	err = c.publish(ctx, item)
	end(err)
	return err
}

// CancelInstance asks a running instance to stop: it fails with the reason
// ("canceled: <reason>"); its [Status.Err] then matches [ErrCancelled]. Cancelling a
// finished or unknown instance does nothing. An invalid instance id returns an error
// wrapping [ErrInvalidInput]; a failed publish returns the store's error.
func (c *Client) CancelInstance(ctx context.Context, instanceID, reason string) (err error) {
	defer c.metrics.clientCancelled(&err)
	if err := validateInstanceID(instanceID); err != nil {
		return err
	}
	item := store.WorkItem{Type: store.CancelInstance, Instance: instanceID, Reason: reason}
	end := c.tr.startClientSpan(ctx, "cancel instance", &item)
	err = c.publish(ctx, item)
	end(err)
	return err
}

// GetStatus returns the instance's status as of its last committed turn. An instance
// whose start waits in its inbox, not yet run by any node, has State [StatePending]
// (with Name, Version and WaitingFor); a missing instance has State [StateNotFound]
// (not an error). A failed instance's [Status.Err] tells why. An invalid instance id
// returns an error wrapping [ErrInvalidInput]; a failed read returns the store's
// error.
func (c *Client) GetStatus(ctx context.Context, instanceID string) (*Status, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	sum, err := c.st.InstanceSummary(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		start, _, err := c.pendingStart(ctx, instanceID)
		if err != nil {
			return nil, err
		}
		if start != nil {
			return pendingStatus(instanceID, start), nil
		}
		return &Status{InstanceID: instanceID, State: StateNotFound}, nil
	}
	if err != nil {
		return nil, err
	}
	return statusFromSummary(sum), nil
}

func pendingStatus(instanceID string, start *store.WorkItem) *Status {
	what := fmt.Sprintf("a node with orchestration %q registered", start.Name)
	if start.Version != "" {
		what = fmt.Sprintf("a node with orchestration %q version %s registered", start.Name, start.Version)
	}
	return &Status{InstanceID: instanceID, State: StatePending, Name: start.Name, Version: start.Version, WaitingFor: what}
}

// NotFoundGrace is how long [Client.WaitForOrchestration] waits for an instance that
// does not exist before returning [ErrInstanceNotFound]: a start published just
// before may still be on its way.
const NotFoundGrace = 3 * time.Second

// WaitForOrchestration waits until the instance completes or fails and returns its
// final status. It returns ctx's error (wrapped, with the last read error) when ctx
// ends first: give it a deadline. Transient read errors, and reads that get no
// answer within 5 s (their request was lost with a dying server or stream leader),
// are retried until then. An instance that does not exist and has no start waiting
// in its inbox for [NotFoundGrace] is an error wrapping [ErrInstanceNotFound]; a
// Pending one (its start waits for a node) is waited for. (On a store that cannot
// tell what waits in an inbox, [Options.Store] without [store.PendingReader], a
// missing instance is waited for until ctx ends.) An invalid instance id
// returns an error wrapping [ErrInvalidInput]. A failed instance is a status, not an
// error: see [Status.Err].
//
// It listens for the runtime's status notices on core NATS (one subscription per
// Client, shared by all its waits), takes the status each notice carries, and
// re-reads the status from the history stream at least every second in case a
// notice was lost. On another store ([Options.Store]) it listens through the
// store's [store.StatusWatcher], reading the status on each notice, if it has one.
func (c *Client) WaitForOrchestration(ctx context.Context, instanceID string) (*Status, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	defer c.metrics.clientWaited(time.Now())
	return c.waitStatus(ctx, instanceID, fmt.Sprintf("wait for %q", instanceID), true, func(st *Status) bool {
		return st.State.IsTerminal()
	})
}

// statusReadTimeout bounds each status read of a wait. A read whose request died
// with the connection (the server the client was connected to was killed) or with a
// stream leader gets no answer at all; the wait gives up on it and reads again
// instead of sitting on it until its own deadline.
const statusReadTimeout = 5 * time.Second

// waitStatus waits until done accepts the instance's status: it reads the status
// once, then takes the status each of the runtime's status notices carries (one
// subscription per Client serves all waits, client_notices.go), and re-reads it
// from the history stream at least every second in case a notice was lost. Read
// errors, and reads that get no answer within statusReadTimeout, are retried until
// ctx ends (a stream leader may be moving after a node died); the error then names
// what was waited for and the last read error.
//
// With mustExist, an instance still NotFound after [NotFoundGrace] is checked once
// more (nothing in its inbox, then no history: the runtime acks a start only after
// its first turn is committed) and reported as [ErrInstanceNotFound].
func (c *Client) waitStatus(ctx context.Context, instanceID, what string, mustExist bool, done func(*Status) bool) (*Status, error) {
	began := time.Now()
	w, stop, err := c.watchNotices(instanceID)
	if err != nil {
		return nil, err
	}
	defer stop()
	poll := firstStatusPoll
	var lastErr error
	for {
		rctx, cancel := context.WithTimeout(ctx, statusReadTimeout)
		st, err := c.waitRead(rctx, instanceID)
		cancel()
		switch {
		case err == nil && done(st):
			return st, nil
		case err != nil && ctx.Err() == nil:
			lastErr = err
		case err == nil && mustExist && st.State == StateNotFound && time.Since(began) >= NotFoundGrace:
			rctx, cancel := context.WithTimeout(ctx, statusReadTimeout)
			missing, err := c.missing(rctx, instanceID)
			cancel()
			if err != nil {
				lastErr = err
			} else if missing {
				why := ""
				rctx, cancel := context.WithTimeout(ctx, statusReadTimeout)
				if reason, err := c.LastDeadLetter(rctx, instanceID); err == nil && reason != "" {
					why = "; its last message was dead-lettered: " + reason
				}
				cancel()
				return nil, fmt.Errorf("duroxide: %s: %w: %q has no history and no start waiting in its inbox%s", what, ErrInstanceNotFound, instanceID, why)
			}
		}
		st, err = c.awaitNotice(ctx, w, poll, done)
		if st != nil {
			return st, nil
		}
		if err != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("duroxide: %s: %w (last read error: %v)", what, err, lastErr)
			}
			return nil, fmt.Errorf("duroxide: %s: %w", what, err)
		}
		poll = min(2*poll, time.Second)
	}
}

// firstStatusPoll is how long a wait goes without re-reading the status when no
// notice brings a status it accepts (the interval doubles, up to a second: with a
// first interval of a second, it stays a second). A notice carries the committed
// status itself, so the reads only cover a lost notice: under load, re-reads from
// 20 ms on made the waits' reads a fifth of a node's CPU (docs/PERFORMANCE.md).
const firstStatusPoll = time.Second

// awaitNotice takes the statuses the instance's notices carry until done accepts
// one (returned), poll has passed (nil, nil: time to read again), or ctx ends (its
// error). A notice is published after its turn's record is stored, so its summary
// is a committed status, the one a read would then return; only node users may
// publish notices (docs/SECURITY.md).
func (c *Client) awaitNotice(ctx context.Context, w *noticeWaiter, poll time.Duration, done func(*Status) bool) (*Status, error) {
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case sum := <-w.c:
			if st := statusFromSummary(sum); done(st) {
				return st, nil
			}
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitRead is a wait's status read: the committed status, or NotFound when the
// instance has no history. Unlike GetStatus it does not look for a start pending
// in the inbox: no wait accepts a Pending status, and mustExist checks the inbox
// itself (missing).
func (c *Client) waitRead(ctx context.Context, instanceID string) (*Status, error) {
	sum, err := c.st.InstanceSummary(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return &Status{InstanceID: instanceID, State: StateNotFound}, nil
	}
	if err != nil {
		return nil, err
	}
	return statusFromSummary(sum), nil
}

// LastDeadLetter returns why the instance's last dead-lettered message was rejected
// (its Duroxide-Reason header, see docs/PROTOCOL.md), or "" if none of its messages
// was: the answer to "my start never ran".
func (c *Client) LastDeadLetter(ctx context.Context, instanceID string) (string, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return "", err
	}
	if d, ok := c.st.(store.DeadLetterReader); ok {
		return d.LastDeadLetter(ctx, instanceID)
	}
	return "", nil
}

// missing reports whether the instance has nothing in its inbox and, read after that,
// no history. On a store that cannot tell what waits in an inbox (no
// [store.PendingReader]) it never reports an instance missing: its start may wait
// there.
func (c *Client) missing(ctx context.Context, instanceID string) (bool, error) {
	if _, ok := c.st.(store.PendingReader); !ok {
		return false, nil
	}
	if _, pending, err := c.pendingStart(ctx, instanceID); err != nil || pending > 0 {
		return false, err
	}
	_, err := c.st.InstanceSummary(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// ReadHistory returns the history of the instance's latest execution, or of
// executionID when it is not 0. An invalid instance id returns an error wrapping
// [ErrInvalidInput]; a failed read returns the store's error.
func (c *Client) ReadHistory(ctx context.Context, instanceID string, executionID uint64) ([]history.Event, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	return c.st.ReadHistory(ctx, instanceID, executionID)
}

// ListExecutions returns the instance's execution ids in ascending order. An invalid
// instance id returns an error wrapping [ErrInvalidInput]; a failed read returns the
// store's error.
func (c *Client) ListExecutions(ctx context.Context, instanceID string) ([]uint64, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	if c.js != nil {
		return c.js.ListExecutions(ctx, instanceID)
	}
	a, ok := c.st.(store.Admin)
	if !ok {
		return nil, fmt.Errorf("duroxide: list executions: %w", ErrNotSupported)
	}
	return a.ListExecutions(ctx, instanceID)
}

func newULID() string { return ulid.MustNew(ulid.Now(), rand.Reader).String() }
