package memstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// script runs a fixed sequence of calls on a fresh store and returns a transcript of
// everything they returned.
func script(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	clk := &virtualClock{now: epoch}
	s := memstore.New(memstore.Options{Clock: clk})
	defer s.Close()
	var out strings.Builder
	ids := []string{"zeta", "alpha", "mid", "beta", "omega"}
	for _, id := range ids {
		if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "O", Input: "{}"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	for range ids {
		item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
		if err != nil || item == nil {
			t.Fatalf("fetch: %v, %v", item, err)
		}
		fmt.Fprintf(&out, "fetch %s token=%s inc=%s attempt=%d\n", item.Instance, item.LockToken, item.Incarnation, item.AttemptCount)
		id := item.Instance
		err = s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1,
			HistoryDelta: []history.Event{{EventID: 1, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationStarted, Name: "O"},
				{EventID: 2, InstanceID: id, ExecutionID: 1, Type: history.ActivityScheduled, Name: "A"}},
			WorkerItems: []store.WorkItem{{Type: store.ActivityExecute, Instance: id, ExecutionID: 1, ID: 2, Name: "A"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		l, err := s.FetchWorkItem(ctx, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			break
		}
		fmt.Fprintf(&out, "work %s token=%s inc=%s attempt=%d\n", l.Item.Instance, l.LockToken, l.Item.Incarnation, l.AttemptCount)
		if i%2 == 0 {
			if err := s.AbandonWorkItem(ctx, l.LockToken, time.Second, false); err != nil {
				t.Fatal(err)
			}
			continue
		}
		done := store.WorkItem{Type: store.ActivityCompleted, Instance: l.Item.Instance, ExecutionID: 1, ID: 2, Result: "1"}
		if err := s.AckWorkItem(ctx, l.LockToken, &done); err != nil {
			t.Fatal(err)
		}
	}
	due, _ := s.NextDue()
	fmt.Fprintf(&out, "next due %v\n", due.Sub(epoch))
	all, err := s.ListAllInstances(ctx, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "list %v\n", all)
	page, err := s.ListInstances(ctx, store.ListQuery{Status: store.StatusRunning, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "page %v next=%q\n", page.Instances, page.Next)
	return out.String()
}

// TestDeterministic: the same calls give the same results (order, tokens,
// incarnations), and both queues are FIFO across instances.
func TestDeterministic(t *testing.T) {
	first := script(t)
	for i := 0; i < 5; i++ {
		if again := script(t); again != first {
			t.Fatalf("run %d differs:\n%s\nfirst run:\n%s", i+2, again, first)
		}
	}
	var order []string
	for _, line := range strings.Split(first, "\n") {
		if strings.HasPrefix(line, "fetch ") {
			order = append(order, strings.Fields(line)[1])
		}
	}
	if got := strings.Join(order, ","); got != "zeta,alpha,mid,beta,omega" {
		t.Fatalf("instances fetched in order %s, want enqueue order zeta,alpha,mid,beta,omega\n%s", got, first)
	}
}
