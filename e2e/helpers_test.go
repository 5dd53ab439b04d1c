package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/testknobs"
)

// startRuntime starts a runtime on a fresh embedded server with file storage in a
// temporary directory, and shuts it down when the test ends.
func startRuntime(t testing.TB, reg *duroxide.Registry, opts duroxide.Options) *duroxide.Runtime {
	t.Helper()
	return startRuntimeKnobs(t, reg, opts, testknobs.Knobs{})
}

// startRuntimeKnobs starts a runtime with test-only knobs (store hooks, shared
// partitions) and shuts it down when the test ends.
func startRuntimeKnobs(t testing.TB, reg *duroxide.Registry, opts duroxide.Options, k testknobs.Knobs) *duroxide.Runtime {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	rt, err := duroxide.Start(testknobs.With(context.Background(), k), reg, opts)
	if err != nil {
		t.Fatalf("start runtime: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
	})
	return rt
}

// waitDone waits for an instance to finish and fails the test if it does not within
// the timeout.
func waitDone(t testing.TB, c *duroxide.Client, id string, timeout time.Duration) *duroxide.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := c.WaitForOrchestration(ctx, id)
	if err != nil {
		t.Fatalf("wait for %q: %v", id, err)
	}
	return st
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// skipInShortMode skips a long multi-node test in -short mode. .ci/run runs every
// test in its plain pass and the race pass with -short: these tests exercise
// clusters and killed processes (whose nodes are not race-instrumented) for minutes,
// and the race detector has the same code paths covered by shorter tests.
func skipInShortMode(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("long multi-node test: runs without -short (the plain pass of .ci/run)")
	}
}
