package duroxide

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duroxide-go/duroxide/internal/testknobs"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// Runtime runs the orchestrations and activities of a [Registry]: it pulls instance
// messages from the inbox partitions this node owns, runs orchestration turns, and
// runs activities from the work queue. Several runtimes on one NATS deployment share
// the work.
type Runtime struct {
	opts   Options
	reg    *Registry
	log    *slog.Logger
	srv    *server.Server         // embedded server, if this runtime started one
	lock   *jetstream.DataDirLock // the embedded server's data directory, held until disconnect
	nc     *nats.Conn
	ownNC  bool
	st     store.Provider   // the store turns and activities run on
	js     *jetstream.Store // st when the runtime opened the JetStream store, else nil
	client *Client
	tr     tracing // OpenTelemetry settings (tracing.go)
	cache  *engineCache
	mgmt   management       // projector and system activities (runtime_projector.go)
	acts   *activityTracker // running activities, for cancellation signals
	// sessStop stops the session manager (sessions.go), which closes sessDone.
	sessStop, sessDone chan struct{}

	replay *store.CapabilityFilter // SupportedReplayVersions (replay_versions.go)
	knobs  testknobs.Knobs         // test-only settings (runtime_knobs.go)

	registerer prometheus.Registerer // metrics.go
	gatherer   prometheus.Gatherer
	metrics    *metrics

	stop      context.CancelFunc // stops fetching new work
	loopCtx   context.Context
	actCtx    context.Context // cancelled to abort running activities
	actCancel context.CancelFunc
	wg        sync.WaitGroup
	shutdown  sync.Once
}

// Start starts a runtime for reg. Without Conn or NATSURL it starts an embedded
// nats-server with JetStream in opts.DataDir, which it locks until Shutdown (the
// operating system drops the lock if the process dies). It returns an error wrapping
// [ErrDataDirLocked] if the directory is already served, [ErrInvalidInput] for a nil
// registry or invalid options (naming the field), [ErrMetricsAlreadyRegistered] when
// Options.MetricsRegisterer already holds another runtime's metrics (the
// registerer's own error for other registration failures), and the server's,
// connection's or store's error when they cannot start. The runtime's metrics are
// registered until Shutdown.
//
// With [Options.Store] the runtime runs on that store instead, starting and
// connecting to nothing (see the field for what it ignores and what it rejects).
func Start(ctx context.Context, reg *Registry, opts Options) (_ *Runtime, err error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: registry is nil", ErrInvalidInput)
	}
	if err := opts.validateStore(); err != nil {
		return nil, err
	}
	opts.defaults()
	stableID := opts.WorkerNodeID // before validateSessions makes one up
	if err := opts.WorkerTags.validate(); err != nil {
		return nil, err
	}
	if err := opts.validateSessions(); err != nil {
		return nil, err
	}
	if err := opts.validateCluster(); err != nil {
		return nil, err
	}
	replay, err := opts.replayFilter()
	if err != nil {
		return nil, err
	}
	knobs := testknobs.From(ctx)
	r := &Runtime{opts: opts, reg: reg, log: slog.New(traceLogHandler{opts.Logger.Handler()}).With("component", "duroxide"), acts: newActivityTracker(), replay: replay, knobs: knobs,
		tr: tracing{tp: opts.TracerProvider, prop: opts.Propagator}}
	r.registerer, r.gatherer = newMetricsRegistry(opts.MetricsRegisterer)
	r.metrics = newMetrics(reg, r.registerer)
	if err := r.metrics.register(); err != nil {
		return nil, err
	}
	defer r.metrics.unregisterIfFailed(&err)
	if opts.Store != nil {
		r.st = opts.Store
		r.run(ctx)
		return r, nil
	}
	if err := r.connect(); err != nil {
		return nil, err
	}
	nodeID, err := r.nodeID(stableID)
	if err != nil {
		r.disconnect()
		return nil, err
	}
	st, err := jetstream.Open(ctx, r.nc, jetstream.Config{
		Namespace:          opts.Namespace,
		Partitions:         opts.Partitions,
		MemoryStorage:      opts.MemoryStorage,
		MaxCachedInstances: opts.MaxCachedInstances,
		InboxAckWait:       opts.InboxAckWait,
		WorkAckWait:        opts.ActivityLockTimeout,
		WorkPrefetch:       max(opts.ActivityConcurrency, 1),
		WorkTags:           opts.WorkerTags.workTags(),
		MaxPayloadBytes:    opts.MaxPayloadBytes,
		Replicas:           opts.Cluster.Replicas,
		PartitionLease:     opts.Cluster.PartitionLease,
		NodeName:           opts.Cluster.ServerName,
		Capabilities:       reg.capabilities(),
		EngineVersion:      EngineVersion,
		Replay:             replay,
		SharedPartitions:   knobs.SharedPartitions,
		Logger:             opts.Logger,
		Hooks:              knobs.StoreHooks,
		NodeID:             nodeID,
		Observer:           r.metrics.storeObserver(),
	})
	if err != nil {
		r.disconnect()
		return nil, err
	}
	if err := st.EnableSessions(opts.sessionConfig()); err != nil {
		_ = st.Close()
		r.disconnect()
		return nil, fmt.Errorf("duroxide: %w", err)
	}
	r.st, r.js = st, st
	r.run(ctx)
	return r, nil
}

// run starts the runtime's loops on r.st.
func (r *Runtime) run(ctx context.Context) {
	opts := r.opts
	r.client = newClient(r.st, opts.MaxPayloadBytes)
	r.client.tr = r.tr
	r.cache = newEngineCache(opts.MaxCachedInstances, max(opts.CachedInstanceIdleTimeout, 0))
	if r.knobs.ReplayEveryTurn {
		r.cache = newEngineCache(0, 0)
	}
	r.wireMetrics()
	r.loopCtx, r.stop = context.WithCancel(context.Background())
	if opts.CachedInstanceIdleTimeout > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.sweepIdle(min(max(opts.CachedInstanceIdleTimeout/4, time.Second), time.Minute), opts.CachedInstanceIdleTimeout)
		}()
	}
	r.actCtx, r.actCancel = context.WithCancel(context.Background())
	r.startManagement(ctx)
	if d := r.knobs.Driver; d != nil {
		d.Turn, d.Activity = r.turn, r.runActivity // the caller drives (runtime_knobs.go)
		return
	}
	if _, ok := r.st.(store.SessionStore); ok && opts.ActivityConcurrency > 0 {
		r.sessStop, r.sessDone = make(chan struct{}), make(chan struct{})
		go r.sessionManager(r.sessStop, r.sessDone)
	}
	for i := 0; i < opts.OrchestrationConcurrency; i++ {
		r.wg.Add(1)
		go r.orchestrationLoop()
	}
	for i := 0; i < opts.ActivityConcurrency; i++ {
		r.wg.Add(1)
		go r.activityLoop()
	}
}

func (r *Runtime) connect() error {
	o := r.opts
	switch {
	case o.Conn != nil:
		r.nc = o.Conn
		return nil
	case o.NATSURL != "":
		nc, err := nats.Connect(o.NATSURL, append([]nats.Option{nats.Name("duroxide-runtime")}, o.NATSOptions...)...)
		if err != nil {
			return fmt.Errorf("duroxide: connect to %s: %w", o.NATSURL, err)
		}
		r.nc, r.ownNC = nc, true
		return nil
	}
	listen := o.Listen
	if listen == "" {
		listen = "none"
	}
	// One process per data directory: a second server on the same files would
	// lose what the first acknowledged.
	lock, err := jetstream.LockDataDir(o.DataDir)
	if err != nil {
		return fmt.Errorf("duroxide: %w", err)
	}
	srv, err := jetstream.StartServer(jetstream.ServerOptions{DataDir: o.DataDir, Listen: listen,
		ServerName: o.Cluster.ServerName, ClusterName: o.Cluster.Name, ClusterListen: o.Cluster.Listen, Routes: o.Cluster.Routes})
	if err != nil {
		_ = lock.Release()
		return err
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("duroxide-runtime"))
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		_ = lock.Release()
		return fmt.Errorf("duroxide: connect to embedded server: %w", err)
	}
	r.srv, r.nc, r.ownNC, r.lock = srv, nc, true, lock
	return nil
}

// nodeID is this node's identity in partition ownership: the WorkerNodeID if the
// caller set one,
// else the id kept in the locked data directory, else none (the store makes a new
// one). A node that restarts with the same identity takes its partitions back at
// once instead of waiting for its dead predecessor's lease to run out.
func (r *Runtime) nodeID(workerNodeID string) (string, error) {
	if workerNodeID != "" {
		return "w" + jetstream.EncodeToken(workerNodeID), nil
	}
	if r.lock != nil {
		id, err := r.lock.NodeID()
		if err != nil {
			return "", fmt.Errorf("duroxide: %w", err)
		}
		return id, nil
	}
	return "", nil
}

func (r *Runtime) disconnect() {
	if r.nc == nil {
		return // a runtime on Options.Store
	}
	if r.ownNC {
		// Acks and naks are fire-and-forget publishes: make sure they reached the
		// server before the connection goes.
		_ = r.nc.FlushTimeout(2 * time.Second)
		r.nc.Close()
	}
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
	}
	_ = r.lock.Release() // after the server: its files are closed
}

// Client returns a client on the runtime's connection (on a runtime over
// [Options.Store], on that store: the only way to get a client of such a runtime).
func (r *Runtime) Client() *Client { return r.client }

// Partitions returns the inbox partitions this node currently processes. Nodes
// sharing a namespace split the partitions between them and rebalance as nodes join
// and leave. A runtime over [Options.Store] has no partitions (nil).
func (r *Runtime) Partitions() []int {
	if r.js == nil {
		return nil
	}
	return r.js.OwnedPartitions()
}

// Conn returns the runtime's NATS connection (nil for a runtime over
// [Options.Store]).
func (r *Runtime) Conn() *nats.Conn { return r.nc }

// ClientURL returns the embedded server's client URL, or "" when the runtime did not
// start one or it listens on no port.
func (r *Runtime) ClientURL() string {
	if r.srv == nil || r.opts.Listen == "" {
		return ""
	}
	return r.srv.ClientURL()
}

// Shutdown stops taking new work and waits for running turns and activities to
// finish. If ctx ends first, running activities are cancelled (through their
// ActivityContext) and handed back to the queue, so another node (or the next start)
// runs them again. The embedded server and owned connection are closed last. It is
// safe to call more than once. It returns ctx's error when ctx ends before the
// running work finished.
func (r *Runtime) Shutdown(ctx context.Context) error {
	var err error
	r.shutdown.Do(func() {
		r.stop()
		done := make(chan struct{})
		go func() { r.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
			r.actCancel()
			<-done
		}
		r.actCancel()
		r.cache.clear()
		r.stopManagement()
		if r.sessStop != nil {
			close(r.sessStop)
			<-r.sessDone
		}
		if r.js != nil { // a store passed in Options.Store is its owner's to close
			_ = r.js.Close()
		}
		r.disconnect()
		r.metrics.unregister()
	})
	return err
}

// isStopping reports whether err means the runtime is shutting down.
func (r *Runtime) isStopping(err error) bool {
	return r.loopCtx.Err() != nil || errors.Is(err, store.ErrClosed)
}
