package duroxide_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// Messages that reach an instance before its start (the start is in flight on
// another node, or on a killed one until the inbox AckWait; here: a start enqueued
// with a delay) wait for the start instead of being dropped as messages for an
// instance that does not exist: the queue message is the instance's first input.
func TestMessagesBeforeTheirStartWaitForIt(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "TakeOne", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		q, err := duroxide.Await[string](ctx.DequeueEvent("q"))
		if err != nil {
			return "", err
		}
		ev, err := duroxide.Await[string](ctx.WaitForEvent("ev"))
		return q + "+" + ev, err
	}); err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(memstore.Options{})
	rt, err := duroxide.Start(context.Background(), reg, duroxide.Options{Store: ms,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
		_ = ms.Close()
	})
	ctx := context.Background()
	const id = "overtaken"
	start := store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "TakeOne", Input: "null"}
	if err := ms.EnqueueForOrchestrator(ctx, start, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c := rt.Client()
	if err := c.EnqueueEvent(ctx, id, "q", "queued"); err != nil {
		t.Fatal(err)
	}
	if err := c.RaiseEvent(ctx, id, "ev", "raised"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := c.WaitForOrchestration(wctx, id)
	if err != nil {
		t.Fatalf("wait: %v (the messages sent before the start were dropped?)", err)
	}
	var out string
	if err := st.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if st.State != duroxide.StateCompleted || out != "queued+raised" {
		t.Fatalf("%s %q, want Completed \"queued+raised\"", st.State, out)
	}
}
