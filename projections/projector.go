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

	"github.com/duroxide-go/duroxide/history"
	djs "github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
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

	mu       sync.Mutex // serialises apply (the consumer delivers one at a time anyway)
	cache    viewCache  // views this projector wrote last (guarded by mu)
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

// indexStream binds to (or creates) the listing index stream; fresh deletes it
// first (a rebuild: its entries are derived, and its deduplication ids must not
// match the rebuilt ones).
func (p *Projector) indexStream(ctx context.Context, fresh bool) (jetstream.Stream, error) {
	name := IndexStream(p.cfg.Namespace)
	if fresh {
		if err := p.js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("projections: reset index stream: %w", err)
		}
	}
	st, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "duroxide projections: listing index (one message per instance and status, deleted when replaced)",
		Subjects:    []string{p.cfg.Namespace + ".vidx.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     p.cfg.Storage,
		Replicas:    p.cfg.Replicas,
		AllowDirect: true,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("projections: index stream: %w", err)
	}
	return st, nil
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.apply(ctx, md.Sequence.Stream, m.Subject(), m.Data())
	for attempt := 0; attempt < 3 && errors.Is(err, errConflict); attempt++ {
		// Another runtime's projector wrote a view this one had cached: the cache
		// entry is gone, so the record is applied again from the stored views.
		err = p.apply(ctx, md.Sequence.Stream, m.Subject(), m.Data())
	}
	if err != nil {
		if errors.Is(err, errCrash) {
			p.stopped = true
			if cc := p.cc; cc != nil {
				go cc.Stop()
			}
			return // no ack: redelivered after AckWait, as after a crash
		}
		p.log.Warn("apply history record; will retry", "seq", md.Sequence.Stream, "err", err)
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	_ = m.Ack()
}

// turnRecord mirrors the fields of jetstream's history record the views need.
type turnRecord struct {
	Exec    uint64                `json:"exec"`
	Events  []history.Event       `json:"events"`
	Summary store.InstanceSummary `json:"summary"`
}

// apply applies the record at seq. It is idempotent.
func (p *Projector) apply(ctx context.Context, seq uint64, subject string, data []byte) error {
	// <ns>.hist.<id>.<exec> or <ns>.hist.<id>.x.<op>
	parts := strings.Split(subject, ".")
	if len(parts) < 4 {
		return p.commit(ctx, seq, Counters{})
	}
	enc := parts[2]
	var delta Counters
	var err error
	switch {
	case len(parts) == 4:
		exec, perr := strconv.ParseUint(parts[3], 10, 64)
		var rec turnRecord
		if perr != nil || json.Unmarshal(data, &rec) != nil {
			p.log.Warn("skipping undecodable history record", "seq", seq, "subject", subject)
			return p.commit(ctx, seq, Counters{})
		}
		rec.Exec = exec
		delta, err = p.applyTurn(ctx, seq, enc, &rec, int64(len(data)))
	case len(parts) == 5 && parts[3] == "x":
		var ar djs.AdminRecord
		if json.Unmarshal(data, &ar) != nil {
			return p.commit(ctx, seq, Counters{})
		}
		delta, err = p.applyAdmin(ctx, seq, enc, &ar)
	default:
		return p.commit(ctx, seq, Counters{})
	}
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
	if len(parts) == 5 {
		var ar djs.AdminRecord
		_ = json.Unmarshal(data, &ar)
		if err := p.cleanup(ctx, seq, enc, &ar); err != nil {
			return err
		}
		// Applied for good: a rebuild does not need it (the records it removed are
		// gone too), so the admin record itself goes, and deletes and prunes leave
		// nothing behind in the history stream.
		if err := deleteMsg(ctx, p.hist, seq); err != nil {
			return fmt.Errorf("projections: remove admin record %d: %w", seq, err)
		}
	}
	return nil
}

func (p *Projector) applyTurn(ctx context.Context, seq uint64, enc string, rec *turnRecord, size int64) (Counters, error) {
	instance, err := djs.DecodeToken(enc)
	if err != nil {
		return Counters{}, nil
	}
	// 1. The execution view.
	var ev ExecutionView
	erev, err := p.get(ctx, execKey(enc, rec.Exec), &ev)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Counters{}, err
	}
	if erev == 0 {
		ev = ExecutionView{Instance: instance, ExecutionID: rec.Exec, Status: store.StatusRunning, FirstSeq: seq}
	}
	if ev.Seq < seq {
		ev.Events += int64(len(rec.Events))
		ev.Bytes += size
		for i := range rec.Events {
			if rec.Events[i].Type == history.OrchestrationStarted {
				ev.StartedAtMs = rec.Events[i].TimestampMs
			}
		}
		sum := &rec.Summary
		if ev.StartedAtMs == 0 {
			ev.StartedAtMs = sum.UpdatedAtMs
		}
		if sum.ExecutionID == rec.Exec {
			ev.Status = sum.Status
			switch sum.Status {
			case store.StatusCompleted, store.StatusFailed, store.StatusContinuedAsNew:
				ev.Output, ev.Failure, ev.CompletedAtMs = sum.Output, sum.Failure, sum.UpdatedAtMs
			}
		}
		ev.Seq = seq
		if err := p.put(ctx, execKey(enc, rec.Exec), &ev, erev); err != nil {
			return Counters{}, err
		}
	}
	newExec := ev.FirstSeq == seq

	// 2. The instance view.
	var iv InstanceView
	irev, err := p.get(ctx, instKey(enc), &iv)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Counters{}, err
	}
	if iv.Seq < seq {
		prev, prevStatus := iv.contribution(), iv.Status
		if irev == 0 || iv.Deleted {
			iv = InstanceView{}
			prev, prevStatus = Counters{}, ""
		}
		sum := &rec.Summary
		if sum.ParentInstance != "" && sum.ParentInstance != iv.ParentInstance {
			// The children index entry, before the view: a record re-applied after a
			// crash rewrites it (the put is idempotent).
			if _, err := p.kv.Put(ctx, childKey(djs.EncodeToken(sum.ParentInstance), enc), nil); err != nil {
				return Counters{}, fmt.Errorf("projections: children index: %w", err)
			}
		}
		iv.InstanceSummary = *sum
		iv.Instance = instance
		if newExec {
			iv.Executions++
		}
		iv.Events += int64(len(rec.Events))
		iv.HistoryBytes += size
		iv.Seq, iv.PrevStatus, iv.Prev = seq, prevStatus, prev
		iv.Cur = iv.contribution()
		if err := p.indexEntries(ctx, seq, &iv, prevStatus); err != nil {
			return Counters{}, err
		}
		if err := p.put(ctx, instKey(enc), &iv, irev); err != nil {
			return Counters{}, err
		}
	}
	if iv.Seq != seq {
		return Counters{}, nil // a later record already applied
	}
	if err := p.dropIndex(ctx, iv.DropIdx); err != nil {
		return Counters{}, err
	}
	return iv.Cur.add(iv.Prev, -1), nil
}

// indexEntries publishes the listing index entries for a change being applied at
// seq: a new status entry when the status changed, an "all" entry for a new
// instance. The entries they replace are listed in iv.DropIdx and removed by
// dropIndex once the view is written. Deduplication ids derived from seq make a
// re-applied record find its entries instead of adding more.
func (p *Projector) indexEntries(ctx context.Context, seq uint64, iv *InstanceView, prevStatus string) error {
	iv.DropIdx = nil
	entry, _ := json.Marshal(indexEntry{ID: djs.EncodeToken(iv.Instance), CreatedAtMs: iv.CreatedAtMs, Name: iv.Name})
	if prevStatus != iv.Status {
		n, err := p.publishIndex(ctx, indexStatusSubject(p.cfg.Namespace, iv.Status), fmt.Sprintf("v%d.s", seq), entry)
		if err != nil {
			return err
		}
		if iv.IdxStatus != 0 {
			iv.DropIdx = append(iv.DropIdx, iv.IdxStatus)
		}
		iv.IdxStatus = n
	}
	if iv.IdxAll == 0 {
		n, err := p.publishIndex(ctx, indexAllSubject(p.cfg.Namespace), fmt.Sprintf("v%d.a", seq), entry)
		if err != nil {
			return err
		}
		iv.IdxAll = n
	}
	return nil
}

func (p *Projector) publishIndex(ctx context.Context, subject, msgID string, data []byte) (uint64, error) {
	ack, err := p.js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID))
	if err != nil {
		return 0, fmt.Errorf("projections: index: %w", err)
	}
	return ack.Sequence, nil
}

// dropIndex removes replaced index entries (already removed ones are fine: a record
// applied again after a crash removes the same entries again).
func (p *Projector) dropIndex(ctx context.Context, seqs []uint64) error {
	for _, seq := range seqs {
		if err := deleteMsg(ctx, p.idx, seq); err != nil {
			return fmt.Errorf("projections: remove index entry %d: %w", seq, err)
		}
	}
	return nil
}

// deleteMsg removes the message at seq from stream; a message already gone is not an
// error. The server refuses a second delete with "sequence not found" (10043) or,
// at the stream's ends, "no message found" (10057, a generic delete failure), so a
// refused delete is checked by reading the message.
func deleteMsg(ctx context.Context, stream jetstream.Stream, seq uint64) error {
	err := stream.DeleteMsg(ctx, seq)
	if err == nil || isMsgNotFound(err) {
		return nil
	}
	if _, gerr := stream.GetMsg(ctx, seq); isMsgNotFound(gerr) {
		return nil
	}
	return err
}

func isMsgNotFound(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrMsgNotFound) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound
}

func (p *Projector) applyAdmin(ctx context.Context, seq uint64, enc string, ar *djs.AdminRecord) (Counters, error) {
	var iv InstanceView
	irev, err := p.get(ctx, instKey(enc), &iv)
	if errors.Is(err, ErrNotFound) {
		return Counters{}, nil
	}
	if err != nil {
		return Counters{}, err
	}
	if iv.Seq < seq && !iv.Deleted {
		prev := iv.contribution()
		iv.PrevStatus = iv.Status
		switch ar.Op {
		case djs.AdminDelete:
			iv.Deleted = true
			iv.DropIdx = nil
			for _, x := range []uint64{iv.IdxStatus, iv.IdxAll} {
				if x != 0 {
					iv.DropIdx = append(iv.DropIdx, x)
				}
			}
			iv.IdxStatus, iv.IdxAll = 0, 0
		case djs.AdminPrune:
			iv.DropIdx = nil
			for _, e := range ar.Executions {
				var ev ExecutionView
				if _, err := getJSON(ctx, p.js, p.kv, execKey(enc, e), &ev); err != nil {
					if errors.Is(err, ErrNotFound) {
						continue
					}
					return Counters{}, err
				}
				iv.Executions--
				iv.Events -= ev.Events
				iv.HistoryBytes -= ev.Bytes
			}
		default:
			return Counters{}, nil
		}
		iv.Seq, iv.Prev = seq, prev
		iv.Cur = iv.contribution()
		if err := p.put(ctx, instKey(enc), &iv, irev); err != nil {
			return Counters{}, err
		}
	}
	if iv.Seq != seq {
		return Counters{}, nil
	}
	if err := p.dropIndex(ctx, iv.DropIdx); err != nil {
		return Counters{}, err
	}
	return iv.Cur.add(iv.Prev, -1), nil
}

// cleanup removes the views an admin record made obsolete, once the counters
// include it. It only removes what the record itself marked.
func (p *Projector) cleanup(ctx context.Context, seq uint64, enc string, ar *djs.AdminRecord) error {
	var iv InstanceView
	if _, err := getJSON(ctx, p.js, p.kv, instKey(enc), &iv); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if iv.Seq != seq {
		return nil
	}
	var execs []uint64
	switch ar.Op {
	case djs.AdminDelete:
		for e := uint64(1); e <= iv.ExecutionID; e++ {
			execs = append(execs, e)
		}
	case djs.AdminPrune:
		execs = ar.Executions
	}
	for _, e := range execs {
		if _, err := p.kv.Get(ctx, execKey(enc, e)); err == nil {
			p.cache.forget(execKey(enc, e))
			if err := p.kv.Purge(ctx, execKey(enc, e)); err != nil {
				return fmt.Errorf("projections: remove execution view: %w", err)
			}
		}
	}
	if ar.Op == djs.AdminDelete && iv.Deleted {
		if iv.ParentInstance != "" {
			if err := p.kv.Purge(ctx, childKey(djs.EncodeToken(iv.ParentInstance), enc)); err != nil {
				return fmt.Errorf("projections: remove children index entry: %w", err)
			}
		}
		p.cache.forget(instKey(enc))
		if err := p.kv.Purge(ctx, instKey(enc)); err != nil {
			return fmt.Errorf("projections: remove instance view: %w", err)
		}
	}
	return nil
}

// commit adds delta to the counters and records seq as applied, unless it already is.
func (p *Projector) commit(ctx context.Context, seq uint64, delta Counters) error {
	for attempt := 0; ; attempt++ {
		if p.stats.AppliedSeq >= seq {
			return nil
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

// errConflict means a compare-and-set on a view failed: another projector wrote it.
var errConflict = errors.New("projections: view changed concurrently")

// viewCache keeps the last value and revision this projector read or wrote for each
// view, so applying a record costs only its writes. Several runtimes share the
// consumer, so an entry may be stale: the compare-and-set then fails, the entry is
// dropped and the record applied again.
type viewCache struct {
	m map[string]cachedView
}

type cachedView struct {
	rev  uint64
	data []byte
}

const maxCachedViews = 20000

func (c *viewCache) forget(key string) { delete(c.m, key) }

func (c *viewCache) set(key string, rev uint64, data []byte) {
	if c.m == nil || len(c.m) >= maxCachedViews {
		c.m = make(map[string]cachedView)
	}
	c.m[key] = cachedView{rev: rev, data: data}
}

// get reads a view through the cache; [ErrNotFound] for a missing key.
func (p *Projector) get(ctx context.Context, key string, out any) (uint64, error) {
	if cv, ok := p.cache.m[key]; ok {
		if err := json.Unmarshal(cv.data, out); err == nil {
			return cv.rev, nil
		}
	}
	rev, data, err := getEntry(ctx, p.js, p.kv, key, out)
	if err != nil {
		return 0, err
	}
	p.cache.set(key, rev, data)
	return rev, nil
}

// put writes a view with compare-and-set on rev (0: the key must not exist).
func (p *Projector) put(ctx context.Context, key string, v any, rev uint64) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = p.kv.Create(ctx, key, data)
	} else {
		nrev, err = p.kv.Update(ctx, key, data, rev)
	}
	if err != nil {
		p.cache.forget(key)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
			strings.Contains(err.Error(), "wrong last sequence") {
			return fmt.Errorf("%w: %s", errConflict, key)
		}
		return fmt.Errorf("projections: write %s: %w", key, err)
	}
	p.cache.set(key, nrev, data)
	return nil
}
