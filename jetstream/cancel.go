package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// ActivityRef names one scheduled activity in a cancellation signal (the store's
// type: the JSON of a signal is unchanged).
type ActivityRef = store.ActivityRef

// CancelSubjectAll is the core NATS subject filter of activity cancellation signals
// (<ns>.cancel.<id>). Workers subscribe to it; see [Store.SignalCancelled].
func (s *Store) CancelSubjectAll() string { return s.subj.ns + ".cancel.>" }

// SignalCancelled pushes one signal on the core NATS subject <ns>.cancel.<id>
// (payload: the refs as JSON) after the turn that cancelled the activities has
// committed, so a worker running one of them cancels it at once instead of at its
// next lock renewal. Their work items were already purged by the commit
// ([store.Commit.CancelledActivities]). The signal is best effort: one that reached
// no one only costs a run whose result the orchestration ignores.
func (s *Store) SignalCancelled(instance string, refs []ActivityRef) error {
	if len(refs) == 0 {
		return nil
	}
	data, err := json.Marshal(refs)
	if err == nil {
		err = s.nc.Publish(s.subj.ns+".cancel."+EncodeToken(instance), data)
	}
	if err != nil {
		return fmt.Errorf("jetstream: signal cancellation of %q: %w", instance, err)
	}
	return nil
}

// cancelledMark records one purge of an activity's work items (see
// Store.cancelledWork).
type cancelledMark struct {
	lastSeq uint64    // the work stream's last sequence after the purge
	at      time.Time // when the purge happened
}

// purgeCancelled removes the work items of the activities a committed turn cancelled
// (Commit.CancelledActivities), whatever their tag. This store's own locks on them
// are dropped, so acking or renewing one fails with [store.ErrLockLost], and their
// deliveries still buffered here are not handed out. Activities without a work item
// are ignored.
func (s *Store) purgeCancelled(ctx context.Context, acts []store.ScheduledActivity) error {
	if len(acts) == 0 {
		return nil
	}
	for _, a := range acts {
		subj := fmt.Sprintf("%s.work.*.%s.%d.%d", s.subj.ns, EncodeToken(a.Instance), a.ExecutionID, a.ID)
		if err := s.work.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("jetstream: purge cancelled activity %s: %w", subj, err)
		}
	}
	info, err := s.work.Info(ctx)
	if err != nil {
		return fmt.Errorf("jetstream: cancel activities: %w", err)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelledWork == nil {
		s.cancelledWork = make(map[store.ScheduledActivity]cancelledMark)
	}
	for k, m := range s.cancelledWork {
		if now.Sub(m.at) > 2*s.cfg.WorkAckWait {
			delete(s.cancelledWork, k)
		}
	}
	for _, a := range acts {
		s.cancelledWork[a] = cancelledMark{lastSeq: info.State.LastSeq, at: now}
	}
	for tok, wl := range s.works {
		if _, gone := s.cancelledWork[activityOf(wl.item)]; gone && wl.seq <= info.State.LastSeq {
			delete(s.works, tok)
		}
	}
	return nil
}

func activityOf(w store.WorkItem) store.ScheduledActivity {
	return store.ScheduledActivity{Instance: w.Instance, ExecutionID: w.ExecutionID, ID: w.ID}
}

// wasCancelled reports whether a delivered work item was purged by this store's
// purgeCancelled after it was delivered.
func (s *Store) wasCancelled(wl *workLease) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.cancelledWork[activityOf(wl.item)]
	return ok && wl.seq <= m.lastSeq
}
