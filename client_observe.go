package duroxide

import (
	"context"
	"fmt"

	"github.com/duroxide-go/duroxide/jetstream"
)

// NodeInfo is one live node of the deployment (the store's type): its id, name,
// last heartbeat and the inbox partitions it owns.
type NodeInfo = jetstream.NodeView

// Nodes lists the nodes running orchestrations whose heartbeat is younger than the
// partition lease, in id order, each with the inbox partitions the shared assignment
// gives it (computed with this client's partition count: a runtime's client knows
// the deployment's). Activity-only nodes do not heartbeat and are not listed; a
// client over a store other than JetStream's lists none. A failed read returns the
// server's error.
func (c *Client) Nodes(ctx context.Context) ([]NodeInfo, error) {
	if c.js == nil {
		return nil, nil // a store with no nodes bucket (Options.Store)
	}
	return c.js.Nodes(ctx)
}

// DeadLetter is one dead-lettered inbox message (the store's type): the instance it
// was for, the reason it was rejected, and when.
type DeadLetter = jetstream.DeadLetter

// RecentDeadLetters returns up to limit (1..1000) of the newest dead-lettered inbox
// messages, newest first (none on a store other than JetStream's). A limit outside
// 1..1000 returns an error wrapping
// [ErrInvalidInput]; a failed read returns the server's error.
func (c *Client) RecentDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit < 1 || limit > 1000 {
		return nil, fmt.Errorf("%w: dead-letter limit %d is outside 1..1000", ErrInvalidInput, limit)
	}
	if c.js == nil {
		return nil, nil // a store with no dead-letter stream (Options.Store)
	}
	return c.js.RecentDeadLetters(ctx, limit)
}
