package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Durable attempt counts ("runs").
//
// The broker's delivery counts live in the consumers' state, which is kept in
// memory (MemoryStorage consumers), so they start again at 1 when the server
// restarts: a message that kills the node every time it is handled would loop
// forever below MaxAttempts. So before a work item or an inbox message is handed to
// the runtime, the attempt it is handed out as is recorded in the runs stream
// (NS_RUNS, one subject per message, ns.runs.<w|i>.<epoch>.<stream sequence>,
// keeping only the last value; the epoch is the work or inbox stream's creation
// time, so a recreated stream's sequences never meet old records), and the attempt is the larger of the in-memory count (attempts.go,
// work.go) and the recorded one plus one. The write is acknowledged by the server
// before the handler runs, so a process that dies in the handler has counted that
// attempt. An abandon that gives its attempt back (ignoreAttempt) records the lower
// count; a message that is acked, or moved to a new copy (which carries the count
// in its Duroxide-Runs header), has its record replaced by an empty one that
// expires after a second (forgetRun). Records left behind (a message purged with
// its instance) expire after runsMaxAge, as does the count of a message that waits
// longer than that.

// runsMaxAge is how long a run record is kept after its last update.
const runsMaxAge = 24 * time.Hour

const (
	runWork  = 'w' // work stream sequences
	runInbox = 'i' // inbox stream sequences
)

func (s subjects) runsStream() string { return s.streamName("RUNS") }
func (s subjects) runsAll() string    { return s.ns + ".runs.>" }

// runSubject is the subject of the run record of the message of kind at seq.
func (s *Store) runSubject(kind byte, seq uint64) string {
	epoch := s.runEpochs[0]
	if kind == runInbox {
		epoch = s.runEpochs[1]
	}
	return s.subj.ns + ".runs." + string(kind) + "." + epoch + "." + strconv.FormatUint(seq, 10)
}

// streamEpoch names a stream's incarnation: its creation time.
func streamEpoch(st jetstream.Stream) string {
	return strconv.FormatInt(st.CachedInfo().Created.UnixNano(), 36)
}

// ensureRunsStream creates or binds the runs stream.
func (s *Store) ensureRunsStream(ctx context.Context) error {
	st, err := s.ensureStream(ctx, jetstream.StreamConfig{
		Name:              s.subj.runsStream(),
		Description:       "duroxide attempt counts of delivered work items and inbox messages (they survive server restarts)",
		Subjects:          []string{s.subj.runsAll()},
		Retention:         jetstream.LimitsPolicy,
		Storage:           s.storage(),
		Replicas:          s.cfg.Replicas,
		MaxMsgsPerSubject: 1,
		MaxAge:            runsMaxAge,
		AllowMsgTTL:       true,
		AllowDirect:       true,
	})
	s.runs = st
	s.runEpochs = [2]string{streamEpoch(s.work), streamEpoch(s.inbox)}
	return err
}

// claimRun records that the message of kind at stream sequence seq is handed out,
// and returns its attempt number: local (the in-memory count), or the recorded
// count plus one if that is larger. It also returns the record's sequence, for
// forgetRun.
func (s *Store) claimRun(ctx context.Context, kind byte, seq uint64, local int) (attempt int, rec uint64, err error) {
	subj := s.runSubject(kind, seq)
	var last uint64 // the record's sequence; 0: none expected
	prev := 0
	for try := 0; try < 5; try++ {
		attempt = max(local, prev+1)
		m := nats.NewMsg(subj)
		m.Data = []byte(strconv.Itoa(attempt))
		expectLastSubjectSeq(m, last, "")
		seq, err := s.publishAck(ctx, m) // observe.go
		if err == nil {
			return attempt, seq, nil
		}
		if !isWrongLastSeq(err) {
			return 0, 0, fmt.Errorf("jetstream: record attempt of %s: %w", subj, err)
		}
		last, prev, err = s.readRun(ctx, subj)
		if err != nil {
			return 0, 0, err
		}
	}
	return 0, 0, fmt.Errorf("jetstream: record attempt of %s: the record kept changing", subj)
}

// readRun returns the record on subj (sequence 0 if there is none) and its count.
func (s *Store) readRun(ctx context.Context, subj string) (seq uint64, n int, err error) {
	// From the leader: a lagging replica would return an older count (and sequence,
	// so claimRun's expected-sequence publish would keep failing).
	rm, err := LeaderGet(ctx, s.nc, s.subj.runsStream(), LeaderGetRequest{LastBySubject: subj})
	if err != nil {
		return 0, 0, fmt.Errorf("jetstream: read attempt count %s: %w", subj, err)
	}
	if rm == nil {
		return 0, 0, nil
	}
	n, _ = strconv.Atoi(string(rm.Data))
	return rm.Sequence, n, nil
}

// recordedRuns returns the recorded count of a message (0 if none or unreadable).
func (s *Store) recordedRuns(ctx context.Context, kind byte, seq uint64) (n int, rec uint64) {
	rec, n, err := s.readRun(ctx, s.runSubject(kind, seq))
	if err != nil {
		s.log.Warn("read attempt count", "err", err)
	}
	return n, rec
}

// setRuns records n attempts for a message (an abandon that gave its attempt back).
func (s *Store) setRuns(ctx context.Context, kind byte, seq uint64, n int) {
	m := nats.NewMsg(s.runSubject(kind, seq))
	m.Data = []byte(strconv.Itoa(n))
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		s.log.Warn("record attempt count", "subject", m.Subject, "err", err)
	}
}

// claimInboxRuns records the attempts a fetch lends inbox messages msgs as (locals,
// the in-memory counts) and returns the attempts, which may be higher after a
// restart. The first-time records of a batch are written in one pipelined round;
// the messages that already have one are then claimed one by one.
func (s *Store) claimInboxRuns(ctx context.Context, msgs []inboxMsg, locals []int) ([]int, error) {
	attempts := make([]int, len(msgs))
	recs := make([]uint64, len(msgs))
	futures := make([]jetstream.PubAckFuture, len(msgs))
	if len(msgs) > 1 {
		for i := range msgs {
			m := nats.NewMsg(s.runSubject(runInbox, msgs[i].seq))
			m.Data = []byte(strconv.Itoa(locals[i]))
			futures[i], _ = s.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(0))
		}
	}
	for i := range msgs {
		if f := futures[i]; f != nil {
			select {
			case ack := <-f.Ok():
				attempts[i], recs[i] = locals[i], ack.Sequence
				continue
			case <-f.Err():
			case <-ctx.Done():
				return nil, fmt.Errorf("jetstream: record attempts: %w", ctx.Err())
			}
		}
		var err error
		if attempts[i], recs[i], err = s.claimRun(ctx, runInbox, msgs[i].seq, locals[i]); err != nil {
			return nil, err
		}
	}
	for i := range msgs {
		t := msgs[i].track
		t.mu.Lock()
		t.runRec, t.attempt = recs[i], attempts[i]
		t.mu.Unlock()
	}
	return attempts, nil
}

// inboxRunDone drops the run records of inbox messages that were acked.
func (s *Store) inboxRunDone(msgs []inboxMsg) {
	for i := range msgs {
		t := msgs[i].track
		t.mu.Lock()
		rec := t.runRec
		t.mu.Unlock()
		s.forgetRun(runInbox, msgs[i].seq, rec)
	}
}

// tombstoneTTL is how long the empty record that replaces a handled message's run
// record is kept (the shortest message TTL the server allows).
const tombstoneTTL = time.Second

// forgetRun drops the run record of the message of kind at seq, if it has one (rec
// is its record's sequence, 0 if none): an empty record with a short TTL replaces
// it (the stream keeps one message per subject) and then expires. It is a
// plain publish with no reply subject, so it costs the handled message no round
// trip, and the server sends no acknowledgement nobody would read (an
// acknowledged asynchronous publish cost about 2 % of a loaded node's CPU in these
// tombstones: the server's answer, its decoding, a timer each); a lost one leaves
// the record to expire after runsMaxAge.
func (s *Store) forgetRun(kind byte, seq, rec uint64) {
	if rec == 0 {
		return
	}
	m := nats.NewMsg(s.runSubject(kind, seq))
	m.Header.Set(jetstream.MsgTTLHeader, tombstoneTTL.String())
	if err := s.nc.PublishMsg(m); err != nil && !s.isClosed() {
		s.log.Debug("drop attempt count", "subject", m.Subject, "err", err)
	}
}
