package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	djs "github.com/duroxide-go/duroxide/jetstream"
)

// Config configures a [Projector].
type Config struct {
	// Namespace is the store's namespace (default "duroxide").
	Namespace string
	// HistoryStream and HistorySubjects name the history stream and its subjects
	// (from jetstream.Store).
	HistoryStream   string
	HistorySubjects string
	// Storage and Replicas of the views bucket.
	Storage  jetstream.StorageType
	Replicas int
	// AckWait is how long a record may stay unacknowledged before another runtime's
	// projector gets it. Default 30s.
	AckWait time.Duration
	Logger  *slog.Logger
	// Hooks are fault-injection points for tests.
	Hooks Hooks
}

// Hooks are fault-injection points.
type Hooks struct {
	// BeforeCounters runs after a record's views are written and before the system
	// counters include it. An error makes the projector stop there as if it crashed.
	BeforeCounters func(seq uint64) error
}

// Projector applies history records to the views.
type Projector struct {
	cfg  Config
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	idx  jetstream.Stream // listing index entries
	hist jetstream.Stream // the history stream
	log  *slog.Logger
	cc   jetstream.ConsumeContext

	mu       sync.Mutex   // serialises apply (the consumer delivers one at a time anyway)
	cache    viewCache    // views this projector wrote last
	pre      prepublished // the listing index entries of the batch being applied (batch.go)
	stats    Stats
	statsRev uint64
	stopped  bool
}

// errCrash is returned by apply when a hook simulated a crash.
var errCrash = errors.New("projections: stopped by test hook")

// Start creates the views bucket and the shared durable consumer if needed and
// starts applying records. If the views were deleted (no counters document) the
// consumer restarts from the beginning of the stream, which rebuilds them.
func Start(ctx context.Context, js jetstream.JetStream, cfg Config) (*Projector, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "duroxide"
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	kv, err := js.KeyValue(ctx, ViewsBucket(cfg.Namespace))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      ViewsBucket(cfg.Namespace),
			Description: "duroxide projections: instance and execution views, listing indexes, counters",
			History:     1,
			Storage:     cfg.Storage,
			Replicas:    cfg.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("projections: views bucket: %w", err)
	}
	p := &Projector{cfg: cfg, js: js, kv: kv, log: cfg.Logger.With("component", "projector")}
	if p.idx, err = p.indexStream(ctx, false); err != nil {
		return nil, err
	}
	if err := p.loadStats(ctx); err != nil {
		return nil, err
	}
	cons, err := p.consumer(ctx)
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(p.handle, jetstream.PullMaxMessages(16), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		p.log.Debug("projector consumer", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("projections: consume history: %w", err)
	}
	p.mu.Lock()
	p.cc = cc
	p.mu.Unlock()
	return p, nil
}

// consumer binds to the shared durable consumer, (re)creating it to start after the
// counters' applied sequence when it is missing or ahead of the views.
func (p *Projector) consumer(ctx context.Context) (jetstream.Consumer, error) {
	stream, err := p.js.Stream(ctx, p.cfg.HistoryStream)
	if err != nil {
		return nil, fmt.Errorf("projections: history stream: %w", err)
	}
	p.hist = stream
	c, err := stream.Consumer(ctx, consumerName)
	if err == nil {
		info, ierr := c.Info(ctx)
		if ierr != nil {
			return nil, fmt.Errorf("projections: projector consumer info: %w", ierr)
		}
		if info.AckFloor.Stream <= p.stats.AppliedSeq {
			return c, nil
		}
		// Another runtime's projector may have moved both since the counters were
		// read: re-read them before concluding the views are behind.
		if err := p.loadStats(ctx); err != nil {
			return nil, err
		}
		if info.AckFloor.Stream <= p.stats.AppliedSeq {
			return c, nil
		}
		// The views are behind the consumer (they were deleted): start over.
		p.log.Info("views are behind the projector consumer; rebuilding", "applied", p.stats.AppliedSeq, "ack_floor", info.AckFloor.Stream)
		if err := stream.DeleteConsumer(ctx, consumerName); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("projections: reset projector consumer: %w", err)
		}
		if p.idx, err = p.indexStream(ctx, true); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("projections: projector consumer: %w", err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "duroxide projections: applies history records to the views, in order",
		FilterSubject: p.cfg.HistorySubjects,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxAckPending: 1, // strict stream order across every runtime
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if p.stats.AppliedSeq > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = p.stats.AppliedSeq + 1
	}
	c, err = stream.CreateConsumer(ctx, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		c, err = stream.Consumer(ctx, consumerName) // another runtime made it first
	}
	if err != nil {
		return nil, fmt.Errorf("projections: create projector consumer: %w", err)
	}
	return c, nil
}

// Stop stops applying records. A record being applied finishes or is redelivered.
func (p *Projector) Stop() {
	p.mu.Lock()
	p.stopped = true
	cc := p.cc
	p.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

func (p *Projector) handle(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		_ = m.Nak()
		return
	}
	seq := md.Sequence.Stream
	if seq <= p.stats.AppliedSeq {
		_ = m.Ack() // applied in an earlier batch (the consumer was not moved past it)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := []record{{seq: seq, subject: m.Subject(), data: m.Data()}}
	if isAdmin(m.Subject()) {
		err = p.apply(ctx, seq, m.Subject(), m.Data())
		for attempt := 0; attempt < 3 && errors.Is(err, errConflict); attempt++ {
			// Another runtime's projector wrote a view this one had cached: the cache
			// entry is gone, so the record is applied again from the stored views.
			err = p.apply(ctx, seq, m.Subject(), m.Data())
		}
	} else {
		// The counters as they are now, when another runtime's projector may have
		// moved them since this one last wrote them: the record is not the one right
		// after them (or was deleted). A batch must start from the current counters.
		if seq != p.stats.AppliedSeq+1 {
			err = p.loadStats(ctx)
		}
		if err == nil {
			if seq <= p.stats.AppliedSeq {
				_ = m.Ack()
				return
			}
			if md.NumPending > 0 { // records after this one to read ahead
				recs = append(recs, p.readAhead(ctx, seq)...)
			}
			err = p.applyBatch(ctx, recs)
		}
	}
	if err != nil {
		if errors.Is(err, errCrash) {
			p.stopped = true
			if cc := p.cc; cc != nil {
				go cc.Stop()
			}
			return // no ack: redelivered after AckWait, as after a crash
		}
		p.log.Warn("apply history records; will retry", "seq", seq, "records", len(recs), "err", err)
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	if last := recs[len(recs)-1].seq; last > seq {
		// Past the batch in one step; if the server cannot (older than 2.14), the
		// ack and the next deliveries' acks (already applied) do it.
		if _, err := p.hist.ResetConsumerToSequence(ctx, consumerName, last+1); err == nil {
			return
		} else {
			p.log.Debug("move the projector consumer past a batch", "to", last+1, "err", err)
		}
	}
	_ = m.Ack()
}

// apply applies the record at seq alone (a batch of one). It is idempotent.
func (p *Projector) apply(ctx context.Context, seq uint64, subject string, data []byte) error {
	if !isAdmin(subject) {
		return p.applyBatch(ctx, []record{{seq: seq, subject: subject, data: data}})
	}
	// <ns>.hist.<id>.x.<op>
	enc := strings.Split(subject, ".")[2]
	var ar djs.AdminRecord
	if json.Unmarshal(data, &ar) != nil {
		return p.commit(ctx, seq, Counters{})
	}
	delta, err := p.applyAdmin(ctx, seq, enc, &ar)
	if err != nil {
		return err
	}
	if h := p.cfg.Hooks.BeforeCounters; h != nil {
		if err := h(seq); err != nil {
			return errCrash
		}
	}
	if err := p.commit(ctx, seq, delta); err != nil {
		return err
	}
	if err := p.cleanup(ctx, seq, enc, &ar); err != nil {
		return err
	}
	// Applied for good: a rebuild does not need it (the records it removed are gone
	// too), so the admin record itself goes, and deletes and prunes leave nothing
	// behind in the history stream.
	if err := deleteMsg(ctx, p.hist, seq); err != nil {
		return fmt.Errorf("projections: remove admin record %d: %w", seq, err)
	}
	return nil
}

// applyTurnRecord applies the turn record at seq (<ns>.hist.<id>.<exec>) of a batch
// that starts at base, and returns its change to the counters. A record that cannot
// be decoded, or is no turn record, changes nothing.
func (p *Projector) applyTurnRecord(ctx context.Context, r *record, base uint64) (Counters, error) {
	if r.turn == nil {
		return Counters{}, nil
	}
	return p.applyTurn(ctx, r.seq, base, r.enc, r.turn, int64(len(r.data)))
}

// decodeTurn decodes r as a turn record (<ns>.hist.<id>.<exec>); r.turn stays nil
// for one that cannot be decoded (it is skipped) or is no turn record.
func (p *Projector) decodeTurn(r *record) {
	parts := strings.Split(r.subject, ".")
	if len(parts) != 4 {
		return
	}
	r.enc = parts[2]
	exec, perr := strconv.ParseUint(parts[3], 10, 64)
	var rec turnRecord
	if perr != nil || json.Unmarshal(r.data, &rec) != nil {
		p.log.Warn("skipping undecodable history record", "seq", r.seq, "subject", r.subject)
		return
	}
	rec.Exec = exec
	r.turn = &rec
}

// commit adds delta to the counters and records seq as applied, unless it already is.
func (p *Projector) commit(ctx context.Context, seq uint64, delta Counters) error {
	return p.commitBatch(ctx, seq, seq, delta)
}

// commitBatch adds delta, the change of the batch of records base..seq, to the
// counters and records seq as applied, unless it already is. If another runtime's
// projector applied part of the batch meanwhile (it held the consumer after this
// one's AckWait), delta would count that part twice: the batch is refused, to be
// delivered again.
func (p *Projector) commitBatch(ctx context.Context, base, seq uint64, delta Counters) error {
	for attempt := 0; ; attempt++ {
		if p.stats.AppliedSeq >= seq {
			return nil
		}
		if p.stats.AppliedSeq >= base {
			return fmt.Errorf("projections: records %d to %d were applied in part by another projector (up to %d)", base, seq, p.stats.AppliedSeq)
		}
		next := Stats{AppliedSeq: seq, Totals: p.stats.Totals.add(delta, 1)}
		data, _ := json.Marshal(next)
		var rev uint64
		var err error
		if p.statsRev == 0 {
			rev, err = p.kv.Create(ctx, statsKey, data)
		} else {
			rev, err = p.kv.Update(ctx, statsKey, data, p.statsRev)
		}
		if err == nil {
			p.stats, p.statsRev = next, rev
			return nil
		}
		if attempt >= 5 || !(errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
			strings.Contains(err.Error(), "wrong last sequence")) {
			return fmt.Errorf("projections: update counters: %w", err)
		}
		// Another runtime's projector moved the counters: re-read them.
		if err := p.loadStats(ctx); err != nil {
			return err
		}
	}
}

func (p *Projector) loadStats(ctx context.Context) error {
	var st Stats
	rev, err := getJSON(ctx, p.js, p.kv, statsKey, &st)
	if errors.Is(err, ErrNotFound) {
		p.stats, p.statsRev = Stats{}, 0
		return nil
	}
	if err != nil {
		return err
	}
	p.stats, p.statsRev = st, rev
	return nil
}
