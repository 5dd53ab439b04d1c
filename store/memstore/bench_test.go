package memstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// BenchmarkTurnRoundTrip measures one orchestration turn through the store: enqueue
// a start, fetch it, ack a commit that creates the instance and schedules an
// activity; then the activity: fetch the work item and ack it with its completion.
//
//	go test -run '^$' -bench TurnRoundTrip -benchmem ./store/memstore
func BenchmarkTurnRoundTrip(b *testing.B) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "O", Input: "{}"}, 0); err != nil {
			b.Fatal(err)
		}
		item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
		if err != nil || item == nil {
			b.Fatalf("fetch: %v, %v", item, err)
		}
		err = s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
			HistoryDelta: []history.Event{{EventID: 1, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationStarted, Name: "O", Input: "{}"},
				{EventID: 2, InstanceID: id, ExecutionID: 1, Type: history.ActivityScheduled, Name: "A", Input: "{}"}},
			WorkerItems: []store.WorkItem{{Type: store.ActivityExecute, Instance: id, ExecutionID: 1, ID: 2, Name: "A", Input: "{}"}}})
		if err != nil {
			b.Fatal(err)
		}
		w, err := s.FetchWorkItem(ctx, time.Minute, 0)
		if err != nil || w == nil {
			b.Fatalf("fetch work: %v, %v", w, err)
		}
		done := store.WorkItem{Type: store.ActivityCompleted, Instance: id, ExecutionID: 1, ID: 2, Result: "1"}
		if err := s.AckWorkItem(ctx, w.LockToken, &done); err != nil {
			b.Fatal(err)
		}
		// The completion's turn.
		item, err = s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
		if err != nil || item == nil {
			b.Fatalf("fetch completion: %v, %v", item, err)
		}
		err = s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
			HistoryDelta: []history.Event{{EventID: 3, InstanceID: id, ExecutionID: 1, Type: history.ActivityCompleted, SourceEventID: 2, Output: "1"},
				{EventID: 4, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationCompleted, Output: "1"}}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTurnAmongTimers is BenchmarkTurnRoundTrip's orchestration half with
// 10,000 other instances waiting on timers: a fetch passes over every message not
// yet due, so its cost grows with the queue.
//
//	go test -run '^$' -bench TurnAmongTimers -benchmem ./store/memstore
func BenchmarkTurnAmongTimers(b *testing.B) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	far := time.Now().Add(time.Hour).UnixMilli()
	for i := range 10000 {
		it := store.WorkItem{Type: store.TimerFired, Instance: "sleeper-" + strconv.Itoa(i), ExecutionID: 1, ID: 2, FireAtMs: far}
		if err := s.EnqueueForOrchestrator(ctx, it, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "O", Input: "{}"}, 0); err != nil {
			b.Fatal(err)
		}
		item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
		if err != nil || item == nil {
			b.Fatalf("fetch: %v, %v", item, err)
		}
		err = s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
			HistoryDelta: []history.Event{{EventID: 1, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationStarted, Name: "O", Input: "{}"},
				{EventID: 2, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationCompleted, Output: "1"}}})
		if err != nil {
			b.Fatal(err)
		}
	}
}
