package duroxide

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// ErrNotReady is wrapped by [Runtime.Ready]'s error when the node cannot do its
// work yet (or any more).
var ErrNotReady = errors.New("duroxide: node not ready")

// Ready reports whether the node can do its work: nil when its NATS connection is
// up, the server answers for the namespace's inbox, history, work and dead-letter
// streams, and the node owns at least one inbox partition — or runs no
// orchestrations (OrchestrationConcurrency -1, an activity-only node), which owns
// none. Otherwise it returns an error wrapping [ErrNotReady] that says which check
// failed: "not connected to NATS (status ...)", "stream ...: <the server's error>",
// "owns no inbox partition" (just started, a predecessor's lease has not run out,
// or there are more nodes than partitions), or "shut down". A node that is not ready keeps running and retrying; Ready is for
// load balancers and orchestrators (the /readyz route of the dashboard package). A
// runtime over [Options.Store] has none of these to check: it is ready until
// shut down.
func (r *Runtime) Ready(ctx context.Context) error {
	if r.loopCtx.Err() != nil {
		return fmt.Errorf("%w: shut down", ErrNotReady)
	}
	if r.js == nil {
		return nil // a runtime over Options.Store: no connection, streams or partitions
	}
	if st := r.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: not connected to NATS (status %s)", ErrNotReady, st)
	}
	if err := r.js.CheckStreams(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	if r.opts.OrchestrationConcurrency > 0 && len(r.js.OwnedPartitions()) == 0 {
		return fmt.Errorf("%w: owns no inbox partition", ErrNotReady)
	}
	return nil
}
