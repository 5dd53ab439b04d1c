package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	djs "github.com/duroxide-go/duroxide/jetstream"
)

// The listing index, in a stream of its own: an instance's entry under its status
// and one under "all", published as its view changes and dropped once replaced.

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
	if seq, ok, err := p.pre.take(ctx, msgID); ok {
		return seq, err
	}
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
