package e2e

// Behaviours of duroxide's tests/queue_event.rs: a FIFO mailbox that buffers
// messages until they are dequeued, survives continue-as-new (at most 20 carried,
// oldest kept), drops messages for instances that do not exist, and differs from
// positional events (an event raised while nobody waits is never delivered).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// drainQueue dequeues until a dequeue loses against a short timer.
func drainQueue(ctx *duroxide.OrchestrationContext, queue string) ([]string, error) {
	var got []string
	for {
		f := ctx.DequeueEvent(queue)
		if ctx.Select(f, ctx.ScheduleTimer(100*time.Millisecond)) == 1 {
			return got, nil
		}
		v, err := duroxide.Await[string](f)
		if err != nil {
			return nil, err
		}
		got = append(got, v)
	}
}

func TestQueueIsFIFOAndBuffersUntilDequeued(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Mailbox", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		// Wait for a signal first, so every message arrives before any dequeue.
		if err := ctx.DequeueEvent("go").Get(nil); err != nil {
			return "", err
		}
		var got []string
		for i := 0; i < 3; i++ {
			v, err := duroxide.Await[string](ctx.DequeueEvent("inbox"))
			if err != nil {
				return "", err
			}
			got = append(got, v)
		}
		return strings.Join(got, ","), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "queue-fifo"
	must(t, c.StartOrchestration(ctx, id, "Mailbox", ""))
	waitHistory(t, c, id, "the first dequeue", func(evs []history.Event) bool { return hasEvent(evs, history.QueueSubscribed, "go") })
	for _, m := range []string{"a", "b", "c"} {
		must(t, c.EnqueueEvent(ctx, id, "inbox", m))
	}
	must(t, c.EnqueueEvent(ctx, id, "go", ""))
	if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "a,b,c" {
		t.Fatalf("output %q, want a,b,c", out)
	}
}

func TestQueueSurvivesContinueAsNew(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "CarryOn", func(ctx *duroxide.OrchestrationContext, seen []string) ([]string, error) {
		if ctx.ExecutionID() == 1 {
			if err := ctx.WaitForEvent("go").Get(nil); err != nil {
				return nil, err
			}
			v, err := duroxide.Await[string](ctx.DequeueEvent("work"))
			if err != nil {
				return nil, err
			}
			return nil, ctx.ContinueAsNew(append(seen, v))
		}
		rest, err := drainQueue(ctx, "work")
		return append(seen, rest...), err
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "queue-can"
	must(t, c.StartOrchestration(ctx, id, "CarryOn", []string{}))
	sampleWaitSubscribed(t, c, id, "go", 10*time.Second)
	for _, m := range []string{"a", "b", "c"} {
		must(t, c.EnqueueEvent(ctx, id, "work", m))
	}
	must(t, c.RaiseEvent(ctx, id, "go", nil)) // arrives after the three messages
	out := sampleOutput[[]string](t, waitDone(t, c, id, sampleWait))
	if !slices.Equal(out, []string{"a", "b", "c"}) {
		t.Fatalf("output %v, want [a b c]", out)
	}
	e2, err := c.ReadHistory(ctx, id, 2)
	must(t, err)
	if cf := e2[0].CarryForward; len(cf) != 2 || cf[0].Data != `"b"` || cf[1].Data != `"c"` {
		t.Fatalf("execution 2 carried %+v, want b and c", cf)
	}
}

func TestQueueCarryForwardKeepsOldest20(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Overflow", func(ctx *duroxide.OrchestrationContext, _ string) ([]string, error) {
		if ctx.ExecutionID() == 1 {
			if err := ctx.WaitForEvent("go").Get(nil); err != nil {
				return nil, err
			}
			return nil, ctx.ContinueAsNew("")
		}
		return drainQueue(ctx, "q")
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "queue-overflow"
	must(t, c.StartOrchestration(ctx, id, "Overflow", ""))
	sampleWaitSubscribed(t, c, id, "go", 10*time.Second)
	var want []string
	for i := 0; i < 25; i++ {
		m := fmt.Sprintf("m%02d", i)
		must(t, c.EnqueueEvent(ctx, id, "q", m))
		if i < duroxide.MaxCarryForwardEvents {
			want = append(want, m)
		}
	}
	must(t, c.RaiseEvent(ctx, id, "go", nil))
	if out := sampleOutput[[]string](t, waitDone(t, c, id, sampleWait)); !slices.Equal(out, want) {
		t.Fatalf("output %v, want the oldest 20: %v", out, want)
	}
}

func TestQueueMessagesForMissingInstanceAreDropped(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Late", func(ctx *duroxide.OrchestrationContext, _ string) ([]string, error) {
		return drainQueue(ctx, "q")
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := context.Background()
	const id = "queue-orphan"
	must(t, c.EnqueueEvent(ctx, id, "q", "lost"))
	waitFor(t, "the orphan message to be dropped", func() bool {
		return streamMsgs(rt, "DUROXIDE_INBOX", "duroxide.in.*."+id+".*") == 0
	})
	must(t, c.StartOrchestration(ctx, id, "Late", ""))
	if out := sampleOutput[[]string](t, waitDone(t, c, id, sampleWait)); len(out) != 0 {
		t.Fatalf("output %v: a message sent before the instance existed was delivered", out)
	}
}

// RaiseEvent is positional and ephemeral: an event raised while no wait is active
// is recorded but never delivered. EnqueueEvent is a mailbox: the message waits.
func TestQueueVersusPositionalEvents(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "SideBySide", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if err := ctx.DequeueEvent("go").Get(nil); err != nil {
			return "", err
		}
		ev := ctx.WaitForEvent("signal")
		evOut := "event:dropped"
		if ctx.Select(ev, ctx.ScheduleTimer(100*time.Millisecond)) == 0 {
			evOut = "event:delivered"
		}
		q := ctx.DequeueEvent("mail")
		qOut := "queue:empty"
		if ctx.Select(q, ctx.ScheduleTimer(100*time.Millisecond)) == 0 {
			v, err := duroxide.Await[string](q)
			if err != nil {
				return "", err
			}
			qOut = "queue:" + v
		}
		return evOut + "," + qOut, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "queue-vs-event"
	must(t, c.StartOrchestration(ctx, id, "SideBySide", ""))
	waitHistory(t, c, id, "the go dequeue", func(evs []history.Event) bool { return hasEvent(evs, history.QueueSubscribed, "go") })
	must(t, c.RaiseEvent(ctx, id, "signal", "early"))
	must(t, c.EnqueueEvent(ctx, id, "mail", "early"))
	must(t, c.EnqueueEvent(ctx, id, "go", ""))
	if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "event:dropped,queue:early" {
		t.Fatalf("output %q, want event:dropped,queue:early", out)
	}
	evs := mustHistory(t, c, id)
	if !hasEvent(evs, history.ExternalEvent, "signal") || countType(evs, history.QueueEventDelivered) != 2 {
		t.Fatalf("history must record the undelivered event and both queue messages: %+v", evs)
	}
}

// Queues are independent of each other, and a dequeue waits for its message.
func TestQueuesAreIndependent(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "TwoQueues", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		b, err := duroxide.Await[int](ctx.DequeueEvent("b"))
		if err != nil {
			return "", err
		}
		a, err := duroxide.Await[int](ctx.DequeueEvent("a"))
		return fmt.Sprintf("a=%d b=%d", a, b), err
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "two-queues", "TwoQueues", ""))
	waitHistory(t, c, "two-queues", "the dequeue of b", func(evs []history.Event) bool { return hasEvent(evs, history.QueueSubscribed, "b") })
	must(t, c.EnqueueEvent(ctx, "two-queues", "a", 1))
	must(t, c.EnqueueEvent(ctx, "two-queues", "b", 2))
	if out := sampleOutput[string](t, waitDone(t, c, "two-queues", sampleWait)); out != "a=1 b=2" {
		t.Fatalf("output %q", out)
	}
}
