package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ActivityRef names one scheduled activity: the instance, the execution that
// scheduled it, its ActivityScheduled event id and that event's time (which tells it
// apart from an activity of a recreated instance with the same id).
type ActivityRef struct {
	Instance      string `json:"instance"`
	ExecutionID   uint64 `json:"execution_id"`
	ID            uint64 `json:"id"`
	ScheduledAtMs int64  `json:"scheduled_at_ms,omitempty"`
}

// CancelSubjectAll is the core NATS subject filter of activity cancellation signals
// (<ns>.cancel.<id>). Workers subscribe to it; see [Store.CancelActivities].
func (s *Store) CancelSubjectAll() string { return s.subj.ns + ".cancel.>" }

// CancelActivities cancels activities of one instance after the turn that cancelled
// them has committed. It removes their work items that no worker has finished
// (purging ns.work.*.<id>.<exec>.<n>, whatever the tag) and then pushes one signal on
// the core NATS subject <ns>.cancel.<id> (payload: the refs as JSON), so a worker
// running one of them cancels it at once instead of at its next lock renewal.
//
// Both steps are best effort: a work item redelivered later, or a signal that reached
// no one, only costs a run whose result the orchestration ignores (the future was
// cancelled). It returns the first error met, after trying every step.
func (s *Store) CancelActivities(ctx context.Context, instance string, refs []ActivityRef) error {
	if len(refs) == 0 {
		return nil
	}
	enc := EncodeToken(instance)
	var errs []error
	for _, r := range refs {
		subj := fmt.Sprintf("%s.work.*.%s.%d.%d", s.subj.ns, enc, r.ExecutionID, r.ID)
		if err := s.work.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			errs = append(errs, fmt.Errorf("jetstream: purge work %s: %w", subj, err))
		}
	}
	data, err := json.Marshal(refs)
	if err == nil {
		err = s.nc.Publish(s.subj.ns+".cancel."+enc, data)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("jetstream: signal cancellation of %q: %w", instance, err))
	}
	return errors.Join(errs...)
}
