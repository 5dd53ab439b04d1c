package jetstream

import (
	"context"
	"testing"
	"time"
)

// TestFirstFetchWaitsOnlyItsPollTimeout: a fetch returns by its poll timeout counted
// from the call, also when it is the first one and starts the store's consumers.
// (Starting them used to come before the poll timeout began, so a slow start, such
// as on a loaded machine, was added to it.)
func TestFirstFetchWaitsOnlyItsPollTimeout(t *testing.T) {
	const start, poll = time.Second, time.Second
	st, _ := openTestStore(t, Config{Hooks: Hooks{StartingConsumers: func() { time.Sleep(start) }}})
	ctx := context.Background()
	// Both steps take start; returning before start+poll shows the poll timeout ran
	// during the start instead of after it.
	began := time.Now()
	item, err := st.FetchOrchestrationItem(ctx, time.Second, poll, nil)
	if took := time.Since(began); err != nil || item != nil || took >= start+poll {
		t.Fatalf("first orchestration fetch: %+v %v after %v, want nothing within %v", item, err, took, start+poll)
	}
	began = time.Now()
	w, err := st.FetchWorkItem(ctx, time.Second, poll)
	if took := time.Since(began); err != nil || w != nil || took >= start+poll {
		t.Fatalf("first work fetch: %+v %v after %v, want nothing within %v", w, err, took, start+poll)
	}
}
