package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Clock tells the store the time. It must be safe for concurrent use and must not
// go backwards.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// AnyWorkTag in [HandleOptions.WorkTags] makes a handle fetch every activity,
// whatever its tag.
const AnyWorkTag = "\x00any"

// DefaultSessionLockTimeout is the session lease of a handle whose
// [HandleOptions.SessionLockTimeout] is 0.
const DefaultSessionLockTimeout = 30 * time.Second

// Options configure a backend and its first handle.
type Options struct {
	// Clock is the time source of every visibility time, lock expiry, timer and
	// timestamp. Default (nil): real time.
	Clock Clock
	// HandleOptions configure the handle New returns.
	HandleOptions
}

// HandleOptions configure one handle on a backend (what a runtime fixes when it
// opens its store).
type HandleOptions struct {
	// WorkTags are the activity tags FetchWorkItem returns: "" is the untagged
	// (default) queue, AnyWorkTag every tag. Default (nil): untagged only. An empty,
	// non-nil slice: no activities at all.
	WorkTags []string
	// SessionOwner is the session identity of the handle's FetchWorkItem (duroxide's
	// SessionFetchConfig.owner_id). "" (the default): the handle returns no item that
	// has a session id. Handles with the same owner share its sessions.
	SessionOwner string
	// SessionLockTimeout is the lease a session claim takes. Default 30s.
	SessionLockTimeout time.Duration
}

// Store is one handle on an in-memory backend. It implements [store.Provider],
// [store.SessionStore], [store.KVReader], [store.Admin] and [store.Deleter]; all its
// methods are safe for concurrent use.
type Store struct {
	b      *backend
	tags   []string
	owner  string
	sessTO time.Duration

	closeOnce sync.Once
	closed    chan struct{}
}

var (
	_ store.Provider     = (*Store)(nil)
	_ store.SessionStore = (*Store)(nil)
	_ store.KVReader     = (*Store)(nil)
	_ store.Admin        = (*Store)(nil)
	_ store.Deleter      = (*Store)(nil)

	_ store.InboxPublisher   = (*Store)(nil)
	_ store.PendingReader    = (*Store)(nil)
	_ store.DeadLetterReader = (*Store)(nil)
	_ store.StatusWatcher    = (*Store)(nil)
	_ store.CancelSignaler   = (*Store)(nil)
)

// New creates an empty backend and returns its first handle, configured by opts.
func New(opts Options) *Store {
	c := opts.Clock
	if c == nil {
		c = realClock{}
	}
	b := &backend{
		clock:      c,
		changed:    make(chan struct{}),
		insts:      map[string]*instance{},
		locks:      map[string]*orchLease{},
		orchLeases: map[string]*orchLease{},
		workLeases: map[string]*workEntry{},
		sessions:   map[string]*session{},
	}
	return b.open(opts.HandleOptions)
}

// Open returns another handle on s's backend (the same queues, histories and
// sessions) configured by opts, as another runtime of the same deployment would
// open. Closing it does not affect the other handles.
func (s *Store) Open(opts HandleOptions) *Store { return s.b.open(opts) }

func (b *backend) open(opts HandleOptions) *Store {
	tags := opts.WorkTags
	if tags == nil {
		tags = []string{""}
	}
	to := opts.SessionLockTimeout
	if to <= 0 {
		to = DefaultSessionLockTimeout
	}
	return &Store{b: b, tags: append([]string(nil), tags...), owner: opts.SessionOwner, sessTO: to, closed: make(chan struct{})}
}

// Close implements [store.Provider]: the handle's orchestration and work locks are
// released without commit (their messages and items become visible again), its
// waiting fetches return [store.ErrClosed], and later calls fail with it. The
// backend and the other handles are not affected. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		b := s.b
		b.mu.Lock()
		defer b.mu.Unlock()
		for tok, l := range b.orchLeases {
			if l.owner == s {
				b.releaseOrch(l)
				delete(b.orchLeases, tok)
			}
		}
		for tok, e := range b.workLeases {
			if e.lease != nil && e.lease.owner == s {
				e.lease = nil
				delete(b.workLeases, tok)
			}
		}
		b.notifyLocked()
	})
	return nil
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// check returns ctx's error or ErrClosed, if either applies.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return fmt.Errorf("memstore: %w", store.ErrClosed)
	}
	return nil
}

// backend is what every handle of one New shares. mu guards everything.
type backend struct {
	mu    sync.Mutex
	clock Clock
	// changed is closed (and replaced) whenever something a waiting fetch may want
	// happens: an enqueue, a release, an abandon, a Wake.
	changed chan struct{}

	seq    uint64 // message and work item sequence (FIFO order)
	tokens uint64 // lock token counter
	incs   uint64 // incarnation counter
	order  uint64 // listing order counter

	insts map[string]*instance
	// inbox holds the orchestrator queue in enqueue order; removed entries are
	// compacted away lazily.
	inbox      []*orchMsg
	inboxGone  int
	timers     timerHeap             // messages not yet visible when enqueued (timers.go)
	timersGone int                   // removed messages still in timers
	locks      map[string]*orchLease // by instance
	orchLeases map[string]*orchLease // by token
	work       []*workEntry
	workGone   int
	workLeases map[string]*workEntry // by token
	sessions   map[string]*session
	dead       []DeadLetter
	waiting    int                  // fetches waiting in wait
	dedup      map[string]time.Time // PublishInbox deduplication ids
	watchers   map[string][]watcher // WatchStatus, by instance
	watchSeq   uint64
	// cancelWatchers are the WatchCancellations registrations of every handle.
	cancelWatchers []cancelWatcher
	notices        []func() // status notices to send once mu is released
}

// notifyLocked wakes every waiting fetch. The caller holds mu.
func (b *backend) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *backend) now() time.Time { return b.clock.Now() }

func (b *backend) token(prefix string) string {
	b.tokens++
	return fmt.Sprintf("%s%d", prefix, b.tokens)
}

// instance is one life of an instance id (its current incarnation).
type instance struct {
	id        string
	inc       string
	parentInc string
	// created and statusOrder order the listings: creation order, and the order in
	// which instances reached their current status.
	created     uint64
	statusOrder uint64
	summary     store.InstanceSummary
	pinned      string
	execs       []*execution // ascending; pruned ones removed; the last is current
	// kvPrior is the key-value store as left by the executions before the current
	// one (kept when they are pruned).
	kvPrior map[string]store.KVEntry
	// corrupt, when set, makes the history undecodable (CorruptHistory).
	corrupt string
}

func (in *instance) cur() *execution { return in.execs[len(in.execs)-1] }

// execution is one execution's history and view.
type execution struct {
	id          uint64
	events      []history.Event
	bytes       int64
	status      string
	output      string
	failure     *history.ErrorDetails
	startedMs   int64
	completedMs int64
}

// wait blocks until something changes, until (on the store's clock) due, until
// deadline (real time), or until ctx ends or s is closed. It returns false when the
// deadline passed. The caller holds b.mu; wait releases it while waiting and holds it
// again on return.
func (s *Store) wait(ctx context.Context, deadline time.Time, due time.Time) (bool, error) {
	b := s.b
	d := time.Until(deadline)
	if d <= 0 {
		return false, nil
	}
	if !due.IsZero() {
		if dd := due.Sub(b.now()); dd < d {
			d = max(dd, time.Millisecond)
		}
	}
	ch := b.changed
	b.waiting++
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer func() {
		t.Stop()
		b.mu.Lock()
		b.waiting--
	}()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.closed:
		return false, fmt.Errorf("memstore: %w", store.ErrClosed)
	}
	return true, nil
}

// earliest returns the earlier non-zero time of a and t.
func earliest(a, t time.Time) time.Time {
	if a.IsZero() || (!t.IsZero() && t.Before(a)) {
		return t
	}
	return a
}
