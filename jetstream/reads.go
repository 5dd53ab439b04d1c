package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Reads in a replicated stream.
//
// A direct get (the batched reads of [DirectBatch]) is answered by any replica of the
// stream, preferably one on the server the client is connected to, and a follower
// applies a record a few milliseconds after the leader acknowledged it (after a
// restart, it serves direct gets once it is 90% caught up). A direct get may therefore
// return an older state than a read a moment before. The server (v2.15) has no
// minimum-sequence option for direct gets, so the store checks freshness itself:
//
//   - A read from the stream leader ([LeaderGet], the JetStream API's message get) is
//     current. Status reads, the fence, KV state documents and management views are
//     read that way.
//   - A history read is a batched direct get checked against a minimum sequence: the
//     instance's last record, read from the leader just before. A replica holds a
//     prefix of the stream, so a response that reaches the minimum holds every record
//     up to it; one that does not is read again over the instance's subjects, then
//     from the leader.

// errNoMsg reports that a message expected to exist (a record just re-read by its
// sequence) was not found.
var errNoMsg = errors.New("no message")

// LeaderGetRequest selects one message for [LeaderGet]: Seq alone (that sequence),
// Seq with NextBySubject (the first message on the subject at or after Seq), or
// LastBySubject alone (the subject's last message).
type LeaderGetRequest struct {
	Seq           uint64 `json:"seq,omitempty"`
	NextBySubject string `json:"next_by_subj,omitempty"`
	LastBySubject string `json:"last_by_subj,omitempty"`
}

// LeaderMsg is a message read by [LeaderGet].
type LeaderMsg struct {
	Subject  string
	Sequence uint64
	Header   nats.Header // never nil
	Data     []byte
	// Time is when the stream stored the message.
	Time time.Time
}

// LeaderGet reads one message of stream from the stream's leader (the JetStream API's
// message get, never a direct get), so the result reflects every message the stream
// acknowledged before the call. It returns (nil, nil) when no message matches.
//
// While the stream has no leader (an election after a server restarted or died: no
// responders, a timeout, a 5xx API error such as 10008 "JetStream system temporarily
// unavailable") it retries, 50 ms doubling to 1 s apart, each attempt bounded to 2 s,
// until ctx ends; then the error names the last failure. A ctx without a deadline is
// bounded to 10 s. Other API errors return at once.
func LeaderGet(ctx context.Context, nc *nats.Conn, stream string, req LeaderGetRequest) (*LeaderMsg, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	body, _ := json.Marshal(req)
	delay := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		get := leaderGetOnce
		if readsDirect(nc, stream) {
			get = directGetOnce // reads_direct.go
		}
		m, transient, err := get(actx, nc, stream, body)
		cancel()
		if err == nil || !transient {
			return m, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// leaderGetOnce is one attempt of LeaderGet; transient reports an error worth a retry.
func leaderGetOnce(ctx context.Context, nc *nats.Conn, stream string, body []byte) (_ *LeaderMsg, transient bool, _ error) {
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		transient = errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
		return nil, transient, fmt.Errorf("jetstream: leader get from %s: %w", stream, err)
	}
	var r struct {
		Message *struct {
			Subject  string    `json:"subject"`
			Sequence uint64    `json:"seq"`
			Header   []byte    `json:"hdrs"`
			Data     []byte    `json:"data"`
			Time     time.Time `json:"time"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, false, fmt.Errorf("jetstream: leader get from %s: decode response: %w", stream, err)
	}
	if r.Error != nil {
		if r.Error.Code == 404 && r.Error.ErrCode == 10037 { // no message found
			return nil, false, nil
		}
		return nil, r.Error.Code >= 500, fmt.Errorf("jetstream: leader get from %s: %s (code %d, error code %d)",
			stream, r.Error.Description, r.Error.Code, r.Error.ErrCode)
	}
	if r.Message == nil {
		return nil, false, fmt.Errorf("jetstream: leader get from %s: empty response", stream)
	}
	m := &LeaderMsg{Subject: r.Message.Subject, Sequence: r.Message.Sequence, Data: r.Message.Data, Header: nats.Header{},
		Time: r.Message.Time}
	if len(r.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(r.Message.Header)
		if err != nil {
			return nil, false, fmt.Errorf("jetstream: leader get from %s: decode headers of %d: %w", stream, m.Sequence, err)
		}
		m.Header = h
	}
	return m, false, nil
}

func storedFromLeader(m *LeaderMsg) storedMsg {
	return storedMsg{seq: m.Sequence, subject: m.Subject, data: m.Data,
		msgID: m.Header.Get(nats.MsgIdHdr), pinned: m.Header.Get(HeaderEngineVersion), inc: m.Header.Get(HeaderIncarnation)}
}

// readExecution returns the records of execution exec of instance enc, reflecting at
// least history sequence min (see the package notes above): a batched direct get; if
// its responder had not reached min, one over the instance's subjects from the
// execution's first record; if that one had not either, reads from the leader.
func (s *Store) readExecution(ctx context.Context, enc string, exec, min uint64) ([]storedMsg, error) {
	stream, subject := s.subj.historyStream(), s.subj.history(enc, exec)
	msgs, err := s.readSubject(ctx, stream, subject, 1)
	if err != nil {
		return nil, err
	}
	if reaches(msgs, min) {
		return msgs, nil
	}
	// The execution may have ended before min (a later execution holds it), or the
	// responder lags: one response over every execution of the instance shows which.
	from := uint64(1)
	if len(msgs) > 0 {
		from = msgs[0].seq
	}
	all, err := s.readSubject(ctx, stream, s.subj.historyAny(enc), from)
	if err != nil {
		return nil, err
	}
	if reaches(all, min) {
		out := all[:0:0]
		for _, m := range all {
			if m.subject == subject {
				out = append(out, m)
			}
		}
		return out, nil
	}
	// Both responders lagged (or the instance's records past min were purged): read
	// from the leader, which has every acknowledged record.
	var out []storedMsg
	next := uint64(1)
	for {
		m, err := LeaderGet(ctx, s.nc, stream, LeaderGetRequest{Seq: next, NextBySubject: subject})
		if err != nil {
			return nil, err
		}
		if m == nil {
			return out, nil
		}
		out = append(out, storedFromLeader(m))
		next = m.Sequence + 1
	}
}

// reaches reports whether msgs (one response, in stream order) show that their
// responder had history sequence min.
func reaches(msgs []storedMsg, min uint64) bool {
	return min == 0 || lastSeq(msgs) >= min
}

func lastSeq(msgs []storedMsg) uint64 {
	if len(msgs) == 0 {
		return 0
	}
	return msgs[len(msgs)-1].seq
}

// LeaderKVGet reads key of KV bucket from the bucket stream's leader (see
// [LeaderGet]): its value and revision, or found false when the key does not exist
// or was deleted.
func LeaderKVGet(ctx context.Context, nc *nats.Conn, bucket, key string) (value []byte, rev uint64, found bool, err error) {
	m, err := LeaderGet(ctx, nc, "KV_"+bucket, LeaderGetRequest{LastBySubject: "$KV." + bucket + "." + key})
	if err != nil || m == nil {
		return nil, 0, false, err
	}
	switch m.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
		return nil, 0, false, nil
	}
	return m.Data, m.Sequence, true, nil
}
