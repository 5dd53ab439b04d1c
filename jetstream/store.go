// Package jetstream is the NATS JetStream implementation of the duroxide-go store
// ([store.Provider]), plus the embedded nats-server the runtime starts by default.
//
// Layout, for a namespace ns (see docs/ARCHITECTURE.md and docs/STORE.md):
//
//   - NS_INBOX (work-queue retention): clients publish an instance's messages on
//     ns.inbox.<id>, the runtime on ns.rt.<id> (subjects.go); a subject transform
//     stores both as ns.in.<partition>.<id>.<space>, and one durable consumer per
//     partition feeds the instance actors. Durable timers are message schedules on
//     ns.timer.<id>.<exec>.<n> that fire into ns.rt.<id>.
//   - NS_HISTORY (limits retention): one message per committed turn on
//     ns.hist.<id>.<execution>, appended with a fence on ns.hist.<id>.* so only one
//     writer can extend an instance.
//   - NS_WORK (work-queue retention): activity work items on
//     ns.work.<tag>.<id>.<execution>.<n>, one durable consumer per tag.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/actors"
	"github.com/duroxide-go/duroxide/store"
)

// Config configures a [Store]. The zero value of every field means its default.
type Config struct {
	// Namespace prefixes every subject, stream and bucket, so several applications can
	// share one NATS deployment. Letters, digits, '-' and '_'. Default "duroxide".
	Namespace string
	// Partitions is the number of inbox partitions (one durable consumer each). Fixed
	// when the inbox stream is created. Default 16.
	Partitions int
	// Replicas of every stream. Default (0): 3 when the JetStream cluster has at least
	// three servers, 1 otherwise. Existing streams keep their replicas.
	Replicas int
	// MemoryStorage keeps streams in memory instead of files (tests, benchmarks).
	MemoryStorage bool
	// MaxCachedInstances bounds the idle instance states kept in memory. Default 10000.
	MaxCachedInstances int
	// InboxAckWait is how long an inbox message may stay unacknowledged before the
	// broker redelivers it. Default 30s.
	InboxAckWait time.Duration
	// PartitionLease is how long a node keeps a partition after it stops pulling from
	// it (the pinned priority group's TTL): when a node dies, its partitions move to
	// other nodes after this long. Default 15s.
	PartitionLease time.Duration
	// WorkAckWait is the activity lock: how long a work item stays locked without a
	// renewal. Default 30s.
	WorkAckWait time.Duration
	// WorkTags are the activity tags this store's worker fetches: "" is the untagged
	// (default) queue. Default (nil): untagged only. An empty, non-nil slice: no
	// activities at all (an orchestration-only store; FetchWorkItem finds nothing).
	WorkTags []string
	// WorkPrefetch bounds the work items one pull asks for: a store pulls only for
	// FetchWorkItem calls that wait, one item each, at most this many at once.
	// Default 64.
	WorkPrefetch int
	// MaxPayloadBytes bounds the input, data and result of inbox messages; larger ones
	// are dead-lettered. 0 means no limit beyond the server's.
	MaxPayloadBytes int
	// DeadLetterMaxAge is how long dead-lettered messages are kept. Default 7 days.
	DeadLetterMaxAge time.Duration
	// SharedPartitions turns off partition pinning, so every node pulls from every
	// partition at once. Only the history fence then keeps instances consistent; it
	// exists to test exactly that.
	SharedPartitions bool
	// NodeName names this node in logs and in the nodes bucket. Default: the host name.
	NodeName string
	// NodeID is this node's key in the nodes bucket (partition ownership). A node
	// that restarts with the NodeID of its dead predecessor takes the predecessor's
	// partitions back at once (its heartbeat is the predecessor's, and the pins the
	// predecessor's connection held are released) instead of waiting out the
	// partition lease. Two live nodes must never share one: the runtime takes it
	// from Options.WorkerNodeID or from its locked data directory. Letters, digits,
	// '-', '_' and '=', at most 200 bytes. Default: a new id per store.
	NodeID string
	// Capabilities are the orchestrations (name@version) this node can run. Inbox
	// partitions go only to nodes that can run every version a live node can (so a
	// rolling upgrade moves orchestration work to upgraded nodes).
	Capabilities []string
	// EngineVersion is the replay-engine version this node pins new executions to,
	// and Replay the filter of the executions it runs (see store.CapabilityFilter).
	// Inbox partitions go only to nodes whose filter accepts the engine version of
	// every live node (so during an upgrade of the replay engine, orchestration work
	// moves to the nodes that can replay both). Empty / nil: no constraint.
	EngineVersion string
	Replay        *store.CapabilityFilter
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
	// Hooks are fault-injection points for tests.
	Hooks Hooks
	// Observer receives the store's measurements (publish latencies, dead letters)
	// for metrics (observe.go). Default: none.
	Observer Observer
}

// Hooks are fault-injection points. A hook that returns an error makes the store stop
// at that point as if the process had died there.
type Hooks struct {
	// AfterCommit runs after a turn's history is durable and before its outbox (work
	// items, timers, messages) is dispatched and its inbox messages are acked.
	AfterCommit func(instance string) error
	// AfterLock runs when a fetch has locked an instance's mailbox, before it reads
	// the instance's state; a test blocks in it to simulate a slow history read.
	AfterLock func(instance string)
	// StartingConsumers runs when a first fetch starts the store's inbox or work
	// consumers; a test blocks in it to simulate a slow start.
	StartingConsumers func()
}

// ErrHookStop is what a hook returns to simulate a crash at its point.
var ErrHookStop = errors.New("jetstream: stopped by test hook")

func (c *Config) defaults() error {
	if c.Namespace == "" {
		c.Namespace = "duroxide"
	}
	if err := validNamespace(c.Namespace); err != nil {
		return err
	}
	if c.Partitions <= 0 {
		c.Partitions = 16
	}
	if c.PartitionLease <= 0 {
		c.PartitionLease = 15 * time.Second
	}
	if c.MaxCachedInstances <= 0 {
		c.MaxCachedInstances = 10000
	}
	if c.InboxAckWait <= 0 {
		c.InboxAckWait = 30 * time.Second
	}
	if c.WorkAckWait <= 0 {
		c.WorkAckWait = 30 * time.Second
	}
	if c.WorkTags == nil {
		c.WorkTags = []string{""}
	}
	if c.WorkPrefetch <= 0 {
		c.WorkPrefetch = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	if c.DeadLetterMaxAge <= 0 {
		c.DeadLetterMaxAge = 7 * 24 * time.Hour
	}
	if c.NodeID == "" {
		c.NodeID = newID()
	} else if err := validKeyID(c.NodeID); err != nil {
		return err
	}
	return nil
}

// validKeyID checks a Config.NodeID.
func validKeyID(id string) error {
	if len(id) > 200 {
		return fmt.Errorf("jetstream: node id is %d bytes, the limit is 200", len(id))
	}
	for i := 0; i < len(id); i++ {
		if !plain(id[i]) && id[i] != '=' {
			return fmt.Errorf("jetstream: node id %q: only letters, digits, '-', '_' and '=' are allowed", id)
		}
	}
	return nil
}

// Store implements [store.Provider] on JetStream.
type Store struct {
	cfg  Config
	nc   *nats.Conn
	js   jetstream.JetStream
	subj subjects
	log  *slog.Logger

	inbox, hist, work, dead jetstream.Stream
	runs                    jetstream.Stream // durable attempt counts (runs.go)
	runEpochs               [2]string        // the work and inbox streams' epochs in run subjects

	host     *actors.Host[inboxMsg, *instState]
	attempts attemptBook   // attempt give-backs of nak'ed inbox messages (attempts.go)
	kvs      kvBucketCache // the kv state bucket (kvstate.go)
	sess     *sessionMgr   // activity sessions, nil when not enabled (sessions.go)

	mu     sync.Mutex
	leases map[string]*orchLease // by lock token
	works  map[string]*workLease // by lock token
	// cancelledWork holds the activities this store removed from the work stream
	// (Commit.CancelledActivities), with the stream's last sequence after the purge:
	// a delivery of one of them that is still buffered in a pump is dropped by
	// FetchWorkItem. Entries are swept after two WorkAckWaits.
	cancelledWork map[store.ScheduledActivity]cancelledMark
	// aliveIncs caches, per instance, the last read that found an incarnation alive
	// (incarnation.go).
	aliveIncs map[string]aliveMark
	incReads  map[string]*incRead
	// workGiveBacks counts, per work stream sequence, deliveries abandoned with
	// ignoreAttempt (see ignoreDelivery).
	workGiveBacks map[uint64]int

	inboxStarter, workStarter starter
	nodeID                    string                           // this store's identity in the nodes bucket
	nodes                     jetstream.KeyValue               // heartbeats (nil until first used)
	reclaim                   bool                             // a dead predecessor with our node id held partitions: unpin them as we take them
	owned                     map[int]jetstream.ConsumeContext // partitions this node consumes
	// pins holds, per partition (int), the last pin id (string) this node's
	// deliveries carried: releasePartition unpins only a pin that is this node's.
	pins         sync.Map
	workCh       chan *workLease
	demand       workDemand    // waiting FetchWorkItem calls (work.go)
	order        workOrder     // pull order across tag consumers (work_order.go)
	givePause    time.Duration // pacing of give-backs (sessions.go)
	consumers    []jetstream.ConsumeContext
	strayStarted bool            // the inbox-stray consumer is in consumers
	returned     []jetstream.Msg // delivered while closing, nak'ed at the end
	closed       chan struct{}
	life         context.Context // cancelled by Close
	endLife      context.CancelFunc
	closeOnce    sync.Once
	wg           sync.WaitGroup
}

var _ store.Provider = (*Store)(nil)

// Open connects a store to the streams of cfg.Namespace, creating them if needed.
// Opening starts no consumer: a process that only uses the store as a client (start,
// raise, status) costs the server nothing. Consumers start on the first fetch.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		// A cluster that never forms must not block Open forever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	// Async publishes (the outbox) fail after a while instead of waiting forever on a
	// server that lost its cluster's quorum; the unacked inbox messages then re-drive
	// the outbox.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if cfg.Observer.Publish != nil {
		js = timedJS{JetStream: js, ns: cfg.Namespace, obs: cfg.Observer.Publish}
	}
	s := &Store{
		cfg:    cfg,
		nc:     nc,
		js:     js,
		subj:   subjects{ns: cfg.Namespace, partitions: cfg.Partitions},
		log:    cfg.Logger.With("component", "store"),
		host:   actors.NewHost[inboxMsg, *instState](cfg.MaxCachedInstances),
		leases: make(map[string]*orchLease),
		works:  make(map[string]*workLease),
		workCh: make(chan *workLease),
		nodeID: cfg.NodeID,
		owned:  make(map[int]jetstream.ConsumeContext),
		closed: make(chan struct{}),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	if err := s.ensureStreams(ctx); err != nil {
		s.endLife()
		return nil, err
	}
	return s, nil
}

// Namespace returns the namespace the store works in.
func (s *Store) Namespace() string { return s.cfg.Namespace }

// Conn returns the store's NATS connection.
func (s *Store) Conn() *nats.Conn { return s.nc }

func (s *Store) storage() jetstream.StorageType {
	if s.cfg.MemoryStorage {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

func (s *Store) ensureStreams(ctx context.Context) error {
	var err error
	src, dst := s.subj.partitionTransform()
	s.inbox, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name:              s.subj.inboxStream(),
		Description:       "duroxide instance inboxes and durable timers",
		Subjects:          []string{s.subj.inboxAll(), s.subj.runtimeAll(), s.subj.timerStream()},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           s.storage(),
		Replicas:          s.cfg.Replicas,
		AllowMsgSchedules: true,
		AllowDirect:       true,
		Duplicates:        2 * time.Minute,
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source: src, Destination: dst,
		},
	})
	if err != nil {
		return err
	}
	if err := s.checkInboxSubjects(); err != nil {
		return err
	}
	s.hist, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name:        s.subj.historyStream(),
		Description: "duroxide orchestration histories, one message per committed turn",
		Subjects:    []string{s.subj.historyAll()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     s.storage(),
		Replicas:    s.cfg.Replicas,
		AllowDirect: true,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return err
	}
	s.work, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name:        s.subj.workStream(),
		Description: "duroxide activity work items",
		Subjects:    []string{s.subj.workAll()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     s.storage(),
		Replicas:    s.cfg.Replicas,
		AllowDirect: true,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return err
	}
	s.dead, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name:        s.subj.deadStream(),
		Description: "duroxide inbox messages that could not be processed, with the reason in the Duroxide-Reason header",
		Subjects:    []string{s.subj.deadAll()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     s.storage(),
		Replicas:    s.cfg.Replicas,
		MaxAge:      s.cfg.DeadLetterMaxAge,
	})
	if err != nil {
		return err
	}
	return s.ensureRunsStream(ctx)
}

// ErrStreamOutdated is returned by [Open] when an existing stream was created by an
// older version whose layout this version cannot use.
var ErrStreamOutdated = errors.New("jetstream: stream layout is outdated")

// checkInboxSubjects refuses an inbox stream created before the runtime subject space
// (ns.rt.*) existed: runtime messages would have no stream to go to.
func (s *Store) checkInboxSubjects() error {
	cfg := s.inbox.CachedInfo().Config
	if slices.Contains(cfg.Subjects, s.subj.runtimeAll()) {
		return nil
	}
	return fmt.Errorf("%w: stream %s captures %v but not the runtime subjects %s (created by an older duroxide-go); "+
		"let it drain, then delete it (nats stream rm %s) so that this version recreates it",
		ErrStreamOutdated, cfg.Name, cfg.Subjects, s.subj.runtimeAll(), cfg.Name)
}

// ensureStream creates a stream or binds to the existing one. An existing stream is
// never reconfigured here: with several nodes of different versions, silently
// rewriting a shared stream's config is worse than running with the old one.
//
// A JetStream cluster that is still electing its leader answers with errors for a few
// seconds: those are retried until ctx ends (Open bounds the wait). With automatic
// replicas the stream is created with 3 replicas, and with 1 if the cluster has fewer
// than three servers (or is no cluster).
func (s *Store) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	auto := cfg.Replicas == 0
	if auto {
		cfg.Replicas = 3
	}
	delay := 100 * time.Millisecond
	for {
		st, err := s.tryStream(ctx, cfg)
		if err == nil {
			noteReplicas(s.nc, st)
			return st, nil
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			continue
		}
		if auto && cfg.Replicas > 1 && tooFewPeers(err) {
			cfg.Replicas = 1
			continue
		}
		if permanent(err) {
			return nil, fmt.Errorf("jetstream: create stream %s: %w", cfg.Name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetstream: stream %s: %w (last error: %v)", cfg.Name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// tryStream looks the stream up and creates it if missing, each request bounded so
// that an unanswered one (no JetStream leader yet) is retried.
func (s *Store) tryStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := s.js.Stream(actx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = s.js.CreateStream(actx, cfg)
	}
	return st, err
}

// tooFewPeers reports whether a stream could not get the replicas it asked for.
func tooFewPeers(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10074, // replicas > 1 not supported in non-clustered mode
		10023: // insufficient resources
		return true
	}
	return false
}

// permanent reports whether a JetStream API error will not go away by retrying.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false // timeouts, no responders, cluster not ready
	}
	return apiErr.ErrorCode != 10008 // JetStream system temporarily unavailable
}

// Close stops the consumers. Locked items are released without commit: their
// messages are redelivered to whichever node fetches them next.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.endLife()
		s.mu.Lock()
		cons := slices.Clone(s.consumers)
		s.mu.Unlock()
		// Drain: stop pulling, but let what is already buffered reach onInbox, which
		// hands it back to the broker (nak) so another node, or the next start, gets
		// it without waiting for an ack timeout. The work pumps stop at once and nak
		// what they pulled (work.go: handBackWork).
		for _, c := range cons {
			c.Drain()
		}
		// Give up our partitions at once instead of after the lease.
		s.mu.Lock()
		owned := make([]int, 0, len(s.owned))
		for p := range s.owned {
			owned = append(owned, p)
		}
		s.mu.Unlock()
		if len(owned) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			for _, p := range owned {
				_ = s.inbox.UnpinConsumer(ctx, partitionConsumer(p), priorityGroup)
			}
			cancel()
		}
		for _, m := range s.host.Close() {
			s.handBack(m.msg)
		}
		// One bound for all of them: a server that lost its cluster's quorum answers
		// nothing, and waiting per consumer would add up. Past it, stop hard.
		deadline := time.After(5 * time.Second)
		pumps := make(chan struct{})
		go func() { s.wg.Wait(); close(pumps) }()
	wait:
		for _, c := range cons {
			select {
			case <-c.Closed():
			case <-deadline:
				break wait
			}
		}
		select {
		case <-pumps:
		case <-deadline:
			for _, c := range cons {
				c.Stop()
			}
			<-pumps
		}
		// Only now, with no pull request of ours left on the server, can a nak not
		// bounce straight back to this closing store.
		s.mu.Lock()
		returned := s.returned
		s.returned = nil
		s.mu.Unlock()
		for _, m := range returned {
			_ = m.Nak()
		}
	})
	return nil
}

// starter runs a start-up function until it succeeds once.
type starter struct {
	mu   sync.Mutex
	done bool
}

func (st *starter) run(f func() error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return nil
	}
	if err := f(); err != nil {
		return err
	}
	st.done = true
	return nil
}

// handBack keeps a message delivered during Close, to be nak'ed once every consumer
// has stopped.
func (s *Store) handBack(m jetstream.Msg) {
	s.mu.Lock()
	s.returned = append(s.returned, m)
	s.mu.Unlock()
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}
