// Package testknobs carries the runtime's test-only settings: fault-injection hooks
// in the store, partition sharing for tests of the history fence, and the virtual
// clock, manual driving and activity mocks of the time-skipping harness
// (package duroxidetest). They travel in the context passed to duroxide.Start, so
// they are not part of the public Options, and only this module (an internal
// package) can set them.
package testknobs

import (
	"context"
	"time"

	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// Knobs are the test-only settings of one runtime.
type Knobs struct {
	// StoreHooks are fault-injection points in the store (see jetstream.Hooks).
	StoreHooks jetstream.Hooks
	// SharedPartitions makes every node pull every partition (no pinning); only the
	// history fence then serialises instances.
	SharedPartitions bool

	// Clock, when set, is the runtime's time: the timestamps of the events its
	// turns record, from which timer fire times and OrchestrationContext.Now
	// follow. Default: time.Now.
	Clock func() time.Time
	// Driver, when set, makes Start run no fetch loops and no session manager:
	// Start fills it with the runtime's own turn and activity code, and the caller
	// fetches from the store and calls them, one at a time.
	Driver *Driver
	// MockActivity, when set, is asked for each activity before the registry: it
	// returns the function to run instead (a
	// func(*duroxide.ActivityContext, string) (string, error)) and true, or false
	// to run the registered activity.
	MockActivity func(name string) (any, bool)
	// ReplayEveryTurn keeps no engine between turns: every turn replays the
	// execution's history from the start, so nondeterministic orchestration code
	// fails at its next turn instead of at the next restart.
	ReplayEveryTurn bool
}

// Driver is the runtime's turn and activity code, for a caller that drives the
// runtime itself (Knobs.Driver). Each call runs to the end: Turn commits (or
// abandons) the item, Activity acks (or abandons) the lease.
type Driver struct {
	Turn     func(*store.OrchestrationItem)
	Activity func(*store.WorkLease)
}

type key struct{}

// With returns ctx carrying k, for duroxide.Start.
func With(ctx context.Context, k Knobs) context.Context {
	return context.WithValue(ctx, key{}, k)
}

// From returns the knobs ctx carries, or the zero Knobs.
func From(ctx context.Context) Knobs {
	k, _ := ctx.Value(key{}).(Knobs)
	return k
}
