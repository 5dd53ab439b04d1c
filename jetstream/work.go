package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// workLease is a delivered, locked work item.
type workLease struct {
	msg     jetstream.Msg
	md      *jetstream.MsgMetadata
	item    store.WorkItem
	attempt int
	token   string
	session bool // routed as a session item (sessions.go)
	seq     uint64
	runRec  uint64 // its attempt record in the runs stream (runs.go)
	// deadline (Unix nanoseconds) is when the broker will redeliver the item unless
	// the lock is renewed (delivery + WorkAckWait). Past it the lease is lost: ack and
	// renew fail, so a worker never completes an item another worker may already be
	// running. Renewals run beside the activity, hence atomic.
	deadline atomic.Int64
}

func (wl *workLease) expired() bool { return time.Now().UnixNano() > wl.deadline.Load() }

// AnyWorkTag in Config.WorkTags makes the store pull every activity, whatever its
// tag. It is not a tag name (it holds a NUL byte, which tags may not).
//
// A work-queue stream does not allow two consumers with overlapping filters, so
// "any" cannot be one consumer on the whole work subject space while other nodes
// have per-tag consumers. Instead an any-node binds the untagged consumer and then,
// about once a second, looks at the tag tokens present in the work stream and binds
// the same durable per-tag consumer ("work-t<tag>") that nodes with that tag use:
// one consumer per tag, shared by every node that serves it.
const AnyWorkTag = "\x00any"

// anyTagScan is how often an any-node looks for new tags in the work stream.
const anyTagScan = time.Second

// startWorkConsumers binds one durable consumer per configured tag (and, with
// sessions, this node's own consumer) and starts their pumps.
func (s *Store) startWorkConsumers(ctx context.Context) error {
	return s.workStarter.run(func() error {
		if h := s.cfg.Hooks.StartingConsumers; h != nil {
			h()
		}
		var binds []func(context.Context) (jetstream.Consumer, error)
		var filters []string
		anyTag := false
		for _, tag := range s.cfg.WorkTags {
			if tag == AnyWorkTag {
				anyTag = true
				tag = ""
			}
			bind := s.workTagBinder(tag)
			if _, err := bind(ctx); err != nil {
				return err
			}
			binds = append(binds, bind)
			filters = append(filters, s.subj.workFilter(tag))
		}
		if s.sess != nil {
			bind, err := s.startSessions(ctx)
			if err != nil {
				return err
			}
			binds = append(binds, bind)
			filters = append(filters, "")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.isClosed() {
			return store.ErrClosed
		}
		for i, bind := range binds {
			s.wg.Add(1)
			go s.pumpWork(bind, filters[i], nil)
		}
		if s.sess != nil {
			s.wg.Add(1)
			go s.runSessions()
		}
		if anyTag {
			s.wg.Add(1)
			go s.scanWorkTags()
		}
		return nil
	})
}

// workTagBinder returns the function that binds (creating it if needed) the
// durable consumer of one tag ("" = untagged).
func (s *Store) workTagBinder(tag string) func(context.Context) (jetstream.Consumer, error) {
	name := "work-default"
	if tag != "" {
		name = "work-t" + EncodeToken(tag)
	}
	return func(ctx context.Context) (jetstream.Consumer, error) {
		cons, err := s.work.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "duroxide activity workers, tag " + tag,
			FilterSubject: s.subj.workFilter(tag),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.cfg.WorkAckWait,
			MaxAckPending: 10000,
			MemoryStorage: true, // see startInboxConsumers
		})
		if err != nil {
			return nil, fmt.Errorf("jetstream: work consumer %s: %w", name, err)
		}
		return cons, nil
	}
}

// scanWorkTags is the any-node's tag discovery (see [AnyWorkTag]).
func (s *Store) scanWorkTags() {
	defer s.wg.Done()
	known := map[string]bool{}
	t := time.NewTicker(anyTagScan)
	defer t.Stop()
	prefix := s.subj.ns + ".work."
	for {
		ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
		info, err := s.work.Info(ctx, jetstream.WithSubjectFilter(prefix+"*.>"))
		if err == nil {
			for subj := range info.State.Subjects {
				tok, _, _ := strings.Cut(strings.TrimPrefix(subj, prefix), ".")
				if !strings.HasPrefix(tok, "t") || known[tok] {
					continue
				}
				tag, derr := DecodeToken(tok[1:])
				if derr != nil {
					continue
				}
				bind := s.workTagBinder(tag)
				if _, cerr := bind(ctx); cerr != nil {
					s.log.Warn("bind work consumer for discovered tag", "tag", tag, "err", cerr)
					continue
				}
				s.mu.Lock()
				if s.isClosed() {
					s.mu.Unlock()
					cancel()
					return
				}
				known[tok] = true
				s.wg.Add(1)
				go s.pumpWork(bind, s.subj.workFilter(tag), nil)
				s.mu.Unlock()
			}
		}
		cancel()
		select {
		case <-t.C:
		case <-s.closed:
			return
		}
	}
}

// deliverWork hands one pulled item to a waiting FetchWorkItem call. Session items
// are routed first (sessions.go): only those whose session this store holds are
// handed on. A store without sessions gives session items back (duroxide's fetch
// with no session configuration skips them). It returns how long the pump should
// pause before pulling again (after a give-back).
func (s *Store) deliverWork(m jetstream.Msg) time.Duration {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return 0
	}
	var item store.WorkItem
	if err := json.Unmarshal(m.Data(), &item); err != nil || item.Type != store.ActivityExecute {
		s.log.Warn("dropping malformed work item", "subject", m.Subject(), "seq", md.Sequence.Stream)
		_ = m.TermWithReason("malformed work item")
		return 0
	}
	readTraceHeaders(m.Headers(), &item)
	if s.isClosed() {
		handBackWork(m)
		return 0
	}
	wl := &workLease{msg: m, md: md, item: item, token: newID(), seq: md.Sequence.Stream,
		attempt: max(1, priorRuns(m)+int(md.NumDelivered)-s.ignoredDeliveries(md.Sequence.Stream))}
	wl.deadline.Store(time.Now().Add(s.cfg.WorkAckWait).UnixNano())
	if item.SessionID != "" {
		if s.sess == nil {
			return s.giveBack(m, md, &item)
		}
		run, pause := s.routeSession(m, md, &item)
		if !run {
			return pause
		}
		wl.session = true
	}
	hold := time.NewTimer(s.holdLimit())
	defer hold.Stop()
	select {
	case s.workCh <- wl:
		s.demand.done() // that call is served: pull no more for it
		s.resetGiveBackPause()
	case <-hold.C:
		// No call took it: give it back rather than keep it from other stores.
		if !wl.expired() {
			subject := s.subj.work(item.Tag, EncodeToken(item.Instance), item.ExecutionID, item.ID)
			if wl.session {
				subject = s.subj.nodeWork(s.sess.ownerTok, EncodeToken(item.Instance), item.ExecutionID, item.ID)
			}
			s.moveWork(m, md, &item, subject)
		}
	case <-s.closed:
		// Closing: what was pulled goes back to the broker.
		handBackWork(m)
	}
	return 0
}

// claimWork registers a delivered item as fetched, unless its lock ran out while it
// waited, its activity was cancelled since, or its instance's incarnation is gone
// (then the item is dropped).
func (s *Store) claimWork(ctx context.Context, wl *workLease) *store.WorkLease {
	if wl.expired() {
		return nil // waited past its lock: the broker hands it out again
	}
	if s.wasCancelled(wl) {
		return nil // purged since its delivery (Commit.CancelledActivities)
	}
	if wl.item.Incarnation != "" && s.dropDeadWork(ctx, wl) {
		return nil // its instance was deleted (incarnation.go)
	}
	// Count the attempt durably before anything runs it (runs.go).
	rctx, cancel := context.WithTimeout(s.life, 5*time.Second)
	attempt, rec, err := s.claimRun(rctx, runWork, wl.seq, wl.attempt)
	cancel()
	if err != nil {
		if !s.isClosed() {
			s.log.Warn("work item not handed out: its attempt could not be recorded", "instance", wl.item.Instance, "err", err)
		}
		_ = wl.msg.NakWithDelay(100 * time.Millisecond)
		return nil
	}
	wl.attempt, wl.runRec = attempt, rec
	s.mu.Lock()
	s.works[wl.token] = wl
	s.mu.Unlock()
	s.sessionTouched(wl)
	return &store.WorkLease{Item: wl.item, LockToken: wl.token, AttemptCount: wl.attempt}
}

// FetchWorkItem implements [store.Provider]. The lock is the work consumer's AckWait
// (Config.WorkAckWait); lockTimeout is accepted for the contract and not used. Items
// are pulled while the call waits: with a pollTimeout of 0 it returns only an item
// already pulled for an earlier call.
func (s *Store) FetchWorkItem(ctx context.Context, lockTimeout, pollTimeout time.Duration) (*store.WorkLease, error) {
	// The poll timeout counts from the call: starting the consumers (on the first
	// fetch) is part of the wait, not added to it.
	deadline := time.Now().Add(max(pollTimeout, 0))
	if err := s.startWorkConsumers(ctx); err != nil {
		return nil, err
	}
	// The call counts as demand until the pump that hands it an item counts it
	// served; a call that leaves without an item removes itself.
	s.demand.add(deadline)
	served := false
	defer func() {
		if !served {
			s.demand.done()
		}
	}()
	take := func(wl *workLease) *store.WorkLease {
		if l := s.claimWork(ctx, wl); l != nil {
			served = true
			return l
		}
		s.demand.add(deadline) // the pump counted this call served: wait on
		return nil
	}
	for drained := false; !drained; {
		select {
		case wl := <-s.workCh:
			if l := take(wl); l != nil {
				return l, nil
			}
		default:
			drained = true
		}
	}
	if pollTimeout <= 0 {
		return nil, nil
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		select {
		case wl := <-s.workCh:
			if l := take(wl); l != nil {
				return l, nil
			}
		case <-t.C:
			return nil, nil
		case <-s.closed:
			return nil, store.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Store) takeWork(token string) *workLease {
	s.mu.Lock()
	defer s.mu.Unlock()
	wl := s.works[token]
	delete(s.works, token)
	return wl
}

// AckWorkItem implements [store.Provider]. It fails with [store.ErrLockLost] when the
// item's entry is gone from the work stream (its activity was cancelled or its
// instance deleted, by any node). The completion, stamped with the incarnation of the
// item's instance (incarnation.go), is published to the instance's inbox first (with a deduplication id naming the activity), then the work
// item is acked. A crash in between runs the activity again; its second completion is
// dropped by the deduplication window or, later, by the runtime (the activity id is
// already completed in history).
func (s *Store) AckWorkItem(ctx context.Context, lockToken string, completion *store.WorkItem) error {
	wl := s.takeWork(lockToken)
	if wl == nil {
		return fmt.Errorf("%w: work item token %q", store.ErrLockLost, lockToken)
	}
	if wl.expired() {
		return fmt.Errorf("%w: work item lock expired", store.ErrLockLost)
	}
	// The entry may have been purged by another node (a cancelling turn, a forced
	// delete): then the caller no longer owns it.
	if ok, err := s.workEntryExists(ctx, wl.seq); err != nil || !ok {
		if err != nil {
			s.mu.Lock()
			s.works[lockToken] = wl
			s.mu.Unlock()
			return err
		}
		return fmt.Errorf("%w: work item %d was removed (activity cancelled or instance deleted)", store.ErrLockLost, wl.seq)
	}
	if completion != nil {
		done := *completion
		if done.Instance == wl.item.Instance {
			// The result belongs to the incarnation that scheduled the activity.
			done.Incarnation = wl.item.Incarnation
		}
		// The deduplication id names the incarnation too: otherwise a stale result
		// published just before a delete would deduplicate away the result of the
		// same activity id of the recreated instance.
		id := fmt.Sprintf("a:%s:%d:%d", EncodeToken(done.Instance), done.ExecutionID, done.ID)
		if done.Incarnation != "" {
			id += ":" + done.Incarnation
		}
		if err := s.publishInbox(ctx, done, id, 0, runtimeSpace); err != nil {
			s.mu.Lock()
			s.works[lockToken] = wl
			s.mu.Unlock()
			return err
		}
	}
	s.sessionTouched(wl)
	s.forgetIgnored(wl.seq)
	// A plain ack: if it is lost the item runs again, and its second completion is
	// dropped like any duplicate.
	if err := wl.msg.Ack(); err != nil {
		return fmt.Errorf("ack work item: %w", err)
	}
	s.forgetRun(runWork, wl.seq, wl.runRec)
	return nil
}

// RenewWorkItemLock implements [store.Provider] with an in-progress ack, which
// restarts the consumer's AckWait. It fails with [store.ErrLockLost] once the item's
// entry is gone from the work stream (cancelled or deleted, by any node): the
// worker's signal to stop the activity.
func (s *Store) RenewWorkItemLock(ctx context.Context, lockToken string, extend time.Duration) error {
	s.mu.Lock()
	wl := s.works[lockToken]
	s.mu.Unlock()
	if wl == nil {
		return fmt.Errorf("%w: work item token %q", store.ErrLockLost, lockToken)
	}
	if wl.expired() {
		s.takeWork(lockToken)
		return fmt.Errorf("%w: work item lock expired", store.ErrLockLost)
	}
	if ok, err := s.workEntryExists(ctx, wl.seq); err != nil {
		return err
	} else if !ok {
		s.takeWork(lockToken)
		return fmt.Errorf("%w: work item %d was removed (activity cancelled or instance deleted)", store.ErrLockLost, wl.seq)
	}
	s.sessionTouched(wl)
	if err := wl.msg.InProgress(); err != nil {
		return fmt.Errorf("%w: renew work item: %v", store.ErrLockLost, err)
	}
	wl.deadline.Store(time.Now().Add(s.cfg.WorkAckWait).UnixNano())
	return nil
}

// AbandonWorkItem implements [store.Provider] with a nak (with delay).
func (s *Store) AbandonWorkItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error {
	wl := s.takeWork(lockToken)
	if wl == nil {
		return fmt.Errorf("%w: work item token %q", store.ErrLockLost, lockToken)
	}
	s.sessionTouched(wl)
	if ignoreAttempt {
		s.ignoreDelivery(wl.seq)
		s.setRuns(ctx, runWork, wl.seq, wl.attempt-1)
	}
	if delay > 0 {
		return wl.msg.NakWithDelay(delay)
	}
	return wl.msg.Nak()
}

// ignoreDelivery records that a delivery of the work item at seq does not count as an
// attempt (abandon with ignoreAttempt): the broker's delivery count cannot be
// lowered, so the store subtracts these from it.
func (s *Store) ignoreDelivery(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workGiveBacks == nil {
		s.workGiveBacks = make(map[uint64]int)
	}
	s.workGiveBacks[seq]++
}

func (s *Store) ignoredDeliveries(seq uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workGiveBacks[seq]
}

func (s *Store) forgetIgnored(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.workGiveBacks, seq)
}

// EnqueueForWorker publishes an activity work item directly (tests, tools).
func (s *Store) EnqueueForWorker(ctx context.Context, item store.WorkItem) error {
	data, err := json.Marshal(item)
	if err != nil {
		return err
	}
	m := nats.NewMsg(s.subj.work(item.Tag, EncodeToken(item.Instance), item.ExecutionID, item.ID))
	m.Data = data
	setTraceHeaders(m, &item)
	_, err = s.js.PublishMsg(ctx, m)
	return err
}
