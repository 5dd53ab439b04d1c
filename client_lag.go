package duroxide

import (
	"context"
	"fmt"
	"time"

	"github.com/duroxide-go/duroxide/projections"
)

// ProjectorLag is how far the management views (list, info, metrics) are behind
// the history stream at one moment.
type ProjectorLag struct {
	// AppliedSeq is the last history stream sequence the views include.
	AppliedSeq uint64 `json:"applied_seq"`
	// LastSeq is the history stream's last sequence.
	LastSeq uint64 `json:"last_seq"`
	// Records is LastSeq-AppliedSeq, the history records not applied yet.
	Records uint64 `json:"records"`
	// Behind is the age of the oldest history record not applied yet; zero when the
	// views are caught up.
	Behind time.Duration `json:"behind_ns"`
}

// ProjectorLag measures how far the management views are behind the history
// stream now. Unlike the other management reads it does not wait for the projector
// to catch up, so it can be watched under load. Errors wrap [ErrViewsUnavailable]
// when no runtime has run a projector in the namespace yet.
func (c *Client) ProjectorLag(ctx context.Context) (*ProjectorLag, error) {
	lr, ok := c.mgmt().(interface {
		Lag(context.Context) (*projections.Lag, error)
	})
	if !ok {
		return nil, fmt.Errorf("duroxide: projector lag: %w (the store keeps no projected views)", ErrNotSupported)
	}
	l, err := lr.Lag(ctx)
	if err != nil {
		return nil, err
	}
	return &ProjectorLag{AppliedSeq: l.AppliedSeq, LastSeq: l.LastSeq, Records: l.Records, Behind: l.Behind}, nil
}
