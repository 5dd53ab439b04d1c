package jetstream

import "time"

// DropIdleInstances forgets the cached state (history and consumed sequences) of
// the instances that have had no message and no turn on this node for idle; the
// next turn of one of them reads its history again. It returns how many it dropped.
// The cache is bounded by Config.MaxCachedInstances anyway; this frees it for
// instances that wait long for an event or a timer.
func (s *Store) DropIdleInstances(idle time.Duration) int {
	return s.host.DropIdle(time.Now().Add(-idle))
}

// CachedInstances returns how many instances the store holds in memory (with
// messages waiting, in a turn, or idle with cached state).
func (s *Store) CachedInstances() int { return s.host.Len() }
