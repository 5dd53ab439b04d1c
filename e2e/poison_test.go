package e2e

// Behaviours of duroxide's tests/poison_message.rs: a message delivered more than
// MaxAttempts times fails its instance (orchestration messages) or its activity
// (which then fails the instance) with a poison error naming the message.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/testknobs"
	"github.com/duroxide-go/duroxide/jetstream"
)

const poisonMax = 3

// hostRuntime starts a runtime that only hosts the server (no turns, no activities).
func hostRuntime(t *testing.T) *duroxide.Runtime {
	return startRuntimeKnobs(t, duroxide.NewRegistry(), duroxide.Options{Listen: "127.0.0.1:0",
		OrchestrationConcurrency: -1, ActivityConcurrency: -1}, testknobs.Knobs{SharedPartitions: true})
}

// openStore opens a second store on the host's server, to play a node that keeps
// failing to process messages.
func openStore(t *testing.T, host *duroxide.Runtime) *jetstream.Store {
	t.Helper()
	s, err := jetstream.Open(context.Background(), host.Conn(), jetstream.Config{SharedPartitions: true})
	must(t, err)
	return s
}

func TestPoisonOrchestrationMessageFailsInstance(t *testing.T) {
	host := hostRuntime(t)
	c := host.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "poisoned", "Victim", ""))
	s := openStore(t, host)
	for {
		item, err := s.FetchOrchestrationItem(ctx, time.Second, 5*time.Second, nil)
		must(t, err)
		if item == nil {
			t.Fatal("the start message was not delivered")
		}
		must(t, s.AbandonOrchestrationItem(ctx, item.LockToken, 0, false))
		if item.AttemptCount >= poisonMax {
			break
		}
	}
	must(t, s.Close())

	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Victim", func(*duroxide.OrchestrationContext, string) (string, error) {
		return "must not run", nil
	}))
	startRuntimeKnobs(t, reg, duroxide.Options{NATSURL: host.ClientURL(), MaxAttempts: poisonMax},
		testknobs.Knobs{SharedPartitions: true})
	st := waitDone(t, c, "poisoned", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Category != history.Poison || !strings.Contains(st.Failure.Message, "StartOrchestration") {
		t.Fatalf("%s %+v, want a poison failure naming StartOrchestration", st.State, st.Failure)
	}
	if !errors.Is(st.Err(), duroxide.ErrPoison) {
		t.Fatalf("Status.Err() = %v, want ErrPoison", st.Err())
	}
}

func TestPoisonActivityFailsInstance(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Fragile", func(*duroxide.ActivityContext, string) (string, error) {
		return "must not run", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "UsesFragile", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Fragile", ""))
	}))
	orchNode := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", ActivityConcurrency: -1, MaxAttempts: poisonMax})
	c := orchNode.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "poisoned-activity", "UsesFragile", ""))
	s := openStore(t, orchNode)
	for {
		lease, err := s.FetchWorkItem(ctx, time.Second, 5*time.Second)
		must(t, err)
		if lease == nil {
			t.Fatal("the work item was not delivered")
		}
		must(t, s.AbandonWorkItem(ctx, lease.LockToken, 0, false))
		if lease.AttemptCount >= poisonMax {
			break
		}
	}
	must(t, s.Close())

	startRuntime(t, reg, duroxide.Options{NATSURL: orchNode.ClientURL(), OrchestrationConcurrency: -1, MaxAttempts: poisonMax})
	st := waitDone(t, c, "poisoned-activity", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Category != history.Poison || !strings.Contains(st.Failure.DisplayMessage(), "Fragile") {
		t.Fatalf("%s %+v, want a poison failure naming Fragile", st.State, st.Failure)
	}
	if !errors.Is(st.Err(), duroxide.ErrPoison) {
		t.Fatalf("Status.Err() = %v, want ErrPoison", st.Err())
	}
}

// Unregistered activities back off and are retried; when the activity is
// registered before the attempts run out, it runs (duroxide's
// unregistered_backoff.rs).
func TestUnregisteredActivityBacksOffThenRuns(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Later", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Arrives", "x"))
	}))
	rt := startRuntime(t, reg, duroxide.Options{MaxAttempts: 1000, UnregisteredBaseDelay: 5 * time.Millisecond,
		UnregisteredMaxDelay: 20 * time.Millisecond})
	c := rt.Client()
	must(t, c.StartOrchestration(context.Background(), "later", "Later", ""))
	waitHistory(t, c, "later", "the activity to be scheduled", func(evs []history.Event) bool {
		return hasEvent(evs, history.ActivityScheduled, "Arrives")
	})
	must(t, duroxide.RegisterActivity(reg, "Arrives", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "arrived:" + in, nil
	}))
	if out := sampleOutput[string](t, waitDone(t, c, "later", sampleWait)); out != "arrived:x" {
		t.Fatalf("output %q", out)
	}
}
