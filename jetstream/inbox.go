package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/actors"
	"github.com/duroxide-go/duroxide/store"
)

// inboxMsg is one delivered inbox message waiting in an instance's mailbox.
type inboxMsg struct {
	msg       jetstream.Msg
	item      store.WorkItem
	seq       uint64
	attempt   int // the broker's delivery count
	partition int
	track     *msgTrack // lends and give-backs (attempts.go)
}

// orchLease is a fetched, locked orchestration item.
type orchLease struct {
	lease *actors.Lease[inboxMsg, *instState]
	st    *instState
	msgs  []inboxMsg
}

const priorityGroup = "duroxide"

// pinIDHeader carries, on a message delivered to a pinned pull request, the pin id
// the server gave that request.
const pinIDHeader = "Nats-Pin-Id"

func partitionConsumer(p int) string { return fmt.Sprintf("inbox-p%d", p) }

// startInboxConsumers starts pulling the inbox: every partition when partitions are
// shared, otherwise this node's share of them (see membership.go), rebalanced in the
// background as nodes come and go. A failure (the server not ready yet) is retried by
// the next fetch.
func (s *Store) startInboxConsumers(ctx context.Context) error {
	return s.inboxStarter.run(func() error {
		if h := s.cfg.Hooks.StartingConsumers; h != nil {
			h()
		}
		s.mu.Lock()
		strayUp := s.strayStarted
		s.mu.Unlock()
		if !strayUp {
			stray, err := s.consumeStray(ctx)
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.consumers = append(s.consumers, stray)
			s.strayStarted = true
			s.mu.Unlock()
		}
		if !s.cfg.SharedPartitions {
			if err := s.detectPredecessor(ctx); err != nil {
				return fmt.Errorf("jetstream: partition membership: %w", err)
			}
			if err := s.heartbeat(ctx); err != nil {
				return fmt.Errorf("jetstream: partition membership: %w", err)
			}
			err := s.rebalance(ctx)
			reclaimed := s.reclaim
			s.reclaim = false
			if err != nil {
				return fmt.Errorf("jetstream: partition membership: %w", err)
			}
			if reclaimed {
				s.wg.Add(1)
				go s.unpinAgain()
			}
			s.wg.Add(1)
			go s.runMembership()
			return nil
		}
		var started []jetstream.ConsumeContext
		for p := 0; p < s.cfg.Partitions; p++ {
			cc, err := s.consumePartition(ctx, p)
			if err != nil {
				for _, cc := range started {
					cc.Stop()
				}
				return err
			}
			started = append(started, cc)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.isClosed() {
			for _, cc := range started {
				cc.Stop()
			}
			return store.ErrClosed
		}
		s.consumers = append(s.consumers, started...)
		return nil
	})
}

// consumePartition creates (or binds to) partition p's durable consumer and starts
// consuming it into the actor host.
func (s *Store) consumePartition(ctx context.Context, p int) (jetstream.ConsumeContext, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       partitionConsumer(p),
		Description:   fmt.Sprintf("duroxide inbox partition %d", p),
		FilterSubject: s.subj.partitionFilter(p),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.InboxAckWait,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// On a work-queue stream an ack deletes the message, so the stream itself
		// records what is left to deliver: the consumer's own state need not be
		// written to disk on every ack.
		MemoryStorage: true,
	}
	var opts []jetstream.PullConsumeOpt
	if !s.cfg.SharedPartitions {
		cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
		cfg.PinnedTTL = s.cfg.PartitionLease
		cfg.PriorityGroups = []string{priorityGroup}
		// Pull again well within the lease, so an idle partition stays ours.
		opts = append(opts, jetstream.PullPriorityGroup(priorityGroup), jetstream.PullExpiry(max(s.cfg.PartitionLease/3, time.Second)))
	}
	cons, err := s.inbox.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("jetstream: inbox consumer %d: %w", p, err)
	}
	opts = append(opts, jetstream.PullMaxMessages(256), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("inbox consumer", "partition", p, "err", err)
	}))
	cc, err := cons.Consume(s.onInbox, opts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream: consume inbox partition %d: %w", p, err)
	}
	return cc, nil
}

// onInbox routes one delivered inbox message to its instance's mailbox. A message
// that cannot be processed is dead-lettered with the reason and never redelivered.
func (s *Store) onInbox(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	in, reason := s.decodeInbox(m.Subject(), m.Data())
	if reason != "" {
		s.deadLetter(m, in.instance, reason)
		return
	}
	readTraceHeaders(m.Headers(), &in.item)
	instance, item, part := in.instance, in.item, in.partition
	if id := m.Headers().Get(pinIDHeader); id != "" {
		if old, ok := s.pins.Load(part); !ok || old.(string) != id {
			s.pins.Store(part, id)
		}
	}
	if _, err := s.host.Put(instance, md.Sequence.Stream, inboxMsg{msg: m, item: item, seq: md.Sequence.Stream, attempt: int(md.NumDelivered), partition: part,
		track: &msgTrack{}}); err != nil {
		s.handBack(m) // closing
	}
}

// FetchOrchestrationItem implements [store.Provider].
//
// With a capability filter, an instance whose cached state shows an incompatible
// pinned version is passed over in the mailbox queue without being lent. One
// without cached state is lent while the pinned version is read from its last
// history record's header (HeaderEngineVersion, before anything is decoded); if it
// is incompatible the mailbox is put back as it was (its messages not counted as
// fetched, the header-only state cached for the next fetch) and the fetch goes on
// with the other ready mailboxes, waiting for new work until pollTimeout.
func (s *Store) FetchOrchestrationItem(ctx context.Context, lockTimeout, pollTimeout time.Duration, filter *store.CapabilityFilter) (*store.OrchestrationItem, error) {
	// The poll timeout counts from the call: starting the consumers (on the first
	// fetch) is part of the wait, not added to it.
	deadline := time.Now().Add(pollTimeout)
	if err := s.startInboxConsumers(ctx); err != nil {
		return nil, err
	}
	if filter != nil && len(filter.SupportedVersions) == 0 {
		// Supports nothing: no work can come, but a caller polling in a loop must
		// not spin.
		return nil, s.sleep(ctx, time.Until(deadline))
	}
	var skip actors.SkipFunc[*instState]
	var rejected map[string]bool // instances this fetch lent and found incompatible
	if filter != nil {
		skip = func(key string, st *instState, hasState bool) bool {
			return rejected[key] || (hasState && st != nil && st.exists && !filter.Compatible(st.pinned))
		}
	}
	for {
		if s.isClosed() {
			return nil, store.ErrClosed
		}
		lease, err := s.host.AcquireWhere(ctx, lockTimeout, time.Until(deadline), skip)
		if err != nil {
			if err == actors.ErrClosed {
				return nil, store.ErrClosed
			}
			return nil, err
		}
		if lease == nil {
			return nil, nil
		}
		if h := s.cfg.Hooks.AfterLock; h != nil {
			h(lease.Key)
		}
		item, skipped, err := s.prepare(ctx, lease, filter)
		if err != nil {
			for _, m := range lease.Messages {
				_ = m.msg.NakWithDelay(time.Second)
			}
			s.host.Release(lease.Token, actors.ReleaseOpts[*instState]{Forget: true})
			return nil, err
		}
		if item != nil {
			// The lock was taken before the state was read, which may have taken a
			// while: it lasts lockTimeout from the hand-over, as the caller counts it.
			if s.host.Renew(item.LockToken, lockTimeout) {
				return item, nil
			}
			// It ran out while the state was read and the instance may be another
			// fetch's already: this lease is void.
			s.mu.Lock()
			delete(s.leases, item.LockToken)
			s.mu.Unlock()
		}
		if skipped {
			// The skip function reads rejected only while this fetch is in
			// AcquireWhere, under the host's lock.
			if rejected == nil {
				rejected = make(map[string]bool)
			}
			rejected[lease.Key] = true
			continue // other ready mailboxes first, even past the deadline
		}
		if time.Now().After(deadline) {
			return nil, nil
		}
	}
}

// sleep waits for d, the context's end or the store's close.
func (s *Store) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return store.ErrClosed
	}
}

// prepare loads the leased instance's state and filters out redelivered messages that
// a committed turn already applied. It returns nil when nothing is left to process,
// and skipped when filter rejects the instance's pinned engine version: the lease is
// then released with its messages put back, uncounted.
func (s *Store) prepare(ctx context.Context, lease *actors.Lease[inboxMsg, *instState], filter *store.CapabilityFilter) (item *store.OrchestrationItem, skipped bool, err error) {
	st := lease.State
	if !lease.HasState || st == nil || st.headerOnly {
		if st, err = s.loadInstance(ctx, lease.Key, filter); err != nil {
			return nil, false, err
		}
	}
	if !filter.Compatible(st.pinned) {
		s.host.Release(lease.Token, actors.ReleaseOpts[*instState]{Requeue: true, SetState: true, State: st})
		return nil, true, nil
	}
	item, err = s.prepareLoaded(ctx, lease, st)
	return item, false, err
}

// prepareLoaded is prepare for a compatible instance whose state is loaded.
func (s *Store) prepareLoaded(ctx context.Context, lease *actors.Lease[inboxMsg, *instState], st *instState) (*store.OrchestrationItem, error) {
	var fresh []inboxMsg
	redrive := map[uint64]bool{}
	for _, m := range lease.Messages {
		if histSeq, done := st.consumed[m.seq]; done {
			// Applied by a committed turn whose acks were lost: the turn's outbox may
			// not have gone out either, so dispatch it again (idempotent), then ack.
			if histSeq != 0 {
				redrive[histSeq] = true
			}
			continue
		}
		fresh = append(fresh, m)
	}
	for hs := range redrive {
		if err := s.redrive(ctx, hs); err != nil {
			return nil, err
		}
	}
	for _, m := range lease.Messages {
		if _, done := st.consumed[m.seq]; done {
			_ = m.msg.Ack()
			s.attempts.take(m.seq) // counts kept for it, if it was abandoned before
		}
	}
	fresh, current, err := s.dropStale(ctx, lease.Key, st, fresh)
	if err != nil {
		return nil, err
	}
	if !current {
		s.host.Release(lease.Token, actors.ReleaseOpts[*instState]{Forget: true, Requeue: true})
		return nil, nil
	}
	if len(fresh) == 0 {
		s.host.Release(lease.Token, keepState(st))
		return nil, nil
	}
	if !st.exists && onlyQueueMessages(fresh) {
		// Queue messages for an instance that does not exist are dropped (duroxide
		// deletes orphan QueueMessage-only batches), once the latest history confirms
		// it does not exist and no start of it waits in the inbox: a start still in
		// flight elsewhere (a killed node's, until the AckWait; another node's turn)
		// can be overtaken by a later message, which must then wait for it. The
		// runtime abandons such a batch until the start has run (noStart).
		current, err := s.isCurrent(ctx, lease.Key, st)
		if err != nil {
			return nil, err
		}
		if !current {
			s.host.Release(lease.Token, actors.ReleaseOpts[*instState]{Forget: true, Requeue: true})
			return nil, nil
		}
		start, _, err := s.PendingStart(ctx, lease.Key)
		if err != nil {
			return nil, err
		}
		if start == nil {
			for _, m := range fresh {
				_ = m.msg.Ack()
			}
			s.host.Release(lease.Token, keepState(st))
			return nil, nil
		}
	}
	kv, err := s.priorKV(ctx, lease.Key, st)
	if err != nil {
		return nil, err
	}
	if !st.exists {
		// The incarnation the instance gets if this lease's commit creates it (a state
		// without history is not kept past the lease, so a failed attempt draws anew).
		st.inc = newID()
	}
	item := &store.OrchestrationItem{
		KV:                  kv,
		Instance:            lease.Key,
		ExecutionID:         st.exec,
		History:             st.events,
		HistoryError:        st.histErr,
		LockToken:           lease.Token,
		PinnedEngineVersion: st.pinned,
		Incarnation:         st.inc,
	}
	locals := make([]int, len(fresh))
	for i := range fresh {
		locals[i] = s.lend(&fresh[i])
	}
	// Count the attempts durably before the turn runs (runs.go).
	attempts, err := s.claimInboxRuns(ctx, fresh, locals)
	if err != nil {
		return nil, err
	}
	for i := range fresh {
		attempt := attempts[i]
		item.Messages = append(item.Messages, store.Message{Item: fresh[i].item, Attempt: attempt})
		item.AttemptCount = max(item.AttemptCount, attempt)
	}
	s.mu.Lock()
	s.leases[lease.Token] = &orchLease{lease: lease, st: st, msgs: fresh}
	s.mu.Unlock()
	return item, nil
}

// takeLease removes and returns the lease for token if its lock is still live.
func (s *Store) takeLease(token string) (*orchLease, bool) {
	s.mu.Lock()
	l := s.leases[token]
	delete(s.leases, token)
	s.mu.Unlock()
	if l == nil {
		return nil, false
	}
	if _, ok := s.host.Holds(token); !ok {
		return l, false
	}
	return l, true
}

// AbandonOrchestrationItem implements [store.Provider]: the messages are nak'ed, so
// the broker redelivers them after delay (its delivery count is the durable part of
// the attempt count). With ignoreAttempt this fetch does not count towards their
// attempts (attempts.go).
func (s *Store) AbandonOrchestrationItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error {
	l, live := s.takeLease(lockToken)
	if l == nil || !live {
		return fmt.Errorf("%w: abandon with token %q", store.ErrLockLost, lockToken)
	}
	// Release before the nak: a redelivery that reached the mailbox while the message
	// was still lent would be dropped as a duplicate (and come back only after the
	// inbox AckWait).
	s.host.Release(lockToken, keepState(l.st))
	for i := range l.msgs {
		m := &l.msgs[i]
		s.abandoned(m, ignoreAttempt)
		if delay > 0 {
			_ = m.msg.NakWithDelay(delay)
		} else {
			_ = m.msg.Nak()
		}
	}
	return nil
}

func onlyQueueMessages(msgs []inboxMsg) bool {
	for _, m := range msgs {
		if m.item.Type != store.QueueMessage {
			return false
		}
	}
	return true
}

// RenewOrchestrationItemLock implements [store.Provider]. It also tells the broker the
// locked messages are still being worked on.
func (s *Store) RenewOrchestrationItemLock(ctx context.Context, lockToken string, extend time.Duration) error {
	s.mu.Lock()
	l := s.leases[lockToken]
	s.mu.Unlock()
	if l == nil || !s.host.Renew(lockToken, extend) {
		return fmt.Errorf("%w: renew with token %q", store.ErrLockLost, lockToken)
	}
	for _, m := range l.msgs {
		_ = m.msg.InProgress()
	}
	return nil
}

// EnqueueForOrchestrator implements [store.Provider]: it publishes on the instance's
// runtime subject (ns.rt.<id>), so any message type is accepted. A positive delay
// turns the message into a one-shot message schedule.
func (s *Store) EnqueueForOrchestrator(ctx context.Context, item store.WorkItem, delay time.Duration) error {
	return s.publishInbox(ctx, item, "", delay, runtimeSpace)
}

// PublishInbox publishes a client message (start, raised event, queue message,
// cancellation) on the instance's client subject (ns.inbox.<id>) with msgID as the
// JetStream deduplication id (none if empty). Runtime message types published this
// way are dead-lettered by the runtime.
func (s *Store) PublishInbox(ctx context.Context, item store.WorkItem, msgID string) error {
	return s.publishInbox(ctx, item, msgID, 0, clientSpace)
}

func (s *Store) publishInbox(ctx context.Context, item store.WorkItem, msgID string, delay time.Duration, space string) error {
	if err := ValidateInstanceID(item.Instance); err != nil {
		return err
	}
	data, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("jetstream: encode %s message: %w", item.Type, err)
	}
	enc := EncodeToken(item.Instance)
	target := s.subj.inbox(enc)
	if space == runtimeSpace {
		target = s.subj.runtime(enc)
	}
	m := nats.NewMsg(target)
	m.Data = data
	setTraceHeaders(m, &item)
	if delay > 0 {
		uniq := msgID
		if uniq == "" {
			uniq = newID()
		}
		m.Subject = s.subj.delayed(enc, EncodeToken(uniq))
		setSchedule(m, time.Now().Add(delay), target)
	} else if msgID != "" {
		m.Header.Set(nats.MsgIdHdr, msgID)
	}
	if _, err := s.publishAck(ctx, m); err != nil {
		return fmt.Errorf("jetstream: publish %s for %q: %w", item.Type, item.Instance, err)
	}
	return nil
}

func setSchedule(m *nats.Msg, at time.Time, target string) {
	m.Header.Set(jetstream.ScheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Header.Set(jetstream.ScheduleTargetHeader, target)
}
