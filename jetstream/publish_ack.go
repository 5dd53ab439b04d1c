package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Synchronous publishes on the hot paths (inbox messages, attempt records, turn
// commits), read without encoding/json.
//
// jetstream.JetStream.PublishMsg decodes every acknowledgement with encoding/json
// (about a third of its CPU in a loaded node's profile). publishAck does what it
// does, with the same errors, but reads the usual acknowledgement,
// {"stream":"NAME","seq":N} (with ,"duplicate":true for a deduplicated message), by
// hand; any other answer (an error, a domain, a counter value) is decoded with
// encoding/json as nats.go does.

// publishTimeout bounds a publish whose context has no deadline, as nats.go's
// default API timeout does.
const publishTimeout = 5 * time.Second

// publishAck publishes m to its stream and returns the stored message's sequence.
// Errors are the ones jetstream.JetStream.PublishMsg returns: a refused publish is
// a *jetstream.APIError (wrapped), no stream answering after the retries is
// jetstream.ErrNoStreamResponse, an answer that is no acknowledgement is
// jetstream.ErrInvalidJSAck.
func publishAck(ctx context.Context, nc *nats.Conn, m *nats.Msg) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTimeout)
		defer cancel()
	}
	resp, err := nc.RequestMsgWithContext(ctx, m)
	for r := 0; errors.Is(err, nats.ErrNoResponders) && r < jetstream.DefaultPubRetryAttempts; r++ {
		// No stream answered (a leader change in progress): retry, as nats.go does.
		t := time.NewTimer(jetstream.DefaultPubRetryWait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		resp, err = nc.RequestMsgWithContext(ctx, m)
	}
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return 0, jetstream.ErrNoStreamResponse
		}
		return 0, err
	}
	if seq, ok := parsePubAck(resp.Data); ok {
		return seq, nil
	}
	var ack struct {
		Error *jetstream.APIError `json:"error,omitempty"`
		*jetstream.PubAck
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return 0, fmt.Errorf("nats: %w", ack.Error)
	}
	if ack.PubAck == nil || ack.PubAck.Stream == "" {
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Sequence, nil
}

// parsePubAck reads an acknowledgement of exactly the form {"stream":"NAME","seq":N}
// or {"stream":"NAME","seq":N,"duplicate":true} (NAME without escapes, N > 0);
// false for anything else.
func parsePubAck(data []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"stream":"`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return 0, false
	}
	rest, ok = bytes.CutPrefix(rest[end+1:], []byte(`,"seq":`))
	if !ok {
		return 0, false
	}
	var seq uint64
	n := 0
	for ; n < len(rest) && rest[n] >= '0' && rest[n] <= '9'; n++ {
		seq = seq*10 + uint64(rest[n]-'0')
	}
	if n == 0 || n > 19 || seq == 0 { // 19 digits cannot overflow
		return 0, false
	}
	switch tail := rest[n:]; {
	case string(tail) == `}`, string(tail) == `,"duplicate":true}`:
		return seq, true
	}
	return 0, false
}

// expectLastSubjectSeq sets m's header for a publish that succeeds only if the last
// message on subject (m's own subject if subject is "") has sequence last (0: none),
// as jetstream.WithExpectLastSequencePerSubject and
// jetstream.WithExpectLastSequenceForSubject do.
func expectLastSubjectSeq(m *nats.Msg, last uint64, subject string) {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last, 10))
	if subject != "" {
		m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, subject)
	}
}
