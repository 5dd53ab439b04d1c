package memstore

import (
	"context"
	"slices"
	"time"
)

// session is the lease of an activity session.
type session struct {
	id      string
	owner   string
	expires time.Time
	last    time.Time // last activity
}

// RenewSessionLocks implements [store.SessionStore]. It renews the sessions of the
// handle's own owner, when owners names it; nothing to renew is 0 and no error.
func (s *Store) RenewSessionLocks(ctx context.Context, owners []string, extend, idle time.Duration) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if s.owner == "" || !slices.Contains(owners, s.owner) {
		return 0, nil
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	n := 0
	for _, ss := range b.sessions {
		if ss.owner == s.owner && now.Before(ss.expires) && now.Sub(ss.last) < idle {
			ss.expires = now.Add(extend)
			n++
		}
	}
	return n, nil
}

// CleanupOrphanedSessions implements [store.SessionStore].
func (s *Store) CleanupOrphanedSessions(ctx context.Context, idle time.Duration) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	busy := map[string]bool{}
	for _, e := range b.work {
		if !e.removed && e.item.SessionID != "" {
			busy[e.item.SessionID] = true
		}
	}
	n := 0
	for id, ss := range b.sessions {
		if !now.Before(ss.expires) && !busy[id] {
			delete(b.sessions, id)
			n++
		}
	}
	if n > 0 {
		b.notifyLocked()
	}
	return n, nil
}
