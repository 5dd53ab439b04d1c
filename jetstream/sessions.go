package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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

// startSessions binds the sessions bucket, writes the first owner heartbeat and
// returns the binder of this owner's consumer. Called once from startWorkConsumers.
func (s *Store) startSessions(ctx context.Context) (func(context.Context) (jetstream.Consumer, error), error) {
	m := s.sess
	kv, err := s.js.KeyValue(ctx, s.sessionsBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: s.sessionsBucket(), Description: "duroxide activity session leases (s.*) and session owners' heartbeats (n.*)",
			Storage: s.storage(), Replicas: s.work.CachedInfo().Config.Replicas, History: 1,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.js.KeyValue(ctx, s.sessionsBucket())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: sessions bucket: %w", err)
	}
	m.mu.Lock()
	m.kv = kv
	m.mu.Unlock()
	if err := s.sessionHeartbeat(ctx, false); err != nil {
		return nil, err
	}
	bind := s.nodeBinder(m.ownerTok)
	if _, err := bind(ctx); err != nil {
		return nil, err
	}
	return bind, nil
}

// nodeBinder returns the function that binds the durable consumer of an owner's
// subject.
func (s *Store) nodeBinder(ownerTok string) func(context.Context) (jetstream.Consumer, error) {
	name := "work-n" + ownerTok
	return func(ctx context.Context) (jetstream.Consumer, error) {
		cons, err := s.work.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:           name,
			Description:       "duroxide session work of one owner",
			FilterSubject:     s.subj.nodeWorkFilter(ownerTok),
			AckPolicy:         jetstream.AckExplicitPolicy,
			AckWait:           s.cfg.WorkAckWait,
			MaxAckPending:     10000,
			MemoryStorage:     true,
			InactiveThreshold: time.Hour,
		})
		if err != nil {
			return nil, fmt.Errorf("jetstream: session consumer %s: %w", name, err)
		}
		return cons, nil
	}
}

// serverNow estimates the server's clock: our last heartbeat's server timestamp plus
// the monotonic time since we read it.
func (m *sessionMgr) serverNow() time.Time { return m.hbServer.Add(time.Since(m.hbLocal)) }

// sessionHeartbeat writes this owner's key (gone: a clean shutdown) and reads back
// its server timestamp.
func (s *Store) sessionHeartbeat(ctx context.Context, gone bool) error {
	m := s.sess
	key := "n." + m.ownerTok
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner, TTLMs: m.nodeTimeout().Milliseconds(), Gone: gone})
	if _, err := m.kv.Put(ctx, key, val); err != nil {
		return fmt.Errorf("jetstream: session heartbeat: %w", err)
	}
	e, err := m.kv.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("jetstream: session heartbeat read: %w", err)
	}
	m.mu.Lock()
	m.hbServer, m.hbLocal = e.Created(), time.Now()
	m.mu.Unlock()
	return nil
}

// runSessions heartbeats this owner and takes over the subjects of dead owners,
// until the store closes; then it releases the sessions it holds.
func (s *Store) runSessions() {
	defer s.wg.Done()
	m := s.sess
	tick := time.NewTicker(m.nodeTimeout() / 3)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.closed:
			m.stop()
			s.releaseSessions()
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.nodeTimeout())
		if err := s.sessionHeartbeat(ctx, false); err != nil && !s.isClosed() {
			s.log.Warn("session heartbeat", "err", err)
		}
		if err := s.scanSessionNodes(ctx); err != nil && !s.isClosed() {
			s.log.Warn("session owners scan", "err", err)
		}
		cancel()
	}
}

// RenewSessionLocks implements [store.SessionStore]: it extends to now+extend the
// leases this store holds for one of owners that have not expired and have seen
// activity within idle, and returns how many it extended. A lease another owner
// took over (it had expired) is dropped. Without sessions, or for owners that do
// not include this store's owner, it returns 0.
func (s *Store) RenewSessionLocks(ctx context.Context, owners []string, extend, idle time.Duration) (int, error) {
	m := s.sess
	if m == nil || !slices.Contains(owners, m.cfg.Owner) {
		return 0, nil
	}
	type job struct {
		key string
		rev uint64
	}
	var jobs []job
	m.mu.Lock()
	if m.kv == nil {
		m.mu.Unlock()
		return 0, nil
	}
	m.pruneLocked()
	now := time.Now()
	for k, o := range m.owned {
		if now.Sub(o.last) < idle {
			jobs = append(jobs, job{k, o.rev})
		}
	}
	m.mu.Unlock()
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner, TTLMs: max(extend.Milliseconds(), 1)})
	renewed := 0
	var firstErr error
	for _, j := range jobs {
		rev := j.rev
		for try := 0; try < 2; try++ {
			start := time.Now()
			nrev, err := m.kv.Update(ctx, j.key, val, rev)
			if err == nil {
				m.mu.Lock()
				if o := m.owned[j.key]; o != nil {
					o.rev, o.expires = nrev, start.Add(extend)
				}
				m.mu.Unlock()
				renewed++
				break
			}
			if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) &&
				!errors.Is(err, jetstream.ErrKeyNotFound) {
				if firstErr == nil {
					firstErr = fmt.Errorf("jetstream: renew session lease %s: %w", j.key, err)
				}
				break
			}
			// The lease changed: still ours (another store with our owner renewed
			// it, or our revision was stale)? Then renew at its revision.
			e, gerr := m.kv.Get(ctx, j.key)
			var v sessionLease
			if gerr == nil {
				_ = json.Unmarshal(e.Value(), &v)
			}
			m.mu.Lock()
			ours := gerr == nil && v.Owner == m.cfg.Owner && m.serverNow().Before(e.Created().Add(v.ttl(m.cfg.LockTimeout)))
			if !ours {
				delete(m.owned, j.key)
				m.mu.Unlock()
				s.log.Debug("session lease lost to another owner", "key", j.key, "owner", m.cfg.Owner)
				break
			}
			m.mu.Unlock()
			rev = e.Revision()
		}
	}
	return renewed, firstErr
}

// CleanupOrphanedSessions implements [store.SessionStore]: it deletes the leases
// (of any owner) that have expired and whose session has no work item left in the
// work stream (waiting, running or forwarded), and returns how many it deleted. A
// lease written again meanwhile is kept (the delete is conditional on its
// revision). idle is accepted for the contract: an idle session is not renewed, so
// its lease has expired by the time it matters.
func (s *Store) CleanupOrphanedSessions(ctx context.Context, idle time.Duration) (int, error) {
	kv, err := s.js.KeyValue(ctx, s.sessionsBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: sessions bucket: %w", err)
	}
	w, err := kv.WatchFiltered(ctx, []string{"s.>"}, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("jetstream: list session leases: %w", err)
	}
	var leases []jetstream.KeyValueEntry
	for e := range w.Updates() {
		if e == nil {
			break
		}
		leases = append(leases, e)
	}
	_ = w.Stop()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(leases) == 0 {
		return 0, nil
	}
	info, err := s.work.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: work stream info: %w", err)
	}
	now := info.TimeStamp
	if now.IsZero() {
		now = time.Now()
	}
	def := 30 * time.Second
	if s.sess != nil {
		def = s.sess.cfg.LockTimeout
	}
	var expired []jetstream.KeyValueEntry
	for _, e := range leases {
		var v sessionLease
		_ = json.Unmarshal(e.Value(), &v)
		if !now.Before(e.Created().Add(v.ttl(def))) {
			expired = append(expired, e)
		}
	}
	if len(expired) == 0 {
		return 0, nil
	}
	msgs, err := s.readSubject(ctx, s.subj.workStream(), s.subj.workAll(), 1)
	if err != nil {
		return 0, err
	}
	pending := map[string]bool{}
	for _, sm := range msgs {
		var item store.WorkItem
		if json.Unmarshal(sm.data, &item) == nil && item.SessionID != "" {
			pending[sessionKey(item.Tag, item.SessionID)] = true
		}
	}
	n := 0
	for _, e := range expired {
		if pending[e.Key()] {
			continue
		}
		err := kv.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
		switch {
		case err == nil:
			n++
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			// Claimed or renewed since it was read.
		default:
			return n, fmt.Errorf("jetstream: delete session lease %s: %w", e.Key(), err)
		}
	}
	return n, nil
}

// releaseSessions hands every held session back on a clean shutdown and marks this
// owner gone, so other stores take over its subject at once.
func (s *Store) releaseSessions() {
	m := s.sess
	if m.kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.mu.Lock()
	m.pruneLocked()
	owned := m.owned
	m.owned = map[string]*ownedSession{}
	m.mu.Unlock()
	for k, o := range owned {
		_ = m.kv.Delete(ctx, k, jetstream.LastRevision(o.rev))
	}
	_ = s.sessionHeartbeat(ctx, true)
}

// scanSessionNodes finds dead session owners and takes over their subjects while
// messages are left on them.
func (s *Store) scanSessionNodes(ctx context.Context) error {
	m := s.sess
	keys, err := m.kv.ListKeysFiltered(ctx, "n.*")
	if err != nil {
		return fmt.Errorf("list session owners: %w", err)
	}
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	for _, k := range names {
		tok := strings.TrimPrefix(k, "n.")
		if tok == m.ownerTok {
			continue
		}
		e, err := m.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read session owner %s: %w", k, err)
		}
		var v sessionLease
		_ = json.Unmarshal(e.Value(), &v)
		timeout := v.ttl(m.nodeTimeout())
		m.mu.Lock()
		age := m.serverNow().Sub(e.Created())
		dead := v.Gone || age > timeout
		m.dead[tok] = dead
		stop := m.takeovers[tok]
		m.mu.Unlock()
		pending := 0
		if dead {
			info, err := s.work.Info(ctx, jetstream.WithSubjectFilter(s.subj.nodeWorkFilter(tok)))
			if err != nil {
				return fmt.Errorf("session owner %s pending work: %w", k, err)
			}
			pending = int(info.State.Msgs)
		}
		switch {
		case dead && pending > 0 && stop == nil:
			bind := s.nodeBinder(tok)
			if _, err := bind(ctx); err != nil {
				return err
			}
			ch := make(chan struct{})
			s.mu.Lock()
			if s.isClosed() {
				s.mu.Unlock()
				return nil
			}
			s.wg.Add(1)
			go s.pumpWork(bind, "", ch)
			s.mu.Unlock()
			m.mu.Lock()
			m.takeovers[tok] = sync.OnceFunc(func() { close(ch) })
			m.mu.Unlock()
			s.log.Info("taking over a dead session owner's work", "owner", v.Owner, "pending", pending)
		case stop != nil && (!dead || pending == 0):
			stop()
			m.mu.Lock()
			delete(m.takeovers, tok)
			m.mu.Unlock()
		case dead && pending == 0 && age > 20*timeout:
			_ = m.kv.Delete(ctx, k, jetstream.LastRevision(e.Revision()))
		}
	}
	return nil
}

// priorRuns reads the Duroxide-Runs header of a moved message.
func priorRuns(m jetstream.Msg) int {
	if h := m.Headers(); h != nil {
		if n, err := strconv.Atoi(h.Get(hdrRuns)); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// servesTag reports whether this store's worker pulls activities tagged tag.
func (s *Store) servesTag(tag string) bool {
	for _, t := range s.cfg.WorkTags {
		if t == tag || t == AnyWorkTag {
			return true
		}
	}
	return false
}

// routeSession decides where a delivered session item runs. It returns true when
// this store runs it (the session is claimed or held; the caller hands it to a
// fetch), and otherwise the message has been moved (or nak'ed) and the caller pauses
// for the returned duration before pulling on.
func (s *Store) routeSession(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem) (bool, time.Duration) {
	m := s.sess
	key := sessionKey(item.Tag, item.SessionID)
	if !s.servesTag(item.Tag) {
		return false, s.giveBack(msg, md, item)
	}
	ctx, cancel := context.WithTimeout(m.ctx, max(m.cfg.LockTimeout, 2*time.Second))
	defer cancel()
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner, TTLMs: max(m.cfg.LockTimeout.Milliseconds(), 1)})
	for try := 0; try < 5; try++ {
		m.mu.Lock()
		if o := m.owned[key]; o != nil {
			if time.Now().Before(o.expires) {
				o.last = time.Now()
				m.mu.Unlock()
				return true, 0
			}
			delete(m.owned, key) // expired: read it again, and claim it anew
		}
		m.mu.Unlock()
		e, err := m.kv.Get(ctx, key)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			s.log.Warn("read session lease", "key", key, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return false, 0
		default:
			var v sessionLease
			_ = json.Unmarshal(e.Value(), &v)
			tok := EncodeToken(v.Owner)
			m.mu.Lock()
			left := e.Created().Add(v.ttl(m.cfg.LockTimeout)).Sub(m.serverNow())
			live := !m.dead[tok] && left > 0
			if live && v.Owner == m.cfg.Owner {
				// Ours (a restart with the same owner id, or a claim by another
				// store with our id): adopt it.
				m.owned[key] = &ownedSession{rev: e.Revision(), expires: time.Now().Add(left), last: time.Now()}
				m.mu.Unlock()
				continue
			}
			m.mu.Unlock()
			if live {
				return false, s.moveWork(msg, md, item, s.subj.nodeWork(tok, EncodeToken(item.Instance), item.ExecutionID, item.ID))
			}
			rev = e.Revision()
		}
		// Unowned or expired: claim it if a fetch is waiting for an item (a session
		// is claimed by a fetch, as in duroxide: an item pulled for a call that is
		// gone does not claim) and there is room.
		if s.demand.waiting() == 0 {
			return false, s.giveBack(msg, md, item)
		}
		m.mu.Lock()
		m.pruneLocked()
		if len(m.owned)+m.reserved >= m.cfg.MaxSessions {
			m.mu.Unlock()
			return false, s.giveBack(msg, md, item)
		}
		m.reserved++
		m.mu.Unlock()
		start := time.Now()
		var nrev uint64
		if rev == 0 {
			nrev, err = m.kv.Create(ctx, key, val)
		} else {
			nrev, err = m.kv.Update(ctx, key, val, rev)
		}
		m.mu.Lock()
		m.reserved--
		if err == nil {
			m.owned[key] = &ownedSession{rev: nrev, expires: start.Add(m.cfg.LockTimeout), last: time.Now()}
			m.mu.Unlock()
			s.log.Debug("session claimed", "session", item.SessionID, "tag", item.Tag, "owner", m.cfg.Owner)
			return true, 0
		}
		m.mu.Unlock()
		// Another claimant won (or the lease changed): read it again.
	}
	_ = msg.NakWithDelay(100 * time.Millisecond)
	return false, 0
}

// giveBack republishes an item this store cannot take (at the session cap, a tag it
// does not serve, or a session item in a store without sessions) on its tag
// subject, and returns how long the puller should pause (doubling from 20ms up to 1s
// while it keeps giving items back).
func (s *Store) giveBack(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem) time.Duration {
	s.moveWork(msg, md, item, s.subj.work(item.Tag, EncodeToken(item.Instance), item.ExecutionID, item.ID))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.givePause = min(max(2*s.givePause, 20*time.Millisecond), time.Second)
	return s.givePause
}

// resetGiveBackPause ends the give-back pacing once an item is handed out.
func (s *Store) resetGiveBackPause() {
	s.mu.Lock()
	s.givePause = 0
	s.mu.Unlock()
}

// moveWork republishes msg on subject (keeping its data, counting the deliveries of
// earlier copies that may have run it in the Duroxide-Runs header) and acks the
// original. On a failed publish the original is nak'ed with a short delay instead.
// It returns 0.
func (s *Store) moveWork(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem, subject string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	runs := max(0, priorRuns(msg)+int(md.NumDelivered)-1-s.ignoredDeliveries(md.Sequence.Stream))
	recorded, rec := s.recordedRuns(ctx, runWork, md.Sequence.Stream)
	runs = max(runs, recorded)
	nm := nats.NewMsg(subject)
	nm.Data = msg.Data()
	nm.Header.Set(hdrRuns, strconv.Itoa(runs))
	nm.Header.Set(nats.MsgIdHdr, fmt.Sprintf("mv:%d", md.Sequence.Stream))
	if _, err := s.js.PublishMsg(ctx, nm); err != nil {
		s.log.Warn("move work item", "instance", item.Instance, "session", item.SessionID, "to", subject, "err", err)
		_ = msg.NakWithDelay(100 * time.Millisecond)
		return 0
	}
	s.forgetIgnored(md.Sequence.Stream)
	_ = msg.Ack()
	s.forgetRun(runWork, md.Sequence.Stream, rec)
	return 0
}

// sessionTouched records activity of a session item (fetched, renewed, acked or
// abandoned): the session is not idle.
func (s *Store) sessionTouched(wl *workLease) {
	m := s.sess
	if m == nil || !wl.session {
		return
	}
	key := sessionKey(wl.item.Tag, wl.item.SessionID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if o := m.owned[key]; o != nil {
		o.last = time.Now()
	}
}
