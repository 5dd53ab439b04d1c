package projections

import (
	"context"
	"fmt"
	"time"

	djs "github.com/duroxide-go/duroxide/jetstream"
)

// Lag is how far the views are behind the history stream.
type Lag struct {
	// AppliedSeq is the last history sequence the views include; LastSeq is the
	// history stream's last sequence.
	AppliedSeq, LastSeq uint64
	// Records is LastSeq-AppliedSeq: history records not yet applied (records
	// deleted before the projector saw them are counted too).
	Records uint64
	// Behind is the age of the oldest history record not yet applied; zero when
	// the views are caught up.
	Behind time.Duration
}

// Lag measures how far the views are behind the history stream now, without
// waiting for the projector. subjects filters the history records (the store's
// history subjects), so that a deleted record does not hide the next one. The
// history reads go to the stream leader.
func (v *Views) Lag(ctx context.Context, subjects string) (*Lag, error) {
	st, _, err := v.Stats(ctx)
	if err != nil {
		return nil, err
	}
	last, err := v.lastSeqFn(ctx)
	if err != nil {
		return nil, err
	}
	lag := &Lag{AppliedSeq: st.AppliedSeq, LastSeq: last}
	if lag.LastSeq <= lag.AppliedSeq {
		return lag, nil
	}
	lag.Records = lag.LastSeq - lag.AppliedSeq
	m, err := djs.LeaderGet(ctx, v.nc, v.histStrm, djs.LeaderGetRequest{Seq: lag.AppliedSeq + 1, NextBySubject: subjects})
	if err != nil {
		return nil, fmt.Errorf("projections: first unapplied history record: %w", err)
	}
	if m == nil {
		return lag, nil // the unapplied records were all deleted: nothing is stale
	}
	lag.Behind = max(0, time.Since(m.Time))
	return lag, nil
}
