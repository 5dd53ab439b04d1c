package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/duroxide-go/duroxide/history"
	djs "github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// Applying a turn record: the instance's summary, execution and listing views move
// forward by one turn.

// turnRecord mirrors the fields of jetstream's history record the views need.
type turnRecord struct {
	Exec    uint64                `json:"exec"`
	Events  []eventHead           `json:"events"`
	Summary store.InstanceSummary `json:"summary"`
}

// eventHead is what the views need of a history event: its type and time (the
// rest of it, inputs and outputs included, is skipped, not decoded).
type eventHead struct {
	Type        history.EventType `json:"type"`
	TimestampMs int64             `json:"timestamp_ms"`
}

// base is the first record of the batch being applied (the counters include every
// record before it). An instance view changed earlier in the same batch keeps the
// contribution it had before the batch as Prev, so that a batch applied again after a
// crash before its counters were written counts each instance's change once: from
// the record that last changed the view (see apply).
func (p *Projector) applyTurn(ctx context.Context, seq, base uint64, enc string, rec *turnRecord, size int64) (Counters, error) {
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
		batchPrev := prev // the contribution the counters include
		if irev != 0 && iv.Seq >= base {
			batchPrev = iv.Prev // changed earlier in this batch: its Prev is from before it
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
		iv.Seq, iv.PrevStatus, iv.Prev = seq, prevStatus, batchPrev
		iv.Cur = iv.contribution()
		if err := p.indexEntries(ctx, seq, &iv, prevStatus); err != nil {
			return Counters{}, err
		}
		if err := p.put(ctx, instKey(enc), &iv, irev); err != nil {
			return Counters{}, err
		}
		if err := p.dropIndex(ctx, iv.DropIdx); err != nil {
			return Counters{}, err
		}
		return iv.Cur.add(prev, -1), nil // this record's own change
	}
	if iv.Seq != seq {
		return Counters{}, nil // a later record already applied
	}
	if err := p.dropIndex(ctx, iv.DropIdx); err != nil {
		return Counters{}, err
	}
	return iv.Cur.add(iv.Prev, -1), nil
}
