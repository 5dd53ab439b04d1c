package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

func isLockLost(err error) bool { return errors.Is(err, store.ErrLockLost) }

// TestCloseReleasesLocksAndWakesFetches: closing a handle releases its locks to
// the other handles and ends its waiting fetches with ErrClosed.
func TestCloseReleasesLocksAndWakesFetches(t *testing.T) {
	ctx := context.Background()
	a := memstore.New(memstore.Options{})
	b := a.Open(memstore.HandleOptions{})
	defer b.Close()
	if err := a.EnqueueForWorker(ctx, store.WorkItem{Type: store.ActivityExecute, Instance: "i", ExecutionID: 1, ID: 1, Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if w, err := a.FetchWorkItem(ctx, time.Hour, 0); err != nil || w == nil {
		t.Fatalf("fetch on a: %v, %v", w, err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := a.FetchOrchestrationItem(ctx, time.Hour, time.Hour, nil)
		waiting <- err
	}()
	for a.Counts().WaitingFetches == 0 {
		runtime.Gosched()
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("waiting fetch ended with %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a fetch waiting on a closed handle did not return")
	}
	w, err := b.FetchWorkItem(ctx, time.Hour, 0)
	if err != nil || w == nil || w.AttemptCount != 2 {
		t.Fatalf("fetch on b after a closed: %+v, %v; want the item a held, at attempt 2", w, err)
	}
	if _, err := a.FetchWorkItem(ctx, time.Hour, 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("fetch on the closed handle: %v, want ErrClosed", err)
	}
}

// TestBadInput: malformed calls fail with an error naming what was wrong, and
// enqueue nothing.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"empty instance", s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ExternalRaised, Name: "e"}, 0), "instance id is empty"},
		{"no type", s.EnqueueForOrchestrator(ctx, store.WorkItem{Instance: "i"}, 0), "no type"},
		{"activity on the orchestrator queue", s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ActivityExecute, Instance: "i"}, 0), "worker queue"},
		{"completion on the worker queue", s.EnqueueForWorker(ctx, store.WorkItem{Type: store.ActivityCompleted, Instance: "i"}), "ActivityExecute"},
		{"invalid UTF-8 id", s.EnqueueRaw(ctx, "\xff", []byte("{}")), "UTF-8"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, c.err, c.want)
		}
	}
	if _, err := s.ListInstances(ctx, store.ListQuery{Cursor: "not-a-cursor"}); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("bad cursor: %v, want an error naming the cursor", err)
	}
	if c := s.Counts(); c != (memstore.Counts{}) {
		t.Fatalf("bad input enqueued something: %+v", c)
	}
}

// TestUndecodableMessageDeadLettered: a raw body that does not decode is kept as a
// dead letter with its reason, never handed out, and the instance's other messages
// still are.
func TestUndecodableMessageDeadLettered(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	if err := s.EnqueueRaw(ctx, "raw-1", []byte(`{"type": "StartOrchestration", "instance": `)); err != nil {
		t.Fatal(err)
	}
	if err := s.EnqueueRaw(ctx, "raw-1", []byte(`{"type": "StartOrchestration", "instance": "raw-1", "name": "O"}`)); err != nil {
		t.Fatal(err)
	}
	item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil || len(item.Messages) != 1 || item.Messages[0].Item.Name != "O" {
		t.Fatalf("fetch: %+v, %v; want only the decodable start", item, err)
	}
	dl := s.DeadLetters()
	if len(dl) != 1 || dl[0].Instance != "raw-1" || !strings.Contains(dl[0].Reason, "undecodable") {
		t.Fatalf("dead letters %+v, want the undecodable body with its reason", dl)
	}
}

// TestManyDropsInOneFetch: a fetch that drops hundreds of stale messages (of an
// incarnation that does not exist) while it scans the queue returns the next
// instance's messages intact.
func TestManyDropsInOneFetch(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	for i := range 300 {
		it := store.WorkItem{Type: store.ActivityCompleted, Instance: "stale", ExecutionID: 1, ID: uint64(i + 1), Incarnation: "gone"}
		if err := s.EnqueueForOrchestrator(ctx, it, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ExternalRaised, Instance: "live", Name: fmt.Sprint(i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil || item.Instance != "live" || len(item.Messages) != 3 {
		t.Fatalf("fetch: %+v, %v; want live's 3 messages", item, err)
	}
	for i, m := range item.Messages {
		if m.Item.Name != fmt.Sprint(i) {
			t.Fatalf("message %d is %q, want %q (order kept)", i, m.Item.Name, fmt.Sprint(i))
		}
	}
	if c := s.Counts(); c.OrchestratorLocked != 3 || c.OrchestratorVisible != 0 {
		t.Fatalf("counts %+v, want only live's 3 locked messages left", c)
	}
}

// TestWaitingFetchHonoursContext: a fetch waiting for work returns the context's
// error when it ends.
func TestWaitingFetchHonoursContext(t *testing.T) {
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() {
		_, err := s.FetchWorkItem(ctx, time.Minute, time.Hour)
		done <- err
	}()
	go func() {
		_, err := s.FetchOrchestrationItem(ctx, time.Minute, time.Hour, nil)
		done <- err
	}()
	for s.Counts().WaitingFetches < 2 {
		runtime.Gosched()
	}
	cancel()
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("fetch ended with %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a waiting fetch ignored its context's end")
		}
	}
}
