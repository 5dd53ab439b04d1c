package jetstream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// Activity sessions (affinity of a session's activities to one owner).
//
// A session item (an ActivityExecute with a SessionID) is published like any other
// activity, on its tag's subject, and reaches some store through the tag's shared
// durable consumer, pulled for one of that store's waiting FetchWorkItem calls
// (work.go). The store routes it by the session's lease in the <NS>_SESSIONS KV
// bucket (key s.<tag token>.<session token>, value: the owner and the lease's
// length):
//
//   - leased to this store's owner: run it here;
//   - leased to another live owner: forward it to that owner's own subject
//     <ns>.work.n<owner token>.<id>.<exec>.<n> (one durable consumer per owner,
//     "work-n<owner token>", shared by the stores with that owner), then ack the
//     original;
//   - not leased, or the lease expired, or its owner is known dead: claim it with a
//     compare-and-set write (create, or update at the read revision: one concurrent
//     claimant wins, the others read again) and run it here; at the cap
//     (MaxSessions) give it back instead: republish it on its tag subject and pause
//     the puller briefly, so a store with room claims it.
//
// A lease lasts LockTimeout from its last write (judged with the server's
// timestamps: this store's heartbeat timestamp plus the monotonic time since it was
// read). The store does not extend leases by itself: as in duroxide, the caller (the
// runtime's session manager) calls [Store.RenewSessionLocks] periodically, which
// extends the leases of the sessions this store holds that are not idle; an idle
// session's lease lapses and another owner may claim it.
// [Store.CleanupOrphanedSessions] deletes expired leases of sessions with no work
// item left.
//
// Each store with sessions heartbeats its owner key n.<owner token> (every third of
// the node timeout, max(LockTimeout, 2s)). An owner whose key is older than its
// timeout (or marked gone by a clean shutdown) is dead: its leases count as expired,
// and every live store that sees messages left on the dead owner's subject binds that
// owner's durable consumer and routes them again (items the dead owner was running
// come back after their AckWait).
//
// Moving a message (forward, give back, takeover) republishes it with the
// deduplication id mv:<stream sequence> and a Duroxide-Runs header counting the
// deliveries of earlier copies that may have run it, so poison detection keeps
// counting across moves; the original is acked after the publish is acknowledged.
// Sessions are keyed by tag and id: a session whose activities use several tags has
// one owner per tag pool.
//
// This file holds the configuration and the state; session_routing.go routes a
// delivered item, session_leases.go renews and cleans up leases, and
// session_owners.go heartbeats owners and takes over dead ones.

// SessionConfig enables activity sessions on a [Store] (see [Store.EnableSessions]):
// duroxide's SessionFetchConfig{owner_id, lock_timeout}, fixed for the store as its
// tags are.
type SessionConfig struct {
	// Owner is the store's identity as a session owner. Stores with the same owner
	// share its sessions (and its consumer). Required.
	Owner string
	// MaxSessions caps the sessions this store holds at once. Required (> 0).
	MaxSessions int
	// LockTimeout is the session lease a claim writes: a lease not renewed
	// ([Store.RenewSessionLocks]) for this long expires. Required (> 0).
	LockTimeout time.Duration
}

var _ store.SessionStore = (*Store)(nil)

const hdrRuns = "Duroxide-Runs"

// minNodeTimeout bounds the owner heartbeat timeout from below, so that a short
// session lease does not make a busy node look dead.
const minNodeTimeout = 2 * time.Second

// sessionMgr is a store's session state.
type sessionMgr struct {
	cfg      SessionConfig
	ownerTok string
	ctx      context.Context // cancelled when the store closes
	stop     context.CancelFunc

	mu        sync.Mutex
	kv        jetstream.KeyValue
	owned     map[string]*ownedSession // by lease key
	reserved  int                      // claims in flight
	hbServer  time.Time                // server timestamp of our last node heartbeat
	hbLocal   time.Time                // local (monotonic) time it was read
	dead      map[string]bool          // owner tokens of nodes known dead
	takeovers map[string]func()        // stops the pump of a dead owner's consumer
}

// ownedSession is a lease this store holds.
type ownedSession struct {
	rev     uint64
	expires time.Time // local clock; a lower bound of the lease's end
	last    time.Time // last activity: routed, fetched, renewed, acked or abandoned
}

// sessionLease is the value of a lease (s.*) or an owner heartbeat (n.*) key.
type sessionLease struct {
	Owner string `json:"owner"`
	// TTLMs is how long the entry is valid after its write, in milliseconds.
	TTLMs int64 `json:"ttl_ms,omitempty"`
	Gone  bool  `json:"gone,omitempty"`
}

func (v sessionLease) ttl(def time.Duration) time.Duration {
	if v.TTLMs <= 0 {
		return def
	}
	return time.Duration(v.TTLMs) * time.Millisecond
}

// EnableSessions turns on session routing. Call it after [Open] and before the first
// FetchWorkItem. Without it the store fetches no session items (they are left for
// stores with sessions). It returns an error naming the field for an empty Owner, a
// MaxSessions below 1, or a non-positive LockTimeout.
func (s *Store) EnableSessions(cfg SessionConfig) error {
	switch {
	case cfg.Owner == "":
		return fmt.Errorf("jetstream: sessions: Owner is empty")
	case cfg.MaxSessions < 1:
		return fmt.Errorf("jetstream: sessions: MaxSessions is %d, it must be at least 1", cfg.MaxSessions)
	case cfg.LockTimeout <= 0:
		return fmt.Errorf("jetstream: sessions: LockTimeout is %v, it must be positive", cfg.LockTimeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, stop := context.WithCancel(context.Background())
	s.sess = &sessionMgr{cfg: cfg, ownerTok: EncodeToken(cfg.Owner), ctx: ctx, stop: stop, owned: map[string]*ownedSession{},
		dead: map[string]bool{}, takeovers: map[string]func(){}}
	return nil
}

// SessionOwner returns the configured session owner ("" without sessions).
func (s *Store) SessionOwner() string {
	if s.sess == nil {
		return ""
	}
	return s.sess.cfg.Owner
}

// OwnedSessions returns the ids of the sessions this store holds an unexpired lease
// of, as "<tag>/<id>" for tagged sessions and "<id>" otherwise, in no particular
// order.
func (s *Store) OwnedSessions() []string {
	m := s.sess
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked()
	out := make([]string, 0, len(m.owned))
	for k := range m.owned {
		tagTok, sidTok, _ := strings.Cut(strings.TrimPrefix(k, "s."), ".")
		sid, _ := DecodeToken(sidTok)
		if tagTok != defaultTagToken {
			tag, _ := DecodeToken(tagTok[1:])
			sid = tag + "/" + sid
		}
		out = append(out, sid)
	}
	return out
}

// pruneLocked forgets the leases that have expired.
func (m *sessionMgr) pruneLocked() {
	now := time.Now()
	for k, o := range m.owned {
		if !now.Before(o.expires) {
			delete(m.owned, k)
		}
	}
}

func (m *sessionMgr) nodeTimeout() time.Duration { return max(m.cfg.LockTimeout, minNodeTimeout) }

func (s *Store) sessionsBucket() string { return s.subj.streamName("SESSIONS") }

func sessionKey(tag, sid string) string {
	t := defaultTagToken
	if tag != "" {
		t = "t" + EncodeToken(tag)
	}
	return "s." + t + "." + EncodeToken(sid)
}

func (s subjects) nodeWork(ownerTok, enc string, exec, id uint64) string {
	return fmt.Sprintf("%s.work.n%s.%s.%d.%d", s.ns, ownerTok, enc, exec, id)
}
func (s subjects) nodeWorkFilter(ownerTok string) string { return s.ns + ".work.n" + ownerTok + ".>" }
