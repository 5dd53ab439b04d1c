package duroxide

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/duroxide-go/duroxide/store"
)

// Options configures a [Runtime]. The zero value of every field means its documented
// default, so Options{} runs an embedded server with data in ./duroxide-data.
type Options struct {
	// Store runs the runtime on this store instead of the JetStream store (nil, the
	// default and the only store of a production node): for tests and for other
	// stores of the contract (package store; e.g. an in-memory store). The runtime
	// uses the optional layers the store implements (store.SessionStore,
	// store.KVReader, store.Admin with store.Deleter, store.InboxPublisher,
	// store.PendingReader, store.DeadLetterReader, store.StatusWatcher,
	// store.CancelSignaler) and does without the others: calls that need a missing
	// layer fail with [ErrNotSupported]. The store's own configuration decides what
	// JetStream takes from these Options (worker tags, session ownership, message
	// size limits); the runtime has no partitions and no NATS connection, runs no
	// projector, and does not close the store on Shutdown: its owner does, after
	// Shutdown. Start rejects Store together with any NATS or embedded-server field
	// (Conn, NATSURL, NATSOptions, DataDir, Listen, Cluster, Namespace, Partitions,
	// MemoryStorage, InboxAckWait) with [ErrInvalidInput] naming it.
	Store store.Provider

	// Conn runs the runtime on an existing NATS connection. It takes precedence over
	// NATSURL and the embedded server, and is not closed by Shutdown.
	Conn *nats.Conn
	// NATSURL connects to an existing NATS server or cluster (comma-separated URLs)
	// instead of starting an embedded server.
	NATSURL string
	// NATSOptions are passed to nats.Connect with NATSURL (credentials, TLS, ...).
	NATSOptions []nats.Option
	// DataDir is the embedded server's JetStream directory. Default "./duroxide-data".
	// The runtime locks it (the file duroxide.lock, holding its pid) until Shutdown,
	// so a second runtime or process on it fails with [ErrDataDirLocked], and keeps
	// its node id there (duroxide-node-id), so a restart after a crash takes the
	// node's inbox partitions back at once.
	DataDir string
	// Listen is the embedded server's client address (HOST:PORT, port 0 for a free
	// port). Default: no port; only this process can connect.
	Listen string

	// Cluster joins the embedded server to a NATS cluster and sets the replication
	// and partition-ownership settings of multi-node deployments.
	Cluster ClusterOptions

	// Namespace prefixes every subject, stream and bucket. Default "duroxide".
	Namespace string
	// Partitions is the number of inbox partitions, fixed when the namespace's streams
	// are first created. Default 16.
	Partitions int
	// MemoryStorage keeps the streams in memory (tests and benchmarks).
	MemoryStorage bool

	// OrchestrationConcurrency is how many orchestration turns run at once.
	// Default 64; -1 runs no orchestrations (an activity-only node).
	OrchestrationConcurrency int
	// ActivityConcurrency is how many activities run at once. Default 128; -1 runs no
	// activities (an orchestration-only node).
	ActivityConcurrency int
	// OrchestrationLockTimeout is how long a turn holds its instance before another
	// fetch may take it; the runtime renews it for long turns. Default 5s.
	OrchestrationLockTimeout time.Duration
	// ActivityLockTimeout is how long an activity holds its work item without a
	// renewal; the runtime renews it while the activity runs, so only a dead node lets
	// it expire. Default 30s.
	ActivityLockTimeout time.Duration
	// MaxAttempts is how often a message may be delivered before it is poison and
	// fails its instance or activity. Default 10.
	MaxAttempts int
	// UnregisteredBaseDelay and UnregisteredMaxDelay shape the backoff for messages
	// naming an orchestration or activity this node does not have (a rolling deploy
	// may bring it): base·2^(attempt-1), capped. Defaults 1s and 60s.
	UnregisteredBaseDelay time.Duration
	UnregisteredMaxDelay  time.Duration
	// SupportedReplayVersions is the inclusive range of replay-engine versions whose
	// executions this node runs (duroxide's supported_replay_versions). Every
	// execution is pinned to the [EngineVersion] of the node that started it; the
	// store hands this node only executions pinned inside the range (and those with
	// no pinned version), so nodes of different versions can share a deployment
	// during a rolling upgrade. Default: 0.0.0 to [EngineVersion]. Start rejects a
	// range whose Min is above its Max.
	SupportedReplayVersions *store.VersionRange
	// ActivityCancellationGracePeriod is how long a worker waits for a cancelled
	// activity (a Select loser, or in flight when its orchestration ended) to return
	// after its context was cancelled; then the result is dropped and the worker
	// moves on. Default 10s.
	ActivityCancellationGracePeriod time.Duration
	// WorkerTags selects the activities this node runs by tag. Default
	// [DefaultOnlyTags] (untagged only); [NoTags] runs none.
	WorkerTags TagFilter
	// WorkerNodeID is this node's identity as an activity session owner ([OnSession]):
	// a stable name such as a pod name lets a restarted node keep its sessions and the
	// work forwarded to it. At most 64 bytes of UTF-8 without NUL. When set it is also
	// the node's identity in inbox partition ownership: a node restarting with the
	// WorkerNodeID of its dead predecessor takes its partitions back at once instead
	// of after the partition lease. Two live runtimes must not share one. Default: a
	// new id per runtime (partition ownership then uses the data directory's node id,
	// if the runtime runs an embedded server).
	WorkerNodeID string
	// MaxSessionsPerRuntime caps the sessions this node owns at once; at the cap it
	// claims no new session (their activities go to other nodes, or wait). Default 10.
	MaxSessionsPerRuntime int
	// SessionLockTimeout is the session lease: an owner that stops renewing it for
	// this long (it died) loses its sessions, and other nodes take over their
	// pending activities. Renewed every third of it. Default 30s.
	SessionLockTimeout time.Duration
	// SessionIdleTimeout stops renewing a session with no activity routed to it,
	// fetched, renewed or completed for this long, so its lease lapses and another
	// node may claim it. It must exceed the activity lock renewal interval (half of
	// ActivityLockTimeout); Start rejects it otherwise. Default 5 minutes.
	SessionIdleTimeout time.Duration
	// SessionCleanupInterval is how often the runtime deletes expired session
	// leases whose sessions have no work left (duroxide's
	// session_cleanup_interval). Default 5 minutes.
	SessionCleanupInterval time.Duration
	// MaxPayloadBytes bounds each input, output and event payload. Default 1 MiB.
	MaxPayloadBytes int
	// MaxCachedInstances bounds the live orchestrations kept in memory between turns
	// (beyond it the least recently used are replayed from history when they next
	// run). Default 10000.
	MaxCachedInstances int
	// CachedInstanceIdleTimeout drops a cached orchestration (its parked engine and
	// the store's cached history) that has had no message and no turn for this long,
	// so instances that wait long for an event or a timer hold no goroutine or memory
	// between turns; the next turn reads and replays its history. Default 5 minutes;
	// negative keeps them until MaxCachedInstances pushes them out.
	CachedInstanceIdleTimeout time.Duration
	// Logger receives the runtime's logs. Default slog.Default(). Turn and activity
	// records (turns at Debug level) carry the instance and execution, and when
	// tracing the trace_id and span_id of the turn's or activity's span.
	Logger *slog.Logger
	// MetricsRegisterer receives the runtime's Prometheus metrics (the duroxide_*
	// families listed in the README's Observability section). Default nil: the
	// runtime registers them on a registry of its own, which
	// [Runtime.MetricsGatherer] returns.
	MetricsRegisterer prometheus.Registerer

	// TracerProvider receives the runtime's OpenTelemetry spans: one per turn and
	// per activity execution, one per sub-orchestration start, continuing the
	// trace of the message each handles (see tracing in README.md). Default: the
	// global provider (otel.SetTracerProvider); while none is set, tracing is off
	// and costs nothing.
	TracerProvider trace.TracerProvider
	// Propagator reads and writes the trace context carried by messages. Default:
	// the global propagator (otel.SetTextMapPropagator), or W3C TraceContext while
	// the global one is still the no-op default. Only the traceparent and
	// tracestate fields travel.
	Propagator propagation.TextMapPropagator

	// InboxAckWait is how long the broker waits for an inbox message's ack before
	// redelivering it. Default 30s.
	InboxAckWait time.Duration
}

// validateStore rejects Options.Store combined with a field of the JetStream store,
// which it would silently ignore.
func (o *Options) validateStore() error {
	if o.Store == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Conn", o.Conn != nil}, {"NATSURL", o.NATSURL != ""}, {"NATSOptions", len(o.NATSOptions) > 0},
		{"DataDir", o.DataDir != ""}, {"Listen", o.Listen != ""}, {"Cluster", !o.Cluster.isZero()},
		{"Namespace", o.Namespace != ""}, {"Partitions", o.Partitions != 0}, {"MemoryStorage", o.MemoryStorage},
		{"InboxAckWait", o.InboxAckWait != 0},
	} {
		if f.set {
			return fmt.Errorf("%w: Options.Store is set, so Options.%s (a setting of the JetStream store) would be ignored", ErrInvalidInput, f.name)
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.DataDir == "" {
		o.DataDir = "./duroxide-data"
	}
	if o.OrchestrationConcurrency == 0 {
		o.OrchestrationConcurrency = 64
	}
	if o.ActivityConcurrency == 0 {
		o.ActivityConcurrency = 128
	}
	if o.OrchestrationLockTimeout <= 0 {
		o.OrchestrationLockTimeout = 5 * time.Second
	}
	if o.ActivityLockTimeout <= 0 {
		o.ActivityLockTimeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.UnregisteredBaseDelay <= 0 {
		o.UnregisteredBaseDelay = time.Second
	}
	if o.UnregisteredMaxDelay <= 0 {
		o.UnregisteredMaxDelay = time.Minute
	}
	if o.ActivityCancellationGracePeriod <= 0 {
		o.ActivityCancellationGracePeriod = 10 * time.Second
	}
	if o.WorkerTags.mode == tagNone {
		o.ActivityConcurrency = -1
	}
	if o.MaxSessionsPerRuntime <= 0 {
		o.MaxSessionsPerRuntime = 10
	}
	if o.SessionLockTimeout <= 0 {
		o.SessionLockTimeout = 30 * time.Second
	}
	if o.SessionIdleTimeout <= 0 {
		o.SessionIdleTimeout = 5 * time.Minute
	}
	if o.SessionCleanupInterval <= 0 {
		o.SessionCleanupInterval = 5 * time.Minute
	}
	if o.MaxPayloadBytes <= 0 {
		o.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if o.MaxCachedInstances <= 0 {
		o.MaxCachedInstances = 10000
	}
	if o.CachedInstanceIdleTimeout == 0 {
		o.CachedInstanceIdleTimeout = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// unregisteredDelay is the backoff before retrying a message whose handler is missing.
func (o *Options) unregisteredDelay(attempt int) time.Duration {
	exp := min(max(attempt-1, 0), 6)
	return min(o.UnregisteredBaseDelay<<exp, o.UnregisteredMaxDelay)
}
