package jetstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// Incarnations. An instance id can be deleted and created again; each life of the id
// is an incarnation, named by a unique id that the commit creating the instance draws
// and every later record repeats (turnRecord.Inc). Everything a turn sends is stamped
// with the incarnation it belongs to (stampOutbox), and every receiver checks it
// before acting:
//
//   - an inbox message whose Incarnation is not the instance's current one is acked
//     and dropped (dropStale): a completion of a deleted instance never reaches one
//     recreated under the same id, and a timer or continue-as-new dispatched after a
//     forced delete finds no instance to act on;
//   - a StartOrchestration whose origin incarnation is gone creates nothing;
//   - a worker drops an activity whose incarnation is gone instead of running it
//     (claimWork), and an activity's completion carries the incarnation of its work
//     item (AckWorkItem).
//
// Deleting purges the history first, so once DeleteInstanceData returns, every
// check of the deleted incarnation fails.

// stampOutbox returns copies of a commit's work items and orchestrator items stamped
// with the incarnations they belong to: inc for the instance's own items, parentInc
// for sub-orchestration results to parent, and the origin for the starts of other
// instances.
func stampOutbox(instance, inc, parent, parentInc string, work, orch []store.WorkItem) ([]store.WorkItem, []store.WorkItem) {
	var w, o []store.WorkItem
	if len(work) > 0 {
		w = make([]store.WorkItem, len(work))
		for i, it := range work {
			it.Incarnation = ""
			if it.Instance == instance {
				it.Incarnation = inc
			}
			w[i] = it
		}
	}
	if len(orch) > 0 {
		o = make([]store.WorkItem, len(orch))
		for i, it := range orch {
			it.Incarnation, it.Origin, it.OriginIncarnation = "", "", ""
			switch {
			case it.Instance == instance:
				it.Incarnation = inc
			case parent != "" && it.Instance == parent && (it.Type == store.SubOrchCompleted || it.Type == store.SubOrchFailed):
				it.Incarnation = parentInc
			case it.Type == store.StartOrchestration && inc != "":
				it.Origin, it.OriginIncarnation = instance, inc
			}
			o[i] = it
		}
	}
	return w, o
}

// startParentInc returns the parent's incarnation carried by the start message of a
// sub-orchestration being created, or "".
func startParentInc(msgs []inboxMsg) string {
	for _, m := range msgs {
		it := &m.item
		if it.Type == store.StartOrchestration && it.ParentInstance != "" && it.Origin == it.ParentInstance {
			return it.OriginIncarnation
		}
	}
	return ""
}

// currentIncarnation reads an instance's incarnation from its last history record,
// on the stream leader. exists is false when the instance has no history.
func (s *Store) currentIncarnation(ctx context.Context, instance string) (inc string, exists bool, err error) {
	rec, sm, err := s.lastRecord(ctx, s.subj.historyAny(EncodeToken(instance)))
	if sm == nil && err == nil {
		return "", false, nil
	}
	if err != nil {
		return "", sm != nil, err
	}
	return rec.Inc, true, nil
}

// incarnationAlive reports whether incarnation inc of instance still exists. An
// empty inc (a message from a client or from before incarnations) is always alive.
func (s *Store) incarnationAlive(ctx context.Context, instance, inc string) (bool, error) {
	if inc == "" {
		return true, nil
	}
	cur, exists, err := s.currentIncarnation(ctx, instance)
	if err != nil {
		return false, err
	}
	return exists && cur == inc, nil
}

// staleFor reports why a message does not belong to the instance state st ("" if it
// does): its incarnation is not the current one.
func staleFor(it *store.WorkItem, st *instState) string {
	if it.Incarnation == "" || it.Incarnation == st.inc {
		return ""
	}
	if !st.exists {
		return "its instance was deleted"
	}
	return "its instance was deleted and created again"
}

// dropStale removes from msgs the messages of another incarnation of the instance
// and the starts sent by an incarnation that no longer exists, and acks them. ok is
// false when st turned out not to be the instance's latest state: nothing was
// dropped and the caller must load it again.
func (s *Store) dropStale(ctx context.Context, instance string, st *instState, msgs []inboxMsg) (kept []inboxMsg, ok bool, err error) {
	reasons := make([]string, len(msgs))
	any := false
	for i := range msgs {
		it := &msgs[i].item
		reasons[i] = staleFor(it, st)
		if reasons[i] == "" && !st.exists && it.Type == store.StartOrchestration && it.OriginIncarnation != "" {
			alive, err := s.incarnationAlive(ctx, it.Origin, it.OriginIncarnation)
			if err != nil {
				return nil, false, err
			}
			if !alive {
				reasons[i] = fmt.Sprintf("the instance %q that started it was deleted", it.Origin)
			}
		}
		any = any || reasons[i] != ""
	}
	if !any {
		return msgs, true, nil
	}
	// Dropping rests on the instance's latest history, like a fenced commit.
	if current, err := s.isCurrent(ctx, instance, st); err != nil || !current {
		return nil, false, err
	}
	for i, m := range msgs {
		if reasons[i] == "" {
			kept = append(kept, m)
			continue
		}
		s.log.Debug("dropping a message of another incarnation", "instance", instance, "type", m.item.Type,
			"seq", m.seq, "reason", reasons[i])
		_ = m.msg.Ack()
		s.attempts.take(m.seq)
	}
	return kept, true, nil
}

// workEntryExists reports whether the work item at seq is still in the work stream: a
// forced delete or a cancelling turn (on any node) purges it.
func (s *Store) workEntryExists(ctx context.Context, seq uint64) (bool, error) {
	_, err := s.work.GetMsg(ctx, seq)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	}
	return false, fmt.Errorf("jetstream: look up work item %d: %w", seq, err)
}

// dropDeadWork acks and drops a delivered work item whose incarnation no longer
// exists, and reports whether it did. A failed check hands the item back.
func (s *Store) dropDeadWork(ctx context.Context, wl *workLease) bool {
	alive, err := s.incarnationAlive(ctx, wl.item.Instance, wl.item.Incarnation)
	if err != nil {
		s.log.Debug("check the incarnation of a work item", "instance", wl.item.Instance, "err", err)
		handBackWork(wl.msg)
		return true
	}
	if alive {
		return false
	}
	s.log.Debug("dropping an activity of a deleted instance", "instance", wl.item.Instance,
		"execution", wl.item.ExecutionID, "id", wl.item.ID, "activity", wl.item.Name)
	_ = wl.msg.Ack()
	return true
}
