package memstore

import "time"

// What a time-skipping harness needs: when the next delayed message becomes
// visible, whether anything is runnable or in flight, and a way to make waiting
// fetches look again after it moved the clock.

// Counts are the sizes of the queues at one instant of the store's clock.
type Counts struct {
	// OrchestratorVisible counts orchestrator-queue messages a fetch could take now
	// (visible, of an instance no lock holds); OrchestratorLocked those of locked
	// instances, lent or waiting for the lock's end; OrchestratorDelayed those not
	// yet visible (timers, delayed or abandoned-with-delay messages).
	OrchestratorVisible, OrchestratorLocked, OrchestratorDelayed int
	// WorkVisible counts work items visible and not fetched; WorkLocked fetched
	// items whose lock has not expired; WorkDelayed items not yet visible
	// (abandoned with a delay).
	WorkVisible, WorkLocked, WorkDelayed int
	// WaitingFetches counts fetch calls (both queues, every handle) waiting for
	// work at this instant.
	WaitingFetches int
}

// Counts returns the queue sizes now (on the store's clock). A message or item
// whose lock expired counts as visible.
func (s *Store) Counts() Counts {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	c := Counts{WaitingFetches: b.waiting}
	for m := range b.allMsgs {
		switch {
		case m.visibleAt.After(now) && m.lease == nil:
			c.OrchestratorDelayed++
		case b.locks[m.instance] != nil && now.Before(b.locks[m.instance].expires):
			c.OrchestratorLocked++
		default:
			c.OrchestratorVisible++
		}
	}
	for _, e := range b.work {
		switch {
		case e.removed:
		case e.lease != nil && now.Before(e.lease.expires):
			c.WorkLocked++
		case e.visibleAt.After(now):
			c.WorkDelayed++
		default:
			c.WorkVisible++
		}
	}
	return c
}

// Idle reports whether nothing can run and nothing is in flight now: no visible
// message or work item, and no lock held on either queue. Only the passage of time
// (see NextDue) or a new enqueue can change that. Items of a session another owner
// holds count as visible.
func (s *Store) Idle() bool {
	c := s.Counts()
	return c.OrchestratorVisible == 0 && c.OrchestratorLocked == 0 && c.WorkVisible == 0 && c.WorkLocked == 0
}

// NextDue returns the earliest time, on the store's clock, at which a message or
// work item that is not visible yet becomes visible (timers, delayed messages,
// items abandoned with a delay), and false when there is none. Lock and session
// lease expiries do not count.
func (s *Store) NextDue() (time.Time, bool) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var due time.Time
	for m := range b.allMsgs {
		if m.lease == nil && m.visibleAt.After(now) {
			due = earliest(due, m.visibleAt)
		}
	}
	for _, e := range b.work {
		if !e.removed && e.lease == nil && e.visibleAt.After(now) {
			due = earliest(due, e.visibleAt)
		}
	}
	return due, !due.IsZero()
}

// Wake makes every waiting fetch of every handle look at the queues again: call it
// after moving a virtual clock, so messages that became due are fetched at once.
func (s *Store) Wake() {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notifyLocked()
}
