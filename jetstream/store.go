// Package jetstream is the NATS JetStream implementation of the duroxide-go store
// ([store.Provider]), plus the embedded nats-server the runtime starts by default.
//
// Layout, for a namespace ns (see docs/ARCHITECTURE.md and docs/STORE.md):
//
//   - NS_INBOX (work-queue retention): clients and the runtime publish an instance's
//     messages on ns.inbox.<id>; a subject transform stores them as
//     ns.in.<partition>.<id>, and one durable consumer per partition feeds the
//     instance actors. Durable timers are message schedules on ns.timer.<id>.<exec>.<n>
//     that fire into the same inbox.
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
	// Replicas of every stream. Default 1.
	Replicas int
	// MemoryStorage keeps streams in memory instead of files (tests, benchmarks).
	MemoryStorage bool
	// MaxCachedInstances bounds the idle instance states kept in memory. Default 10000.
	MaxCachedInstances int
	// InboxAckWait is how long an inbox message may stay unacknowledged before the
	// broker redelivers it. Default 30s.
	InboxAckWait time.Duration
	// WorkAckWait is the activity lock: how long a work item stays locked without a
	// renewal. Default 30s.
	WorkAckWait time.Duration
	// WorkTags are the activity tags this store's worker fetches: "" is the untagged
	// (default) queue. Default: untagged only.
	WorkTags []string
	// WorkPrefetch bounds the work items buffered ahead of FetchWorkItem. Default 64.
	WorkPrefetch int
	// SharedPartitions turns off partition pinning, so every node pulls from every
	// partition at once. Only the history fence then keeps instances consistent; it
	// exists to test exactly that.
	SharedPartitions bool
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
	// Hooks are fault-injection points for tests.
	Hooks Hooks
}

// Hooks are fault-injection points. A hook that returns an error makes the store stop
// at that point as if the process had died there.
type Hooks struct {
	// AfterCommit runs after a turn's history is durable and before its outbox (work
	// items, timers, messages) is dispatched and its inbox messages are acked.
	AfterCommit func(instance string) error
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
	if c.Replicas <= 0 {
		c.Replicas = 1
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
	if len(c.WorkTags) == 0 {
		c.WorkTags = []string{""}
	}
	if c.WorkPrefetch <= 0 {
		c.WorkPrefetch = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
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

	inbox, hist, work jetstream.Stream

	host *actors.Host[inboxMsg, *instState]

	mu     sync.Mutex
	leases map[string]*orchLease // by lock token
	works  map[string]*workLease // by lock token

	inboxStarter, workStarter starter
	workCh                    chan *workLease
	consumers                 []jetstream.ConsumeContext
	iters                     []jetstream.MessagesContext
	returned                  []jetstream.Msg // delivered while closing, nak'ed at the end
	closed                    chan struct{}
	closeOnce                 sync.Once
	wg                        sync.WaitGroup
}

var _ store.Provider = (*Store)(nil)

// Open connects a store to the streams of cfg.Namespace, creating them if needed.
// Opening starts no consumer: a process that only uses the store as a client (start,
// raise, status) costs the server nothing. Consumers start on the first fetch.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
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
		closed: make(chan struct{}),
	}
	if err := s.ensureStreams(ctx); err != nil {
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
	s.inbox, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name:              s.subj.inboxStream(),
		Description:       "duroxide instance inboxes and durable timers",
		Subjects:          []string{s.subj.inboxAll(), s.subj.timerAll()},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           s.storage(),
		Replicas:          s.cfg.Replicas,
		AllowMsgSchedules: true,
		AllowDirect:       true,
		Duplicates:        2 * time.Minute,
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source: s.subj.inboxAll(), Destination: s.subj.partitionTransform(),
		},
	})
	if err != nil {
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
	return err
}

// ensureStream creates a stream or binds to the existing one. An existing stream is
// never reconfigured here: with several nodes of different versions, silently
// rewriting a shared stream's config is worse than running with the old one.
func (s *Store) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := s.js.Stream(ctx, cfg.Name)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("jetstream: look up stream %s: %w", cfg.Name, err)
	}
	st, err = s.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		st, err = s.js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: create stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// Close stops the consumers. Locked items are released without commit: their
// messages are redelivered to whichever node fetches them next.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		cons, iters := s.consumers, s.iters
		s.mu.Unlock()
		// Drain: stop pulling, but let what is already buffered reach onInbox and
		// pumpWork, which hand it back to the broker (nak) so another node, or the
		// next start, gets it without waiting for an ack timeout.
		for _, c := range cons {
			c.Drain()
		}
		for _, it := range iters {
			it.Drain()
		}
		for _, m := range s.host.Close() {
			s.handBack(m.msg)
		}
		for _, c := range cons {
			select {
			case <-c.Closed():
			case <-time.After(5 * time.Second):
			}
		}
		s.wg.Wait()
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
