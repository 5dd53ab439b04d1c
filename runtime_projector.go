package duroxide

import (
	"context"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide/projections"
)

// management is the runtime's part of the management API: the projector that keeps
// the views in NATS KV current, and the system activities (KV reads of other
// instances).
type management struct {
	mu   sync.Mutex
	proj *projections.Projector
	done chan struct{}
}

// startManagement registers the system activities and starts the projector. If the
// projector cannot start yet (a cluster still electing leaders), it keeps trying in
// the background until the runtime shuts down.
func (r *Runtime) startManagement(ctx context.Context) {
	r.reg.mu.Lock()
	r.reg.acts[syscallGetKV] = getKVActivity
	r.reg.mu.Unlock()

	r.mgmt.done = make(chan struct{})
	if r.js == nil {
		close(r.mgmt.done) // another store keeps its management views itself
		return
	}
	cfg := projections.Config{
		Namespace:       r.js.Namespace(),
		HistoryStream:   r.js.HistoryStream(),
		HistorySubjects: r.js.HistorySubjects(),
		Storage:         r.js.StorageType(),
		Replicas:        r.js.Replicas(),
		Logger:          r.opts.Logger,
	}
	if p, err := projections.Start(ctx, r.js.JetStream(), cfg); err == nil {
		r.mgmt.proj = p
		close(r.mgmt.done)
		return
	} else {
		r.log.Warn("projector not started; retrying", "err", err)
	}
	go func() {
		defer close(r.mgmt.done)
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			sleepCtx(r.loopCtx, delay)
			if r.loopCtx.Err() != nil {
				return
			}
			p, err := projections.Start(r.loopCtx, r.js.JetStream(), cfg)
			if err == nil {
				r.mgmt.mu.Lock()
				r.mgmt.proj = p
				r.mgmt.mu.Unlock()
				return
			}
			r.log.Warn("projector not started; retrying", "err", err)
		}
	}()
}

// stopManagement stops the projector (after the fetch loops stopped).
func (r *Runtime) stopManagement() {
	<-r.mgmt.done
	r.mgmt.mu.Lock()
	defer r.mgmt.mu.Unlock()
	if r.mgmt.proj != nil {
		r.mgmt.proj.Stop()
		r.mgmt.proj = nil
	}
}
