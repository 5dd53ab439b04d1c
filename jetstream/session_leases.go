package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// The session leases the runtime's session manager drives: renewing the leases this
// store holds and cleaning up orphaned ones (see sessions.go for the whole design).

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
