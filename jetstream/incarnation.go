package jetstream

import (
	"context"
	"fmt"
	"time"

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
//   - a StartOrchestration or CancelInstance whose origin incarnation is gone is
//     dropped: it creates or cancels nothing;
//   - a worker drops an activity whose incarnation is gone instead of running it
//     (claimWork), and an activity's completion carries the incarnation of its work
//     item (AckWorkItem).
//
// Deleting purges the history first, so once DeleteInstanceData returns, every
// check of the deleted incarnation fails.

// stampOutbox returns copies of a commit's work items and orchestrator items stamped
// with the incarnations they belong to: inc for the instance's own items, parentInc
// for sub-orchestration results to parent, and the origin for the starts and
// cancellations of other instances.
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
			case (it.Type == store.StartOrchestration || it.Type == store.CancelInstance) && inc != "":
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

// currentIncarnation reads an instance's incarnation from the header of its last
// history record (HeaderIncarnation; none on records from before incarnations), on
// the stream leader. exists is false when the instance has no history.
func (s *Store) currentIncarnation(ctx context.Context, instance string) (inc string, exists bool, err error) {
	sm, err := s.lastMsg(ctx, EncodeToken(instance))
	if sm == nil || err != nil {
		return "", false, err
	}
	return sm.inc, true, nil
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
		// A start creates an instance and a cancel ends one: neither may come from an
		// incarnation that no longer exists (a parent deleted before it dispatched).
		if reasons[i] == "" && it.OriginIncarnation != "" &&
			(it.Type == store.StartOrchestration && !st.exists || it.Type == store.CancelInstance) {
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
// forced delete or a cancelling turn (on any node) purges it. It asks the stream
// leader: a direct get may be answered by a replica that has not stored the item
// yet (a restarted node catching up), and a false "gone" would drop a valid result.
func (s *Store) workEntryExists(ctx context.Context, seq uint64) (bool, error) {
	m, err := LeaderGet(ctx, s.nc, s.subj.workStream(), LeaderGetRequest{Seq: seq})
	if err != nil {
		return false, fmt.Errorf("jetstream: look up work item %d: %w", seq, err)
	}
	return m != nil, nil
}

// aliveMark records that incarnation inc was alive at a read sent at time at.
type aliveMark struct {
	inc string
	at  time.Time
}

// incRead is a read of an instance's incarnation in progress, which concurrent
// checks of items stored before it started share.
type incRead struct {
	at     time.Time
	done   chan struct{}
	inc    string
	exists bool
	err    error
}

// maxAliveMarks bounds the cache of alive incarnations; past it, old marks go.
const maxAliveMarks = 4096

// workAlive reports whether the incarnation of a delivered work item still exists.
// A read that found it alive after the item was stored answers for the item too: the
// delete, which purges history first, began after that read, so the item was
// published before the delete (an in-flight item, as if it had been delivered
// before the delete) rather than by a dispatch that raced it. One read thus serves
// every activity a turn dispatched, even when they are claimed at once. The
// comparison assumes this node's clock is not behind the server's.
func (s *Store) workAlive(ctx context.Context, wl *workLease) (bool, error) {
	inst, inc, stored := wl.item.Instance, wl.item.Incarnation, wl.md.Timestamp
	s.mu.Lock()
	if m, ok := s.aliveIncs[inst]; ok && m.inc == inc && m.at.After(stored) {
		s.mu.Unlock()
		return true, nil
	}
	r, ok := s.incReads[inst]
	if !ok || !r.at.After(stored) {
		r = &incRead{at: time.Now(), done: make(chan struct{})}
		if s.incReads == nil {
			s.incReads = make(map[string]*incRead)
		}
		s.incReads[inst] = r
		s.mu.Unlock()
		r.inc, r.exists, r.err = s.currentIncarnation(ctx, inst)
		s.mu.Lock()
		if s.incReads[inst] == r {
			delete(s.incReads, inst)
		}
		if r.err == nil && r.exists {
			if s.aliveIncs == nil || len(s.aliveIncs) >= maxAliveMarks {
				s.aliveIncs = make(map[string]aliveMark)
			}
			if cur, ok := s.aliveIncs[inst]; !ok || cur.at.Before(r.at) {
				s.aliveIncs[inst] = aliveMark{inc: r.inc, at: r.at}
			}
		}
		close(r.done)
	}
	s.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if r.err != nil {
		return false, r.err
	}
	return r.exists && r.inc == inc, nil
}

// dropDeadWork acks and drops a delivered work item whose incarnation no longer
// exists, and reports whether it did. A failed check hands the item back.
func (s *Store) dropDeadWork(ctx context.Context, wl *workLease) bool {
	alive, err := s.workAlive(ctx, wl)
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
