package duroxide

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// Session limits.
const (
	// MaxSessionIDBytes is the longest session id. An activity scheduled with a
	// longer one fails its orchestration.
	MaxSessionIDBytes = 256
	// MaxWorkerNodeIDBytes is the longest Options.WorkerNodeID.
	MaxWorkerNodeIDBytes = 64
)

// OnSession schedules the activity on session id: every activity of one session
// runs on the worker node that owns the session, as in duroxide's
// schedule_activity_on_session. This is routing only: activities of a session may
// run concurrently and in any order, and no state is kept for the session.
//
// The first node that receives an activity of an unowned session claims it (unless
// it owns Options.MaxSessionsPerRuntime sessions already) and keeps it while the
// session is busy; a session idle for Options.SessionIdleTimeout is no longer
// renewed, so its lease lapses within Options.SessionLockTimeout and it may move to
// another node, and the sessions of a node that dies move after
// Options.SessionLockTimeout. Activities must therefore cope with a session moving
// (for example by rebuilding in-memory state on a miss). Sessions are plain ids:
// they survive continue-as-new. A session whose activities use several tags has
// one owner per tag.
//
// The session id is part of the determinism check. An empty id means no session;
// an id longer than [MaxSessionIDBytes], not valid UTF-8 or holding a NUL byte
// fails the orchestration. Use it with ScheduleActivity and
// ScheduleActivityWithRetry (every attempt runs on the session).
func OnSession(id string) ActivityOption {
	return ActivityOption{func(o *activityOptions) { o.session = id }}
}

// validSessionID checks a scheduled activity's session id.
func validSessionID(id string) error {
	switch {
	case len(id) > MaxSessionIDBytes:
		return fmt.Errorf("session id is %d bytes, the limit is %d", len(id), MaxSessionIDBytes)
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		return fmt.Errorf("session id %q is not valid UTF-8 or holds a NUL byte", id)
	}
	return nil
}

// validateSessions checks the session options (after defaults) and fills in the
// generated WorkerNodeID.
func (o *Options) validateSessions() error {
	if o.WorkerNodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.WorkerNodeID = "worker-" + hex.EncodeToString(b[:])
	}
	switch {
	case len(o.WorkerNodeID) > MaxWorkerNodeIDBytes:
		return fmt.Errorf("%w: WorkerNodeID is %d bytes, the limit is %d", ErrInvalidInput, len(o.WorkerNodeID), MaxWorkerNodeIDBytes)
	case !utf8.ValidString(o.WorkerNodeID) || strings.ContainsRune(o.WorkerNodeID, 0):
		return fmt.Errorf("%w: WorkerNodeID %q is not valid UTF-8 or holds a NUL byte", ErrInvalidInput, o.WorkerNodeID)
	}
	if renew := o.ActivityLockTimeout / 2; o.SessionIdleTimeout <= renew {
		return fmt.Errorf("%w: SessionIdleTimeout (%v) must exceed the activity lock renewal interval (%v, half of ActivityLockTimeout)",
			ErrInvalidInput, o.SessionIdleTimeout, renew)
	}
	return nil
}

func (o *Options) sessionConfig() jetstream.SessionConfig {
	return jetstream.SessionConfig{Owner: o.WorkerNodeID, MaxSessions: o.MaxSessionsPerRuntime, LockTimeout: o.SessionLockTimeout}
}

// sessionManager is duroxide's session manager: every third of SessionLockTimeout it
// renews the leases of this runtime's sessions that saw activity within
// SessionIdleTimeout (an idle session's lease lapses, and another node may claim
// it), and every SessionCleanupInterval it deletes expired leases of sessions with
// no work left. It runs until stop is closed, then closes done.
func (r *Runtime) sessionManager(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	renew := time.NewTicker(max(r.opts.SessionLockTimeout/3, 10*time.Millisecond))
	defer renew.Stop()
	cleanup := time.NewTicker(r.opts.SessionCleanupInterval)
	defer cleanup.Stop()
	owners := []string{r.opts.WorkerNodeID}
	ss := r.st.(store.SessionStore) // run only on a store that has sessions
	for {
		select {
		case <-stop:
			return
		case <-renew.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.opts.SessionLockTimeout)
			if _, err := ss.RenewSessionLocks(ctx, owners, r.opts.SessionLockTimeout, r.opts.SessionIdleTimeout); err != nil {
				r.log.Warn("renew session leases", "err", err)
			}
			cancel()
		case <-cleanup.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if n, err := ss.CleanupOrphanedSessions(ctx, r.opts.SessionIdleTimeout); err != nil {
				r.log.Warn("clean up orphaned sessions", "err", err)
			} else if n > 0 {
				r.log.Debug("orphaned sessions cleaned up", "count", n)
			}
			cancel()
		}
	}
}

// OwnedSessions returns the sessions this runtime currently owns ("<tag>/<id>" for
// sessions of tagged activities), in no particular order; nil on a store
// ([Options.Store]) that does not report them (a method OwnedSessions() []string).
func (r *Runtime) OwnedSessions() []string {
	if o, ok := r.st.(interface{ OwnedSessions() []string }); ok {
		return o.OwnedSessions()
	}
	return nil
}

// WorkerNodeID returns this runtime's session owner identity (Options.WorkerNodeID or
// the generated one).
func (r *Runtime) WorkerNodeID() string { return r.opts.WorkerNodeID }
