// Package testknobs carries the runtime's test-only settings: fault-injection hooks
// in the store and partition sharing for tests of the history fence. They travel in
// the context passed to duroxide.Start, so they are not part of the public Options,
// and only this module's tests (an internal package) can set them.
package testknobs

import (
	"context"

	"github.com/duroxide-go/duroxide/jetstream"
)

// Knobs are the test-only settings of one runtime.
type Knobs struct {
	// StoreHooks are fault-injection points in the store (see jetstream.Hooks).
	StoreHooks jetstream.Hooks
	// SharedPartitions makes every node pull every partition (no pinning); only the
	// history fence then serialises instances.
	SharedPartitions bool
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
