package projections

import (
	"context"
	"errors"
	"fmt"

	djs "github.com/duroxide-go/duroxide/jetstream"
)

// Applying an admin record (deletion, pruning): the views it made obsolete are
// removed, and the counters follow.

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
