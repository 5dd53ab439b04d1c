package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A session owner's liveness: the heartbeat of its owner key, the durable consumer of
// its own subject, and the takeover of the subjects of dead owners (see sessions.go
// for the whole design).

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
