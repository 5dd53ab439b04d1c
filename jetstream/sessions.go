package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// Activity sessions (affinity of a session's activities to one worker node).
//
// A session item (an ActivityExecute with a SessionID) is published like any other
// activity, on its tag's subject, and reaches some node through the tag's shared
// durable consumer. That node routes it by the session's lease in the <NS>_SESSIONS
// KV bucket (key s.<tag token>.<session token>, value: the owner):
//
//   - leased to this node: run it here;
//   - leased to another live node: forward it to that node's own subject
//     <ns>.work.n<owner token>.<id>.<exec>.<n> (one durable consumer per node,
//     "work-n<owner token>"), then ack the original;
//   - not leased, or the lease expired, or its owner is known dead: claim it with a
//     compare-and-set write (create, or update at the read revision: one concurrent
//     claimant wins, the others read again) and run it here; at the cap
//     (MaxSessions) give it back instead: republish it on its tag subject and pause
//     the puller briefly, so a node with room claims it.
//
// The owner heartbeats (compare-and-set updates) the leases of its sessions that are
// not idle, and its node key n.<owner token>, every third of the lock timeout. A
// lease is expired when its last write is older than the lock timeout, judged with
// the server's timestamps (this node's heartbeat timestamp plus the monotonic time
// since it was read). A session idle for longer than the idle timeout (nothing
// routed to it, nothing running) is released: its lease is deleted, and another node
// may claim it. A node whose key is older than the lock timeout (or marked gone by a
// clean shutdown) is dead: its leases count as expired, and every live node that sees
// messages left on the dead node's subject binds that node's durable consumer and
// routes them again (items the dead node was running come back after their AckWait).
//
// Moving a message (forward, give back, takeover) republishes it with the
// deduplication id mv:<stream sequence> and a Duroxide-Runs header counting the
// deliveries of earlier copies that may have run it, so poison detection keeps
// counting across moves; the original is acked after the publish is acknowledged.
// Sessions are keyed by tag and id: a session whose activities use several tags has
// one owner per tag pool.

// SessionConfig enables activity sessions on a [Store] (see [Store.EnableSessions]).
type SessionConfig struct {
	// Owner is this node's identity as a session owner. Nodes with the same owner
	// share its sessions (and its consumer). Required.
	Owner string
	// MaxSessions caps the sessions this node owns at once. Required (> 0).
	MaxSessions int
	// LockTimeout is the session lease: a lease not renewed for this long expires.
	LockTimeout time.Duration
	// IdleTimeout releases a session with nothing routed to it and nothing running
	// for this long.
	IdleTimeout time.Duration
}

const hdrRuns = "Duroxide-Runs"

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
	takeovers map[string]jetstream.MessagesContext
	pause     time.Duration // pacing after a give-back
}

type ownedSession struct {
	rev     uint64
	running int
	last    time.Time
}

type sessionLease struct {
	Owner string `json:"owner"`
	Gone  bool   `json:"gone,omitempty"`
}

// EnableSessions turns on session routing. Call it after [Open] and before the first
// FetchWorkItem. Without it, session items run on whichever node pulls them. It
// returns an error naming the field for an empty Owner, a MaxSessions below 1, or a
// non-positive timeout.
func (s *Store) EnableSessions(cfg SessionConfig) error {
	switch {
	case cfg.Owner == "":
		return fmt.Errorf("jetstream: sessions: Owner is empty")
	case cfg.MaxSessions < 1:
		return fmt.Errorf("jetstream: sessions: MaxSessions is %d, it must be at least 1", cfg.MaxSessions)
	case cfg.LockTimeout <= 0:
		return fmt.Errorf("jetstream: sessions: LockTimeout is %v, it must be positive", cfg.LockTimeout)
	case cfg.IdleTimeout <= 0:
		return fmt.Errorf("jetstream: sessions: IdleTimeout is %v, it must be positive", cfg.IdleTimeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, stop := context.WithCancel(context.Background())
	s.sess = &sessionMgr{cfg: cfg, ownerTok: EncodeToken(cfg.Owner), ctx: ctx, stop: stop, owned: map[string]*ownedSession{},
		dead: map[string]bool{}, takeovers: map[string]jetstream.MessagesContext{}}
	return nil
}

// SessionOwner returns the configured session owner ("" without sessions).
func (s *Store) SessionOwner() string {
	if s.sess == nil {
		return ""
	}
	return s.sess.cfg.Owner
}

// OwnedSessions returns the ids of the sessions this node holds, as "<tag>/<id>"
// for tagged sessions and "<id>" otherwise, in no particular order.
func (s *Store) OwnedSessions() []string {
	m := s.sess
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
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

// startSessions binds the sessions bucket, writes the first node heartbeat and binds
// this node's own consumer. Called once from startWorkConsumers.
func (s *Store) startSessions(ctx context.Context) (jetstream.MessagesContext, error) {
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
	return s.consumeNode(ctx, m.ownerTok)
}

// consumeNode binds the durable consumer of an owner's subject.
func (s *Store) consumeNode(ctx context.Context, ownerTok string) (jetstream.MessagesContext, error) {
	name := "work-n" + ownerTok
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
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.WorkPrefetch))
	if err != nil {
		return nil, fmt.Errorf("jetstream: consume %s: %w", name, err)
	}
	return it, nil
}

// serverNow estimates the server's clock: our last heartbeat's server timestamp plus
// the monotonic time since we read it.
func (m *sessionMgr) serverNow() time.Time { return m.hbServer.Add(time.Since(m.hbLocal)) }

// sessionHeartbeat writes this node's key (gone: a clean shutdown) and reads back its
// server timestamp.
func (s *Store) sessionHeartbeat(ctx context.Context, gone bool) error {
	m := s.sess
	key := "n." + m.ownerTok
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner, Gone: gone})
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

// runSessions heartbeats owned sessions, releases idle ones and takes over the
// subjects of dead nodes, until the store closes.
func (s *Store) runSessions() {
	defer s.wg.Done()
	m := s.sess
	tick := time.NewTicker(max(m.cfg.LockTimeout/3, 20*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.closed:
			m.stop()
			s.releaseSessions()
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, max(m.cfg.LockTimeout, 2*time.Second))
		if err := s.sessionHeartbeat(ctx, false); err != nil && !s.isClosed() {
			s.log.Warn("session heartbeat", "err", err)
		}
		s.renewSessions(ctx)
		if err := s.scanSessionNodes(ctx); err != nil && !s.isClosed() {
			s.log.Warn("session owners scan", "err", err)
		}
		cancel()
	}
}

// renewSessions extends the leases of busy sessions and releases idle ones.
func (s *Store) renewSessions(ctx context.Context) {
	m := s.sess
	type job struct {
		key     string
		rev     uint64
		release bool
	}
	var jobs []job
	m.mu.Lock()
	for k, o := range m.owned {
		idle := o.running == 0 && time.Since(o.last) > m.cfg.IdleTimeout
		jobs = append(jobs, job{k, o.rev, idle})
	}
	m.mu.Unlock()
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner})
	for _, j := range jobs {
		if j.release {
			m.mu.Lock()
			if o := m.owned[j.key]; o != nil && o.running == 0 && o.rev == j.rev {
				delete(m.owned, j.key)
			} else {
				m.mu.Unlock()
				continue
			}
			m.mu.Unlock()
			_ = m.kv.Delete(ctx, j.key, jetstream.LastRevision(j.rev))
			s.log.Debug("session released (idle)", "key", j.key, "owner", m.cfg.Owner)
			continue
		}
		rev, err := m.kv.Update(ctx, j.key, val, j.rev)
		lost := errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
		m.mu.Lock()
		if o := m.owned[j.key]; o != nil && o.rev == j.rev {
			switch {
			case lost:
				// Someone else claimed it (our lease had expired): let it go.
				delete(m.owned, j.key)
				s.log.Warn("session lease lost to another owner", "key", j.key, "owner", m.cfg.Owner)
			case err == nil:
				o.rev = rev
			}
		}
		m.mu.Unlock()
		if err != nil && !lost && !s.isClosed() {
			s.log.Warn("renew session lease", "key", j.key, "err", err)
		}
	}
}

// releaseSessions hands every owned session back on a clean shutdown and marks this
// node gone, so other nodes take over its subject at once.
func (s *Store) releaseSessions() {
	m := s.sess
	if m.kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.mu.Lock()
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
		m.mu.Lock()
		age := m.serverNow().Sub(e.Created())
		dead := v.Gone || age > m.cfg.LockTimeout
		m.dead[tok] = dead
		it := m.takeovers[tok]
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
		case dead && pending > 0 && it == nil:
			it, err := s.consumeNode(ctx, tok)
			if err != nil {
				return err
			}
			s.mu.Lock()
			if s.isClosed() {
				s.mu.Unlock()
				it.Stop()
				return nil
			}
			s.iters = append(s.iters, it)
			s.wg.Add(1)
			go s.pumpWork(it)
			s.mu.Unlock()
			m.mu.Lock()
			m.takeovers[tok] = it
			m.mu.Unlock()
			s.log.Info("taking over a dead session owner's work", "owner", v.Owner, "pending", pending)
		case it != nil && (!dead || pending == 0):
			it.Stop()
			m.mu.Lock()
			delete(m.takeovers, tok)
			m.mu.Unlock()
		case dead && pending == 0 && age > 20*m.cfg.LockTimeout:
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
// this node runs it (the session is claimed or held; the caller hands it to a
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
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner})
	for try := 0; try < 5; try++ {
		m.mu.Lock()
		if o := m.owned[key]; o != nil {
			o.running++
			o.last = time.Now()
			m.pause = 0
			m.mu.Unlock()
			return true, 0
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
			live := !m.dead[tok] && m.serverNow().Sub(e.Created()) <= m.cfg.LockTimeout
			m.mu.Unlock()
			if live && v.Owner == m.cfg.Owner {
				// Ours (a restart with the same owner id, or a claim by another
				// store with our id): adopt it.
				m.mu.Lock()
				if m.owned[key] == nil {
					m.owned[key] = &ownedSession{rev: e.Revision()}
				}
				m.mu.Unlock()
				continue
			}
			if live {
				return false, s.moveWork(msg, md, item, s.subj.nodeWork(tok, EncodeToken(item.Instance), item.ExecutionID, item.ID))
			}
			rev = e.Revision()
		}
		// Unowned or expired: claim it if there is room.
		m.mu.Lock()
		if len(m.owned)+m.reserved >= m.cfg.MaxSessions {
			m.mu.Unlock()
			return false, s.giveBack(msg, md, item)
		}
		m.reserved++
		m.mu.Unlock()
		var nrev uint64
		if rev == 0 {
			nrev, err = m.kv.Create(ctx, key, val)
		} else {
			nrev, err = m.kv.Update(ctx, key, val, rev)
		}
		m.mu.Lock()
		m.reserved--
		if err == nil {
			m.owned[key] = &ownedSession{rev: nrev, running: 1, last: time.Now()}
			m.pause = 0
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

// giveBack republishes an item this node cannot take (at the session cap, or a tag
// it does not serve) on its tag subject, and returns how long the puller should
// pause (doubling from 20ms up to 1s while it keeps giving items back).
func (s *Store) giveBack(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem) time.Duration {
	s.moveWork(msg, md, item, s.subj.work(item.Tag, EncodeToken(item.Instance), item.ExecutionID, item.ID))
	m := s.sess
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pause = min(max(2*m.pause, 20*time.Millisecond), time.Second)
	return m.pause
}

// moveWork republishes msg on subject (keeping its data, counting the deliveries of
// earlier copies in the Duroxide-Runs header) and acks the original. On a failed
// publish the original is nak'ed with a short delay instead. It returns 0.
func (s *Store) moveWork(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem, subject string) time.Duration {
	ctx, cancel := context.WithTimeout(s.sess.ctx, 5*time.Second)
	defer cancel()
	nm := nats.NewMsg(subject)
	nm.Data = msg.Data()
	nm.Header.Set(hdrRuns, strconv.Itoa(priorRuns(msg)+int(md.NumDelivered)-1))
	nm.Header.Set(nats.MsgIdHdr, fmt.Sprintf("mv:%d", md.Sequence.Stream))
	if _, err := s.js.PublishMsg(ctx, nm); err != nil {
		s.log.Warn("move session work item", "instance", item.Instance, "session", item.SessionID, "to", subject, "err", err)
		_ = msg.NakWithDelay(100 * time.Millisecond)
		return 0
	}
	_ = msg.Ack()
	return 0
}

// sessionTouched records activity of a running session item: a renewal (done
// false) or its end (done true).
func (s *Store) sessionTouched(wl *workLease, done bool) {
	m := s.sess
	if m == nil || !wl.session {
		return
	}
	key := sessionKey(wl.item.Tag, wl.item.SessionID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if o := m.owned[key]; o != nil {
		o.last = time.Now()
		if done && o.running > 0 {
			o.running--
		}
	}
}
