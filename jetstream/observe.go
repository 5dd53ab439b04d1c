package jetstream

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Observer receives the store's measurements, for metrics. The store calls its
// functions synchronously on its own goroutines, so they must be fast and safe for
// concurrent use. A nil field is skipped; the zero Observer measures nothing and
// costs nothing. The package itself depends on no metrics library.
type Observer struct {
	// Publish is called after every synchronous JetStream publish of the store
	// with the kind of subject published to (one of the Publish* constants), how
	// long the publish took until the server's acknowledgement, and its error.
	// A turn's outbox (its work items, timers and messages, published
	// asynchronously) is reported once per turn as [PublishOutbox], covering every
	// publish of the outbox until the last acknowledgement.
	Publish func(kind string, d time.Duration, err error)
	// DeadLetter is called when the store dead-letters an inbox message, with the
	// reason's class (one of the DeadLetter* constants), never the message.
	DeadLetter func(class string)
}

// The kinds of publish an [Observer] is told about: the stream the subject belongs to.
const (
	PublishHistory    = "history"     // a turn's history record (the fenced commit)
	PublishInbox      = "inbox"       // an instance message (client or runtime space)
	PublishTimer      = "timer"       // a delayed message's schedule
	PublishWork       = "work"        // an activity work item
	PublishDeadLetter = "dead_letter" // a rejected inbox message's copy
	PublishOutbox     = "outbox"      // a turn's whole outbox, until its last ack
	PublishOther      = "other"       // bookkeeping streams (delivery runs, admin records, ...)
)

// PublishKinds lists every kind [Observer.Publish] reports.
var PublishKinds = []string{PublishHistory, PublishInbox, PublishTimer, PublishWork, PublishDeadLetter, PublishOutbox, PublishOther}

// The classes of dead-letter reasons an [Observer] is told about.
const (
	DeadLetterSubject   = "bad_subject" // the subject names no valid instance inbox
	DeadLetterJSON      = "bad_json"    // the body is not JSON
	DeadLetterForbidden = "forbidden"   // a client sent what only the runtime may send
	DeadLetterTooLarge  = "too_large"   // a field or payload over its limit
	DeadLetterInvalid   = "invalid"     // a well-formed message with missing or invalid fields
)

// DeadLetterClasses lists every class [Observer.DeadLetter] reports.
var DeadLetterClasses = []string{DeadLetterSubject, DeadLetterJSON, DeadLetterForbidden, DeadLetterTooLarge, DeadLetterInvalid}

// deadLetterClass sorts a dead-letter reason (written by decodeInbox, checkOrigin
// and checkInbound) into its bounded class.
func deadLetterClass(reason string) string {
	switch {
	case strings.HasPrefix(reason, "subject "), strings.HasPrefix(reason, "unknown subject space"):
		return DeadLetterSubject
	case strings.HasPrefix(reason, "body is not valid JSON"):
		return DeadLetterJSON
	case strings.Contains(reason, " on the client subject "), strings.Contains(reason, "is sent only by the runtime"):
		return DeadLetterForbidden
	case strings.Contains(reason, ", the limit is "):
		return DeadLetterTooLarge
	}
	return DeadLetterInvalid
}

// publishKind names the stream a subject of namespace ns belongs to.
func publishKind(ns, subject string) string {
	rest, ok := strings.CutPrefix(subject, ns+".")
	if !ok {
		return PublishOther
	}
	tok, _, _ := strings.Cut(rest, ".")
	switch tok {
	case "hist":
		return PublishHistory
	case clientSpace, runtimeSpace:
		return PublishInbox
	case "timer":
		return PublishTimer
	case "work":
		return PublishWork
	case "dead":
		return PublishDeadLetter
	}
	return PublishOther
}

// timedJS times the synchronous publishes of a JetStream context for an Observer.
type timedJS struct {
	jetstream.JetStream
	ns  string
	obs func(kind string, d time.Duration, err error)
}

func (t timedJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	start := time.Now()
	ack, err := t.JetStream.PublishMsg(ctx, m, opts...)
	t.obs(publishKind(t.ns, m.Subject), time.Since(start), err)
	return ack, err
}

func (t timedJS) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	start := time.Now()
	ack, err := t.JetStream.Publish(ctx, subject, data, opts...)
	t.obs(publishKind(t.ns, subject), time.Since(start), err)
	return ack, err
}

// publishAck is the package's publishAck (publish_ack.go), timed for the observer
// as the JetStream context's synchronous publishes are (timedJS).
func (s *Store) publishAck(ctx context.Context, m *nats.Msg) (uint64, error) {
	start := time.Now()
	seq, err := publishAck(ctx, s.nc, m)
	if f := s.cfg.Observer.Publish; f != nil {
		f(publishKind(s.cfg.Namespace, m.Subject), time.Since(start), err)
	}
	return seq, err
}

// observePublish reports one publish (or the outbox batch) to the observer, if any.
func (s *Store) observePublish(kind string, start time.Time, err error) {
	if f := s.cfg.Observer.Publish; f != nil {
		f(kind, time.Since(start), err)
	}
}

// observeDeadLetter reports a dead letter's reason class to the observer, if any.
func (s *Store) observeDeadLetter(reason string) {
	if f := s.cfg.Observer.DeadLetter; f != nil {
		f(deadLetterClass(reason))
	}
}
