package jetstream

import (
	"context"
	"encoding/json"
	"errors"
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
	item    store.WorkItem
	attempt int
	token   string
	session bool // routed as a session item (sessions.go)
	seq     uint64
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

// startWorkConsumers binds one durable consumer per configured tag and starts pulling.
// Each consumer's buffer is bounded by WorkPrefetch so that items do not sit in this
// process (their lock running) while other nodes are idle.
func (s *Store) startWorkConsumers(ctx context.Context) error {
	return s.workStarter.run(func() error {
		var started []jetstream.MessagesContext
		fail := func(err error) error {
			for _, it := range started {
				it.Stop()
			}
			return err
		}
		anyTag := false
		for _, tag := range s.cfg.WorkTags {
			if tag == AnyWorkTag {
				anyTag = true
				tag = ""
			}
			it, err := s.consumeWorkTag(ctx, tag)
			if err != nil {
				return fail(err)
			}
			started = append(started, it)
		}
		own := -1
		if s.sess != nil {
			it, err := s.startSessions(ctx)
			if err != nil {
				return fail(err)
			}
			own = len(started)
			started = append(started, it)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.isClosed() {
			return fail(store.ErrClosed)
		}
		s.iters = append(s.iters, started...)
		for _, it := range started {
			s.wg.Add(1)
			go s.pumpWork(it)
		}
		if own >= 0 {
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

// consumeWorkTag binds the durable consumer of one tag ("" = untagged) and starts
// pulling from it.
func (s *Store) consumeWorkTag(ctx context.Context, tag string) (jetstream.MessagesContext, error) {
	name := "work-default"
	if tag != "" {
		name = "work-t" + EncodeToken(tag)
	}
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
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.WorkPrefetch))
	if err != nil {
		return nil, fmt.Errorf("jetstream: consume work %s: %w", name, err)
	}
	return it, nil
}

// scanWorkTags is the any-node's tag discovery (see [AnyWorkTag]).
func (s *Store) scanWorkTags() {
	defer s.wg.Done()
	known := map[string]bool{}
	t := time.NewTicker(anyTagScan)
	defer t.Stop()
	prefix := s.subj.ns + ".work."
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
				it, cerr := s.consumeWorkTag(ctx, tag)
				if cerr != nil {
					s.log.Warn("bind work consumer for discovered tag", "tag", tag, "err", cerr)
					continue
				}
				s.mu.Lock()
				if s.isClosed() {
					s.mu.Unlock()
					it.Stop()
					cancel()
					return
				}
				known[tok] = true
				s.iters = append(s.iters, it)
				s.wg.Add(1)
				go s.pumpWork(it)
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

// pumpWork hands the items of one work consumer to FetchWorkItem. Session items are
// routed first (sessions.go): only those whose session this node holds are handed on.
func (s *Store) pumpWork(it jetstream.MessagesContext) {
	defer s.wg.Done()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			_ = m.Term()
			continue
		}
		var item store.WorkItem
		if err := json.Unmarshal(m.Data(), &item); err != nil || item.Type != store.ActivityExecute {
			s.log.Warn("dropping malformed work item", "subject", m.Subject(), "seq", md.Sequence.Stream)
			_ = m.TermWithReason("malformed work item")
			continue
		}
		wl := &workLease{msg: m, item: item, token: newID(), seq: md.Sequence.Stream,
			attempt: max(1, priorRuns(m)+int(md.NumDelivered)-s.ignoredDeliveries(md.Sequence.Stream))}
		wl.deadline.Store(time.Now().Add(s.cfg.WorkAckWait).UnixNano())
		if item.SessionID != "" && s.sess != nil {
			run, pause := s.routeSession(m, md, &item)
			if !run {
				if pause > 0 {
					select {
					case <-time.After(pause):
					case <-s.closed:
					}
				}
				continue
			}
			wl.session = true
		}
		select {
		case s.workCh <- wl:
		case <-s.closed:
			// Closing: Drain keeps delivering what was buffered until the
			// iterator closes; all of it goes back to the broker.
			s.handBack(m)
		}
	}
}

// FetchWorkItem implements [store.Provider]. The lock is the work consumer's AckWait
// (Config.WorkAckWait); lockTimeout is accepted for the contract and not used.
func (s *Store) FetchWorkItem(ctx context.Context, lockTimeout, pollTimeout time.Duration) (*store.WorkLease, error) {
	if err := s.startWorkConsumers(ctx); err != nil {
		return nil, err
	}
	t := time.NewTimer(pollTimeout)
	defer t.Stop()
	for {
		select {
		case wl := <-s.workCh:
			if wl.expired() {
				continue // buffered past its lock: the broker hands it out again
			}
			if s.wasCancelled(wl) {
				continue // purged since its delivery (Commit.CancelledActivities)
			}
			s.mu.Lock()
			s.works[wl.token] = wl
			s.mu.Unlock()
			return &store.WorkLease{Item: wl.item, LockToken: wl.token, AttemptCount: wl.attempt}, nil
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

// AckWorkItem implements [store.Provider]: the completion is published to the
// instance's inbox first (with a deduplication id naming the activity), then the work
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
	if completion != nil {
		id := fmt.Sprintf("a:%s:%d:%d", EncodeToken(completion.Instance), completion.ExecutionID, completion.ID)
		if err := s.publishInbox(ctx, *completion, id, 0); err != nil {
			s.mu.Lock()
			s.works[lockToken] = wl
			s.mu.Unlock()
			return err
		}
	}
	s.sessionTouched(wl, true)
	s.forgetIgnored(wl.seq)
	// A plain ack: if it is lost the item runs again, and its second completion is
	// dropped like any duplicate.
	if err := wl.msg.Ack(); err != nil {
		return fmt.Errorf("ack work item: %w", err)
	}
	return nil
}

// RenewWorkItemLock implements [store.Provider] with an in-progress ack, which
// restarts the consumer's AckWait.
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
	s.sessionTouched(wl, false)
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
	s.sessionTouched(wl, true)
	if ignoreAttempt {
		s.ignoreDelivery(wl.seq)
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
	_, err = s.js.PublishMsg(ctx, m)
	return err
}
