package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	djs "github.com/duroxide-go/duroxide/jetstream"
)

// Batches: the projector applies many history records per delivery.
//
// The shared durable consumer delivers one record at a time to one runtime
// (MaxAckPending 1): holding record S unacknowledged is this projector's turn. It
// then reads the records after S from the history stream itself (one batched
// direct get, when the delivery says more follow), applies S and them as one batch
// (the records of different instances in parallel, each instance's in stream
// order), writes the counters once with the batch's last sequence as applied, and
// moves the consumer past the batch (a reset to the next sequence, not an ack per
// record). An admin record (delete, prune) is always a batch of its own.
//
// A crash before the counters are written leaves some views written and the
// counters at the batch's start: the batch is delivered again and re-applied. Each
// view records the contribution it had before the batch (InstanceView.Prev), so the
// re-applied batch counts each instance's change once, from the record that last
// changed its view (applyTurn).

// maxBatch bounds the records of one batch (read ahead after the delivered one),
// and maxBatchBytes their size. Under node bench at 200 in flight, batches of up to
// 128 left the views about 5 s behind; of up to 512, under 0.1 s
// (docs/PERFORMANCE.md).
const (
	maxBatch      = 512
	maxBatchBytes = 8 << 20
)

// record is one history record of a batch.
type record struct {
	seq     uint64
	subject string
	data    []byte
	enc     string      // the instance token
	turn    *turnRecord // decoded; nil when it is no turn record or does not decode
}

// isAdmin reports whether subject is an admin record's (<ns>.hist.<id>.x.<op>).
func isAdmin(subject string) bool { return strings.Count(subject, ".") == 4 }

// readAhead returns the records after seq (at most maxBatch-1 and about
// maxBatchBytes, up to the first admin record), in stream order. A failed read
// returns none: the batch is then the delivered record alone.
func (p *Projector) readAhead(ctx context.Context, seq uint64) []record {
	msgs, _, err := djs.DirectBatchBytes(ctx, p.js.Conn(), p.cfg.HistoryStream, p.cfg.HistorySubjects, seq+1, maxBatch-1, maxBatchBytes)
	if err != nil {
		p.log.Debug("read ahead of the projector consumer", "after", seq, "err", err)
		return nil
	}
	out := make([]record, 0, len(msgs))
	next := seq
	for _, m := range msgs {
		s, subject := djs.DirectSeq(m), m.Header.Get(jetstream.SubjectHeader) // m.Subject is the reply inbox
		if s <= next || subject == "" || isAdmin(subject) {
			break
		}
		out = append(out, record{seq: s, subject: subject, data: m.Data})
		next = s
	}
	return out
}

// applyBatch applies recs (turn records, in stream order) and then writes the
// counters with the last one as applied:
//
//  1. the instance views the batch changes are read (in parallel; mostly from the
//     cache);
//  2. in stream order, the listing index entries the records add are published,
//     asynchronously: the index stream keeps them in that order, which is the
//     listing's (creation order, order of reaching a status), whatever order the
//     instances are then applied in;
//  3. each instance's records are applied in order, instances in parallel, taking
//     their index entries' sequences from step 2;
//  4. the counters are written once.
func (p *Projector) applyBatch(ctx context.Context, recs []record) (err error) {
	base := p.stats.AppliedSeq + 1 // the counters include every record before it
	last := recs[len(recs)-1].seq
	if base > last {
		return nil
	}
	var order []string
	byInst := map[string][]*record{}
	for i := range recs {
		r := &recs[i]
		if r.seq < base {
			continue
		}
		p.decodeTurn(r)
		if r.turn == nil {
			continue // no turn record, or undecodable: nothing to apply (the batch's commit passes it)
		}
		if _, ok := byInst[r.enc]; !ok {
			order = append(order, r.enc)
		}
		byInst[r.enc] = append(byInst[r.enc], r)
	}
	views, err := p.loadInstanceViews(ctx, order)
	if err != nil {
		return err
	}
	p.pre.publish(p, recs, base, views)
	defer func() { p.pre.finish(ctx, p, err == nil) }()

	var (
		mu    sync.Mutex
		total Counters
		errs  []error
		wg    sync.WaitGroup
	)
	for _, enc := range order {
		wg.Add(1)
		go func(rs []*record) {
			defer wg.Done()
			var sum Counters
			for _, r := range rs {
				d, err := p.applyOne(ctx, r, base)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				sum = sum.add(d, 1)
			}
			mu.Lock()
			total = total.add(sum, 1)
			mu.Unlock()
		}(byInst[enc])
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, err := range errs {
			if errors.Is(err, errCrash) {
				return errCrash
			}
		}
		return errs[0]
	}
	return p.commitBatch(ctx, base, last, total)
}

// loadInstanceViews reads the instance views of encs (in parallel, through the
// cache); a missing one is a zero view with revision 0.
func (p *Projector) loadInstanceViews(ctx context.Context, encs []string) (map[string]loadedView, error) {
	out := make(map[string]loadedView, len(encs))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		ferr error
	)
	for _, enc := range encs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var iv InstanceView
			rev, err := p.get(ctx, instKey(enc), &iv)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !errors.Is(err, ErrNotFound) {
				ferr = err
				return
			}
			out[enc] = loadedView{iv: iv, rev: rev}
		}()
	}
	wg.Wait()
	return out, ferr
}

type loadedView struct {
	iv  InstanceView
	rev uint64
}

// applyOne applies one turn record of a batch starting at base, retrying when
// another runtime's projector wrote a view this one had cached, and runs the
// BeforeCounters hook. It returns the record's change to the counters.
func (p *Projector) applyOne(ctx context.Context, r *record, base uint64) (Counters, error) {
	d, err := p.applyTurnRecord(ctx, r, base)
	for attempt := 0; attempt < 3 && errors.Is(err, errConflict); attempt++ {
		d, err = p.applyTurnRecord(ctx, r, base)
	}
	if err != nil {
		return Counters{}, err
	}
	if h := p.cfg.Hooks.BeforeCounters; h != nil {
		if err := h(r.seq); err != nil {
			return Counters{}, errCrash
		}
	}
	return d, nil
}

// prepublished are the listing index entries published ahead for a batch, by
// deduplication id, until indexEntries takes them.
type prepublished struct {
	mu      sync.Mutex
	entries map[string]*preEntry
}

type preEntry struct {
	f    jetstream.PubAckFuture
	used bool
	// The future's answer, kept by the first take: a record applied again (a
	// conflict) takes its entries again.
	done bool
	seq  uint64
	err  error
}

// publish predicts, in stream order, the index entries indexEntries will add for
// recs (given the instance views before the batch) and publishes them
// asynchronously, in that order, with the deduplication ids indexEntries uses.
func (pp *prepublished) publish(p *Projector, recs []record, base uint64, views map[string]loadedView) {
	type state struct {
		applied uint64
		status  string
		hasAll  bool
	}
	st := make(map[string]*state, len(views))
	for enc, v := range views {
		s := &state{applied: v.iv.Seq}
		if v.rev != 0 && !v.iv.Deleted {
			s.status, s.hasAll = v.iv.Status, v.iv.IdxAll != 0
		}
		st[enc] = s
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.entries = make(map[string]*preEntry)
	for i := range recs {
		r := &recs[i]
		s := st[r.enc]
		if r.seq < base || r.turn == nil || s == nil || r.seq <= s.applied {
			continue // applied before (its entries are in its view)
		}
		if _, err := djs.DecodeToken(r.enc); err != nil {
			continue // applyTurn skips it
		}
		sum := &r.turn.Summary
		instance, _ := djs.DecodeToken(r.enc)
		entry, _ := json.Marshal(indexEntry{ID: djs.EncodeToken(instance), CreatedAtMs: sum.CreatedAtMs, Name: sum.Name})
		if s.status != sum.Status {
			pp.add(p, indexStatusSubject(p.cfg.Namespace, sum.Status), fmt.Sprintf("v%d.s", r.seq), entry)
		}
		if !s.hasAll {
			pp.add(p, indexAllSubject(p.cfg.Namespace), fmt.Sprintf("v%d.a", r.seq), entry)
		}
		s.applied, s.status, s.hasAll = r.seq, sum.Status, true
	}
}

func (pp *prepublished) add(p *Projector, subject, msgID string, data []byte) {
	f, err := p.js.PublishAsync(subject, data, jetstream.WithMsgID(msgID))
	if err != nil {
		return // indexEntries publishes it itself
	}
	pp.entries[msgID] = &preEntry{f: f}
}

// take returns the sequence of the entry published ahead with msgID, if there is
// one (ok).
func (pp *prepublished) take(ctx context.Context, msgID string) (seq uint64, ok bool, err error) {
	pp.mu.Lock()
	e := pp.entries[msgID]
	pp.mu.Unlock()
	if e == nil {
		return 0, false, nil
	}
	// Only the goroutine of the entry's instance takes it: no lock needed below.
	if !e.done {
		select {
		case ack := <-e.f.Ok():
			e.seq = ack.Sequence
		case err := <-e.f.Err():
			e.err = fmt.Errorf("projections: index: %w", err)
		case <-ctx.Done():
			return 0, true, fmt.Errorf("projections: index: %w", ctx.Err())
		}
		e.done = true
	}
	pp.mu.Lock()
	e.used = e.err == nil
	pp.mu.Unlock()
	return e.seq, true, e.err
}

// finish ends a batch. When it was applied (applied), the entries published ahead
// that no view took (the views changed under the batch: another runtime's
// projector applied them) are removed, so the listing does not show them twice. An
// entry the server reported as a duplicate was published by an earlier attempt and
// may be a view's: it stays. When the batch failed, every entry stays: applying it
// again publishes them again with the same deduplication ids, which return these
// entries (a removed one would be returned too, and a view would point at nothing).
func (pp *prepublished) finish(ctx context.Context, p *Projector, applied bool) {
	pp.mu.Lock()
	entries := pp.entries
	pp.entries = nil
	pp.mu.Unlock()
	if !applied {
		return
	}
	for _, e := range entries {
		if e.used || e.done {
			continue // taken by a view, or its publish failed
		}
		select {
		case ack := <-e.f.Ok():
			if !ack.Duplicate {
				if err := deleteMsg(ctx, p.idx, ack.Sequence); err != nil {
					p.log.Warn("remove an unused listing index entry", "seq", ack.Sequence, "err", err)
				}
			}
		case <-e.f.Err():
		case <-ctx.Done():
		}
	}
}
