package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// What the inbox refuses and where it goes: the checks a delivered message must pass
// (origin, type, well-formed item) and the dead-letter stream that keeps the rest with
// the reason, including what no partition delivers (the stray consumer).

const strayConsumer = "inbox-stray"

// consumeStray dead-letters what the inbox stream stores but no partition delivers:
// messages published to a subject with a literal wildcard token (ns.inbox.* or
// ns.inbox.>), which the stream captures without applying its subject transform.
// Every node binds to the same durable consumer.
func (s *Store) consumeStray(ctx context.Context) (jetstream.ConsumeContext, error) {
	cons, err := s.inbox.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        strayConsumer,
		Description:    "duroxide: dead-letters inbox messages stored on untransformed (wildcard) subjects",
		FilterSubjects: s.subj.strayFilters(),
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MemoryStorage:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: inbox stray consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		s.deadLetter(m, "", fmt.Sprintf("subject %q holds a wildcard token; publish to %s with an encoded instance id", m.Subject(), s.subj.inbox("<token>")))
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("inbox stray consumer", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("jetstream: consume inbox stray messages: %w", err)
	}
	return cc, nil
}

// checkOrigin refuses what a client may not send: a message on the client subject
// must be a start (of a top-level instance), a raised event, a queue message or a
// cancellation. Everything else is the runtime's to send, on its own subject.
func checkOrigin(it *store.WorkItem, space, clientSubject string) string {
	switch space {
	case runtimeSpace:
		return ""
	case clientSpace:
	default:
		return fmt.Sprintf("unknown subject space %q", space)
	}
	switch it.Type {
	case store.StartOrchestration:
		if it.ParentInstance != "" || it.ParentExecutionID != 0 || it.ParentID != 0 {
			return fmt.Sprintf("a StartOrchestration on the client subject %s may not name a parent instance: only the runtime starts sub-orchestrations", clientSubject)
		}
		if len(it.CarryForward) > 0 {
			return fmt.Sprintf("a StartOrchestration on the client subject %s may not carry forward events", clientSubject)
		}
	case store.ExternalRaised, store.QueueMessage, store.CancelInstance, "":
	default:
		if isKnownType(it.Type) {
			return fmt.Sprintf("message type %s is sent only by the runtime; clients may send StartOrchestration, ExternalRaised, QueueMessage and CancelInstance on %s", it.Type, clientSubject)
		}
	}
	return ""
}

func isKnownType(t store.WorkItemType) bool {
	switch t {
	case store.StartOrchestration, store.ContinueAsNew, store.ExternalRaised, store.QueueMessage, store.CancelInstance,
		store.ActivityCompleted, store.ActivityFailed, store.TimerFired, store.SubOrchCompleted, store.SubOrchFailed:
		return true
	}
	return false
}

// checkInbound validates a work item from the inbox; it returns why it is unusable,
// or "". Messages come from any NATS client, so nothing is trusted.
func (s *Store) checkInbound(it *store.WorkItem, instance string) string {
	if it.Instance != instance {
		return fmt.Sprintf("instance %q in the body does not match the subject's instance %q", it.Instance, instance)
	}
	switch it.Type {
	case store.StartOrchestration, store.ContinueAsNew:
		if it.Name == "" {
			return string(it.Type) + " needs the orchestration name in \"name\""
		}
		if it.Version != "" {
			if _, err := store.ParseSemver(it.Version); err != nil {
				return fmt.Sprintf("version %q is not MAJOR.MINOR.PATCH: %v", it.Version, err)
			}
		}
	case store.ExternalRaised, store.QueueMessage:
		if it.Name == "" {
			return string(it.Type) + " needs the event or queue name in \"name\""
		}
	case store.CancelInstance, store.ActivityCompleted, store.ActivityFailed, store.TimerFired,
		store.SubOrchCompleted, store.SubOrchFailed:
	case "":
		return "message has no \"type\""
	default:
		return fmt.Sprintf("unknown message type %q", it.Type)
	}
	if len(it.Name) > maxNameBytes {
		return fmt.Sprintf("name is %d bytes, the limit is %d", len(it.Name), maxNameBytes)
	}
	if lim := s.cfg.MaxPayloadBytes; lim > 0 {
		for field, v := range map[string]string{"input": it.Input, "data": it.Data, "result": it.Result} {
			if len(v) > lim {
				return fmt.Sprintf("%s is %d bytes, the limit is %d", field, len(v), lim)
			}
		}
	}
	for field, v := range map[string]string{"input": it.Input, "data": it.Data} {
		if v != "" && !json.Valid([]byte(v)) {
			return field + " is not a JSON document"
		}
	}
	return ""
}

const maxNameBytes = 256

// deadLetter copies a rejected inbox message to the dead-letter stream with its reason
// (header Duroxide-Reason), logs it, and terminates it so it is not redelivered. A
// body too large to be copied with the headers (near the server's max payload) is
// cut to its first [deadLetterKeepBytes] bytes, marked by HeaderTruncated;
// HeaderOriginalSize always gives its full size.
func (s *Store) deadLetter(m jetstream.Msg, instance, reason string) {
	s.log.Warn("dead-lettering inbox message", "subject", m.Subject(), "instance", instance, "reason", reason)
	dl := nats.NewMsg(s.subj.dead(EncodeToken(instance)))
	dl.Data = m.Data()
	dl.Header.Set(HeaderReason, reason)
	dl.Header.Set(HeaderOriginalSubject, m.Subject())
	dl.Header.Set(HeaderOriginalSize, strconv.Itoa(len(m.Data())))
	if md, err := m.Metadata(); err == nil {
		dl.Header.Set(HeaderOriginalSequence, fmt.Sprint(md.Sequence.Stream))
	}
	if lim := s.nc.MaxPayload(); lim > 0 && int64(len(dl.Data)+len(reason)+len(m.Subject())+deadLetterHeaderRoom) > lim {
		dl.Data = dl.Data[:min(len(dl.Data), deadLetterKeepBytes)]
		dl.Header.Set(HeaderTruncated, "true")
	}
	if _, err := s.js.PublishMsg(context.Background(), dl); err != nil {
		s.log.Error("dead-letter publish failed; the message stays in the inbox", "err", err)
		_ = m.NakWithDelay(time.Minute)
		return
	}
	s.observeDeadLetter(reason)
	_ = m.TermWithReason(reason)
}

const (
	// deadLetterKeepBytes is how much of an oversized body a dead letter keeps.
	deadLetterKeepBytes = 64 << 10
	// deadLetterHeaderRoom bounds the dead letter's headers besides the reason and
	// the original subject.
	deadLetterHeaderRoom = 1024
)

// Headers of dead-lettered messages.
const (
	HeaderReason           = "Duroxide-Reason"
	HeaderOriginalSubject  = "Duroxide-Original-Subject"
	HeaderOriginalSequence = "Duroxide-Original-Sequence"
	// HeaderOriginalSize is the rejected message's body size in bytes.
	HeaderOriginalSize = "Duroxide-Original-Size"
	// HeaderTruncated is "true" when the dead letter keeps only the start of the body.
	HeaderTruncated = "Duroxide-Truncated"
)
