package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/actors"
	"github.com/duroxide-go/duroxide/store"
)

// inboxMsg is one delivered inbox message waiting in an instance's mailbox.
type inboxMsg struct {
	msg     jetstream.Msg
	item    store.WorkItem
	seq     uint64
	attempt int
}

// orchLease is a fetched, locked orchestration item.
type orchLease struct {
	lease *actors.Lease[inboxMsg, *instState]
	st    *instState
	msgs  []inboxMsg
}

const priorityGroup = "duroxide"

// startInboxConsumers creates (or binds to) one durable consumer per partition and
// starts consuming them into the actor host. A failure (the server not ready yet)
// leaves nothing running and is retried by the next fetch.
func (s *Store) startInboxConsumers(ctx context.Context) error {
	return s.inboxStarter.run(func() error {
		var started []jetstream.ConsumeContext
		fail := func(err error) error {
			for _, cc := range started {
				cc.Stop()
			}
			return err
		}
		for p := 0; p < s.cfg.Partitions; p++ {
			cfg := jetstream.ConsumerConfig{
				Durable:       fmt.Sprintf("inbox-p%d", p),
				Description:   fmt.Sprintf("duroxide inbox partition %d", p),
				FilterSubject: s.subj.partitionFilter(p),
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       s.cfg.InboxAckWait,
				MaxAckPending: 1000,
				DeliverPolicy: jetstream.DeliverAllPolicy,
				// On a work-queue stream an ack deletes the message, so the stream
				// itself records what is left to deliver: the consumer's own state
				// need not be written to disk on every ack.
				MemoryStorage: true,
			}
			var opts []jetstream.PullConsumeOpt
			if !s.cfg.SharedPartitions {
				cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
				cfg.PinnedTTL = 2 * s.cfg.InboxAckWait
				cfg.PriorityGroups = []string{priorityGroup}
				opts = append(opts, jetstream.PullPriorityGroup(priorityGroup))
			}
			cons, err := s.inbox.CreateOrUpdateConsumer(ctx, cfg)
			if err != nil {
				return fail(fmt.Errorf("jetstream: inbox consumer %d: %w", p, err))
			}
			opts = append(opts, jetstream.PullMaxMessages(256), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.log.Debug("inbox consumer", "partition", p, "err", err)
			}))
			cc, err := cons.Consume(s.onInbox, opts...)
			if err != nil {
				return fail(fmt.Errorf("jetstream: consume inbox partition %d: %w", p, err))
			}
			started = append(started, cc)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.isClosed() {
			return fail(store.ErrClosed)
		}
		s.consumers = append(s.consumers, started...)
		return nil
	})
}

// onInbox routes one delivered inbox message to its instance's mailbox.
func (s *Store) onInbox(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	subj := m.Subject()
	enc := subj[strings.LastIndexByte(subj, '.')+1:]
	instance, err := DecodeToken(enc)
	if err != nil {
		s.log.Warn("dropping inbox message with an undecodable subject", "subject", subj, "err", err)
		_ = m.TermWithReason("undecodable instance id in subject")
		return
	}
	var item store.WorkItem
	if err := json.Unmarshal(m.Data(), &item); err != nil || item.Type == "" {
		reason := "message is not a JSON work item with a type"
		if err != nil {
			reason = "invalid JSON: " + err.Error()
		}
		s.log.Warn("dropping malformed inbox message", "instance", instance, "seq", md.Sequence.Stream, "reason", reason)
		_ = m.TermWithReason(reason)
		return
	}
	if item.Instance == "" {
		item.Instance = instance
	}
	if item.Instance != instance {
		s.log.Warn("dropping inbox message whose instance does not match its subject", "subject_instance", instance, "item_instance", item.Instance)
		_ = m.TermWithReason("instance field does not match the subject")
		return
	}
	if _, err := s.host.Put(instance, md.Sequence.Stream, inboxMsg{msg: m, item: item, seq: md.Sequence.Stream, attempt: int(md.NumDelivered)}); err != nil {
		s.handBack(m) // closing
	}
}

// FetchOrchestrationItem implements [store.Provider].
func (s *Store) FetchOrchestrationItem(ctx context.Context, lockTimeout, pollTimeout time.Duration) (*store.OrchestrationItem, error) {
	if err := s.startInboxConsumers(ctx); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(pollTimeout)
	for {
		if s.isClosed() {
			return nil, store.ErrClosed
		}
		lease, err := s.host.Acquire(ctx, lockTimeout, time.Until(deadline))
		if err != nil {
			if err == actors.ErrClosed {
				return nil, store.ErrClosed
			}
			return nil, err
		}
		if lease == nil {
			return nil, nil
		}
		item, err := s.prepare(ctx, lease)
		if err != nil {
			for _, m := range lease.Messages {
				_ = m.msg.NakWithDelay(time.Second)
			}
			s.host.Release(lease.Token, actors.ReleaseOpts[*instState]{Forget: true})
			return nil, err
		}
		if item != nil {
			return item, nil
		}
		if time.Now().After(deadline) {
			return nil, nil
		}
	}
}

// prepare loads the leased instance's state and filters out redelivered messages that
// a committed turn already applied. It returns nil when nothing is left to process.
func (s *Store) prepare(ctx context.Context, lease *actors.Lease[inboxMsg, *instState]) (*store.OrchestrationItem, error) {
	st := lease.State
	if !lease.HasState || st == nil {
		var err error
		if st, err = s.loadInstance(ctx, lease.Key); err != nil {
			return nil, err
		}
	}
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
		}
	}
	if len(fresh) == 0 {
		s.host.Release(lease.Token, actors.ReleaseOpts[*instState]{SetState: true, State: st})
		return nil, nil
	}
	item := &store.OrchestrationItem{
		Instance:     lease.Key,
		ExecutionID:  st.exec,
		History:      st.events,
		HistoryError: st.histErr,
		LockToken:    lease.Token,
	}
	for _, m := range fresh {
		item.Messages = append(item.Messages, store.Message{Item: m.item, Attempt: m.attempt})
		item.AttemptCount = max(item.AttemptCount, m.attempt)
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
// the broker redelivers them after delay.
func (s *Store) AbandonOrchestrationItem(ctx context.Context, lockToken string, delay time.Duration, ignoreAttempt bool) error {
	l, live := s.takeLease(lockToken)
	if l == nil || !live {
		return fmt.Errorf("%w: abandon with token %q", store.ErrLockLost, lockToken)
	}
	for _, m := range l.msgs {
		if delay > 0 {
			_ = m.msg.NakWithDelay(delay)
		} else {
			_ = m.msg.Nak()
		}
	}
	s.host.Release(lockToken, actors.ReleaseOpts[*instState]{SetState: true, State: l.st})
	return nil
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

// EnqueueForOrchestrator implements [store.Provider]. A positive delay turns the
// message into a one-shot message schedule.
func (s *Store) EnqueueForOrchestrator(ctx context.Context, item store.WorkItem, delay time.Duration) error {
	return s.publishInbox(ctx, item, "", delay)
}

// PublishInbox publishes item to its instance's inbox with msgID as the JetStream
// deduplication id (none if empty).
func (s *Store) PublishInbox(ctx context.Context, item store.WorkItem, msgID string) error {
	return s.publishInbox(ctx, item, msgID, 0)
}

func (s *Store) publishInbox(ctx context.Context, item store.WorkItem, msgID string, delay time.Duration) error {
	if err := ValidateInstanceID(item.Instance); err != nil {
		return err
	}
	data, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("jetstream: encode %s message: %w", item.Type, err)
	}
	enc := EncodeToken(item.Instance)
	m := nats.NewMsg(s.subj.inbox(enc))
	m.Data = data
	if delay > 0 {
		uniq := msgID
		if uniq == "" {
			uniq = newID()
		}
		m.Subject = s.subj.delayed(enc, EncodeToken(uniq))
		setSchedule(m, time.Now().Add(delay), s.subj.inbox(enc))
	} else if msgID != "" {
		m.Header.Set(nats.MsgIdHdr, msgID)
	}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("jetstream: publish %s for %q: %w", item.Type, item.Instance, err)
	}
	return nil
}

func setSchedule(m *nats.Msg, at time.Time, target string) {
	m.Header.Set(jetstream.ScheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
	m.Header.Set(jetstream.ScheduleTargetHeader, target)
}
