package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

type storedMsg struct {
	seq     uint64
	subject string
	data    []byte
	msgID   string
	// pinned is the record's HeaderEngineVersion (history records only).
	pinned string
	// inc is the record's HeaderIncarnation (history records only).
	inc string
}

// readSubject returns every message of stream on subject (wildcards allowed) from
// sequence from, in stream order, using batched direct gets: one request per 1000
// messages. A replica may answer: see readExecution for reads that must be current.
func (s *Store) readSubject(ctx context.Context, stream, subject string, from uint64) ([]storedMsg, error) {
	var out []storedMsg
	next := from
	for {
		batch, more, err := s.directBatch(ctx, stream, subject, next, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if !more || len(batch) == 0 {
			return out, nil
		}
		next = batch[len(batch)-1].seq + 1
	}
}

func (s *Store) directBatch(ctx context.Context, stream, subject string, from uint64, n int) ([]storedMsg, bool, error) {
	msgs, more, err := DirectBatch(ctx, s.nc, stream, subject, from, n)
	if err != nil {
		return nil, false, err
	}
	out := make([]storedMsg, len(msgs))
	for i, m := range msgs {
		out[i] = storedMsg{seq: DirectSeq(m), subject: m.Header.Get(jetstream.SubjectHeader), data: m.Data,
			msgID: m.Header.Get(nats.MsgIdHdr), pinned: m.Header.Get(HeaderEngineVersion)}
	}
	return out, more, nil
}

// DirectBatch reads up to n messages of stream on subject (wildcards allowed) from
// sequence from, in stream order, with one batched direct get; more reports whether
// more remain. Each message carries its stream sequence ([DirectSeq]) and its
// subject (header Nats-Subject) in its headers.
func DirectBatch(ctx context.Context, nc *nats.Conn, stream, subject string, from uint64, n int) (msgs []*nats.Msg, more bool, err error) {
	return DirectBatchBytes(ctx, nc, stream, subject, from, n, 0)
}

// DirectBatchBytes is [DirectBatch] with the response also bounded to about
// maxBytes of messages (0: no bound); the server sends at least one message.
func DirectBatchBytes(ctx context.Context, nc *nats.Conn, stream, subject string, from uint64, n, maxBytes int) (msgs []*nats.Msg, more bool, err error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, false, err
	}
	defer sub.Unsubscribe()
	r := map[string]any{"seq": from, "next_by_subj": subject, "batch": n}
	if maxBytes > 0 {
		r["max_bytes"] = maxBytes
	}
	req, _ := json.Marshal(r)
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, req); err != nil {
		return nil, false, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	for {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			return nil, false, fmt.Errorf("jetstream: read %s: %w", subject, err)
		}
		if status := m.Header.Get("Status"); status != "" {
			switch status {
			case "204": // end of batch
				pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
				return msgs, pending > 0, nil
			case "404":
				return msgs, false, nil
			default:
				return nil, false, fmt.Errorf("jetstream: read %s: status %s %s", subject, status, m.Header.Get("Description"))
			}
		}
		msgs = append(msgs, m)
		if len(msgs) == n {
			// A full batch: the server may still send its end-of-batch marker.
			pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return msgs, pending > 0, nil
		}
	}
}

// DirectSeq returns the stream sequence of a message read by [DirectBatch].
func DirectSeq(m *nats.Msg) uint64 {
	seq, _ := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	return seq
}

// lastMsg returns the last history message of instance enc (any execution),
// undecoded, or nil if none.
func (s *Store) lastMsg(ctx context.Context, enc string) (*storedMsg, error) {
	// Read from the stream leader, not with a direct get: in a replicated stream a
	// direct get may be answered by a replica that lags, and a stale "no record" or
	// stale last sequence here would be taken as the instance's state.
	if strings.ContainsAny(enc, ".*> ") {
		return nil, fmt.Errorf("jetstream: read last record: %q is not an encoded instance id", enc)
	}
	subject := s.subj.historyAny(enc)
	m, err := LeaderGet(ctx, s.nc, s.subj.historyStream(), LeaderGetRequest{LastBySubject: subject})
	if err != nil {
		return nil, fmt.Errorf("jetstream: read last record of %s: %w", subject, err)
	}
	if m == nil {
		return nil, nil
	}
	sm := storedFromLeader(m)
	return &sm, nil
}

// lastRecord returns the last history record of instance enc, or (nil, nil, nil) if
// none. A record that cannot be decoded is returned as (nil, msg, err).
func (s *Store) lastRecord(ctx context.Context, enc string) (*turnRecord, *storedMsg, error) {
	sm, err := s.lastMsg(ctx, enc)
	if sm == nil || err != nil {
		return nil, nil, err
	}
	rec, err := decodeRecord(sm.data)
	if err != nil {
		return nil, sm, fmt.Errorf("jetstream: decode history record %d: %w", sm.seq, err)
	}
	return rec, sm, nil
}

// loadInstance reads an instance's current execution from the history stream. With a
// filter, the pinned engine version is read first, from the last record's header:
// when filter rejects it, nothing is decoded and the returned state is headerOnly.
func (s *Store) loadInstance(ctx context.Context, instance string, filter *store.CapabilityFilter) (*instState, error) {
	enc := EncodeToken(instance)
	st := &instState{consumed: make(map[uint64]uint64)}
	lastMsg, err := s.lastMsg(ctx, enc)
	if err != nil {
		return nil, err
	}
	if lastMsg == nil {
		return st, nil
	}
	st.exists = true
	st.lastSeq = lastMsg.seq
	st.pinned = lastMsg.pinned
	if !filter.Compatible(st.pinned) {
		st.headerOnly = true
		return st, nil
	}
	lastBad := false
	if last, err := decodeRecord(lastMsg.data); err == nil {
		st.exec = last.Exec
		st.summary = last.Summary
		st.inc, st.parentInc = last.Inc, last.ParentInc
	} else {
		// The execution is named by the subject (ns.hist.<id>.<exec>); the summary
		// is the last one that can be read (below).
		lastBad = true
		st.histErr = fmt.Sprintf("history record %d of %q: %v", lastMsg.seq, instance, err)
		st.exec, err = strconv.ParseUint(lastMsg.subject[strings.LastIndexByte(lastMsg.subject, '.')+1:], 10, 64)
		if err != nil {
			return st, nil
		}
		st.summary = store.InstanceSummary{Instance: instance, ExecutionID: st.exec, Status: store.StatusRunning}
	}
	msgs, err := s.readExecution(ctx, enc, st.exec, lastMsg.seq)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		rec, err := decodeRecord(m.data)
		if err != nil {
			if st.histErr == "" {
				st.histErr = fmt.Sprintf("history record %d of %q: %v", m.seq, instance, err)
			}
			continue
		}
		if lastBad {
			// The last record is unreadable: keep the latest summary that is not.
			st.summary = rec.Summary
			st.inc, st.parentInc = rec.Inc, rec.ParentInc
		}
		st.events = append(st.events, rec.Events...)
		for _, c := range rec.Consumed {
			st.consumed[c] = m.seq
		}
		for _, c := range rec.PriorConsumed {
			st.consumed[c] = 0
		}
	}
	if st.histErr != "" {
		st.events = nil
	}
	return st, nil
}

// ReadHistory implements [store.Provider].
func (s *Store) ReadHistory(ctx context.Context, instance string, executionID uint64) ([]history.Event, error) {
	enc := EncodeToken(instance)
	var min uint64
	if executionID == 0 {
		last, sm, err := s.lastRecord(ctx, enc)
		if err != nil {
			return nil, err
		}
		if last == nil {
			return []history.Event{}, nil
		}
		executionID, min = last.Exec, sm.seq
	} else {
		// An earlier execution ended before the instance's last record: reading at
		// least up to that record covers it.
		sm, err := s.lastMsg(ctx, enc)
		if err != nil {
			return nil, err
		}
		if sm == nil {
			return []history.Event{}, nil
		}
		min = sm.seq
	}
	msgs, err := s.readExecution(ctx, enc, executionID, min)
	if err != nil {
		return nil, err
	}
	events := []history.Event{}
	for _, m := range msgs {
		rec, err := decodeRecord(m.data)
		if err != nil {
			return nil, fmt.Errorf("jetstream: decode history record %d of %q: %w", m.seq, instance, err)
		}
		events = append(events, rec.Events...)
	}
	return events, nil
}

// InstanceSummary implements [store.Provider]: one direct get of the instance's last
// history record, so it always reflects every committed turn.
func (s *Store) InstanceSummary(ctx context.Context, instance string) (*store.InstanceSummary, error) {
	sm, err := s.lastMsg(ctx, EncodeToken(instance))
	if err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, instance)
	}
	// Only the summary: the record's events, work and other fields are skipped, not
	// decoded (waits read the status often).
	var rec struct {
		Summary store.InstanceSummary `json:"summary"`
	}
	if err := json.Unmarshal(sm.data, &rec); err != nil {
		return nil, fmt.Errorf("jetstream: decode history record %d: history record is not valid JSON: %w", sm.seq, err)
	}
	return &rec.Summary, nil
}

// ListExecutions returns the execution ids an instance has in the history stream, in
// ascending order.
func (s *Store) ListExecutions(ctx context.Context, instance string) ([]uint64, error) {
	enc := EncodeToken(instance)
	last, _, err := s.lastRecord(ctx, enc)
	if err != nil || last == nil {
		return nil, err
	}
	info, err := s.hist.Info(ctx, jetstream.WithSubjectFilter(s.subj.historyAny(enc)))
	if err != nil {
		return nil, fmt.Errorf("jetstream: list executions of %q: %w", instance, err)
	}
	var out []uint64
	for e := uint64(1); e <= last.Exec; e++ {
		if info.State.Subjects[s.subj.history(enc, e)] > 0 {
			out = append(out, e)
		}
	}
	return out, nil
}
