package duroxidetest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/testknobs"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// DefaultStartTime is where the virtual clock starts: a fixed instant, so
// timestamps in history are the same every run.
var DefaultStartTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultMaxSteps bounds the turns and activities one Run or RunUntil executes: a
// workflow that never settles (an eternal loop of timers) fails the test instead of
// running forever.
const DefaultMaxSteps = 100_000

// lockTimeout is the lock a step takes on its item, in virtual time: the clock
// does not move while a step runs, so it never expires.
const lockTimeout = time.Hour

// workerID is the harness runtime's node id and session owner.
const workerID = "duroxidetest"

// Option configures an [Env].
type Option func(*config)

type config struct {
	start        time.Time
	maxSteps     int
	allowFailure bool
	noReplay     bool
	logger       *slog.Logger
}

// StartTime starts the virtual clock at t instead of [DefaultStartTime].
func StartTime(t time.Time) Option { return func(c *config) { c.start = t } }

// MaxSteps bounds the turns and activities of each Run or RunUntil (default
// [DefaultMaxSteps]); reaching it fails the test.
func MaxSteps(n int) Option { return func(c *config) { c.maxSteps = n } }

// AllowEngineFailures stops reporting orchestration panics, nondeterminism and
// unregistered orchestrations or activities as test errors: a test that expects
// them reads them with [Env.Status].
func AllowEngineFailures() Option { return func(c *config) { c.allowFailure = true } }

// NoReplayCheck keeps each instance's live orchestration between turns, as a
// production runtime does, instead of replaying its history from the start at
// every turn (the default, which makes nondeterministic orchestration code fail at
// its next turn; it costs a replay per turn).
func NoReplayCheck() Option { return func(c *config) { c.noReplay = true } }

// Logger sends the runtime's logs to l (default: discarded).
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Env is one test's runtime, store and virtual clock. Its methods must be called
// from the test's goroutine (activities may call its reads). It is shut down when
// the test ends.
type Env struct {
	t      testing.TB
	cfg    config
	clock  *virtualClock
	ms     *memstore.Store
	rt     *duroxide.Runtime
	client *duroxide.Client
	drv    testknobs.Driver

	mu       sync.Mutex
	mocks    map[string]func(*duroxide.ActivityContext, string) (string, error)
	at       []scheduled // callbacks at virtual times, by (when, seq)
	seq      int
	reported map[string]bool // "<instance>/<execution>" already reported as failed
}

// scheduled is a callback of At, RaiseEventAt or RaiseEventAfter.
type scheduled struct {
	when time.Time
	seq  int
	fn   func()
}

// New returns an environment running reg's orchestrations and activities. reg
// gains the runtime's system activities, as with [duroxide.Start]. A runtime that
// cannot start fails the test.
func New(t testing.TB, reg *duroxide.Registry, opts ...Option) *Env {
	t.Helper()
	cfg := config{start: DefaultStartTime, maxSteps: DefaultMaxSteps}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Env{t: t, cfg: cfg, clock: &virtualClock{now: cfg.start},
		mocks: map[string]func(*duroxide.ActivityContext, string) (string, error){}, reported: map[string]bool{}}
	e.ms = memstore.New(memstore.Options{Clock: e.clock, HandleOptions: memstore.HandleOptions{
		WorkTags: []string{memstore.AnyWorkTag}, SessionOwner: workerID}})
	knobs := testknobs.Knobs{Clock: e.clock.Now, Driver: &e.drv, MockActivity: e.mock, ReplayEveryTurn: !cfg.noReplay}
	rt, err := duroxide.Start(testknobs.With(context.Background(), knobs), reg, duroxide.Options{
		Store: e.ms, WorkerNodeID: workerID, Logger: cfg.logger})
	if err != nil {
		_ = e.ms.Close()
		t.Fatalf("duroxidetest: start the runtime: %v", err)
	}
	e.rt, e.client = rt, rt.Client()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.rt.Shutdown(ctx)
		_ = e.ms.Close()
	})
	return e
}

// Client returns the client of the environment's runtime, for calls the Env does
// not wrap (typed handles' Start, management reads). Calls that wait
// (WaitForOrchestration) do not move virtual time: use [Env.Run] instead.
func (e *Env) Client() *duroxide.Client { return e.client }

// Now returns the virtual time.
func (e *Env) Now() time.Time { return e.clock.Now() }

// virtualClock is the time of the store and the runtime; only Run moves it.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// set moves the clock to t if t is later.
func (c *virtualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}
