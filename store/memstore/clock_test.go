package memstore_test

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// virtualClock is a clock that moves only when told.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// createWithTimer creates instance id on s and commits a turn that schedules a timer
// firing at fire.
func createWithTimer(t *testing.T, s *memstore.Store, id string, fire time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "O", Input: "{}"}, 0); err != nil {
		t.Fatal(err)
	}
	item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch start: %v, %v", item, err)
	}
	err = s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
		HistoryDelta: []history.Event{
			{EventID: 1, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationStarted, Name: "O", Input: "{}"},
			{EventID: 2, InstanceID: id, ExecutionID: 1, Type: history.TimerCreated, FireAtMs: fire.UnixMilli()},
		},
		OrchestratorItems: []store.WorkItem{{Type: store.TimerFired, Instance: id, ExecutionID: 1, ID: 2, FireAtMs: fire.UnixMilli()}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVirtualClockTimer: a timer 30 days ahead on a virtual clock is not visible,
// NextDue names its due time and Idle holds; once the clock reaches it, Wake hands
// it to a fetch that is already waiting.
func TestVirtualClockTimer(t *testing.T) {
	clk := &virtualClock{now: epoch}
	s := memstore.New(memstore.Options{Clock: clk})
	defer s.Close()
	ctx := context.Background()
	fire := epoch.Add(30 * 24 * time.Hour)
	createWithTimer(t, s, "timer-1", fire)

	if item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil); err != nil || item != nil {
		t.Fatalf("fetch before the timer is due: %+v, %v; want nothing", item, err)
	}
	due, ok := s.NextDue()
	if !ok || !due.Equal(fire) {
		t.Fatalf("NextDue = %v, %v; want %v", due, ok, fire)
	}
	if !s.Idle() {
		t.Fatalf("Idle = false with only a timer 30 days ahead: %+v", s.Counts())
	}
	if c := s.Counts(); c.OrchestratorDelayed != 1 {
		t.Fatalf("counts %+v, want one delayed orchestrator message", c)
	}

	got := make(chan *store.OrchestrationItem, 1)
	go func() {
		item, err := s.FetchOrchestrationItem(ctx, time.Minute, time.Minute, nil)
		if err != nil {
			t.Error(err)
		}
		got <- item
	}()
	// Move the clock only once the fetch waits (else it would find the timer due
	// without being woken).
	for s.Counts().WaitingFetches == 0 {
		runtime.Gosched()
	}
	clk.Advance(30 * 24 * time.Hour)
	s.Wake()
	select {
	case item := <-got:
		if item == nil || len(item.Messages) != 1 || item.Messages[0].Item.Type != store.TimerFired {
			t.Fatalf("fetch after the clock moved: %+v", item)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiting fetch was not woken by Wake after the clock reached the timer")
	}
	if _, ok := s.NextDue(); ok {
		t.Fatal("NextDue still reports something after the timer was fetched")
	}
}

// TestVirtualClockTimestamps: summaries, views and lock expiry follow the store's
// clock, not real time.
func TestVirtualClockTimestamps(t *testing.T) {
	clk := &virtualClock{now: epoch}
	s := memstore.New(memstore.Options{Clock: clk})
	defer s.Close()
	ctx := context.Background()
	createWithTimer(t, s, "ts-1", epoch.Add(time.Hour))
	sum, err := s.InstanceSummary(ctx, "ts-1")
	if err != nil {
		t.Fatal(err)
	}
	if sum.CreatedAtMs != epoch.UnixMilli() {
		t.Fatalf("CreatedAtMs = %d, want the virtual clock's %d", sum.CreatedAtMs, epoch.UnixMilli())
	}
	info, err := s.ExecutionInfo(ctx, "ts-1", 1)
	if err != nil || !info.StartedAt.Equal(epoch) {
		t.Fatalf("execution started at %v (%v), want %v", info.StartedAt, err, epoch)
	}

	// A lock of one virtual minute expires when the clock passes it, however little
	// real time went by.
	if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ExternalRaised, Instance: "ts-1", Name: "e", Data: "{}"}, 0); err != nil {
		t.Fatal(err)
	}
	item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %v, %v", item, err)
	}
	clk.Advance(2 * time.Minute)
	again, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || again == nil || again.AttemptCount != 2 {
		t.Fatalf("fetch after the virtual lock expired: %+v, %v; want the event at attempt 2", again, err)
	}
	if err := s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1}); !isLockLost(err) {
		t.Fatalf("ack with the expired token: %v, want ErrLockLost", err)
	}
}

// TestDueMessagesKeepEnqueueOrder: a delayed message that becomes due takes its
// place in enqueue order, before messages enqueued after it, within an instance and
// across instances.
func TestDueMessagesKeepEnqueueOrder(t *testing.T) {
	ctx := context.Background()
	clk := &virtualClock{now: epoch}
	s := memstore.New(memstore.Options{Clock: clk})
	defer s.Close()
	enqueue := func(instance, name string, delay time.Duration) {
		t.Helper()
		if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ExternalRaised, Instance: instance, Name: name}, delay); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("a", "a-late", time.Hour)
	enqueue("b", "b-now", 0)
	enqueue("a", "a-later", 2*time.Hour)
	enqueue("a", "a-now", 0)
	clk.Advance(3 * time.Hour)
	var got []string
	for {
		item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if item == nil {
			break
		}
		for _, m := range item.Messages {
			got = append(got, m.Item.Name)
		}
		if err := s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{}); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"a-late", "a-later", "a-now", "b-now"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("fetched %v, want %v", got, want)
	}
}
