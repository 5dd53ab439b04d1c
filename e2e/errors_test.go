package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// TestNondeterminismDetected runs an orchestration until it waits for an event, then
// restarts with code that schedules a different activity first. The replay must fail
// the instance with a configuration error naming the event, what history holds and
// what the code asked for.
func TestNondeterminismDetected(t *testing.T) {
	dir := t.TempDir()
	build := func(activity string) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		for _, a := range []string{"A", "B"} {
			name := a
			must(t, duroxide.RegisterActivity(reg, name, func(*duroxide.ActivityContext, string) (string, error) { return name, nil }))
		}
		must(t, duroxide.RegisterOrchestration(reg, "Flow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			if _, err := duroxide.Await[string](ctx.ScheduleActivity(activity, "in")); err != nil {
				return "", err
			}
			return duroxide.Await[string](ctx.WaitForEvent("next"))
		}))
		return reg
	}
	ctx := context.Background()
	rt1, err := duroxide.Start(ctx, build("A"), duroxide.Options{DataDir: dir})
	must(t, err)
	must(t, rt1.Client().StartOrchestration(ctx, "nd", "Flow", nil))
	waitFor(t, "first activity done", func() bool {
		evs, _ := rt1.Client().ReadHistory(ctx, "nd", 0)
		for _, e := range evs {
			if e.Type == history.ExternalSubscribed {
				return true
			}
		}
		return false
	})
	must(t, rt1.Shutdown(ctx))

	rt2 := startRuntime(t, build("B"), duroxide.Options{DataDir: dir})
	must(t, rt2.Client().RaiseEvent(ctx, "nd", "next", "x"))
	st := waitDone(t, rt2.Client(), "nd", 10*time.Second)
	if st.State != duroxide.StateFailed || st.Failure == nil {
		t.Fatalf("state %s, want Failed", st.State)
	}
	if !errors.Is(st.Err(), duroxide.ErrNondeterminism) {
		t.Fatalf("Status.Err() = %v, want ErrNondeterminism", st.Err())
	}
	f := st.Failure
	if f.Category != history.Configuration || f.Kind != history.KindNondeterminism {
		t.Fatalf("failure %+v, want configuration/nondeterminism", f)
	}
	for _, want := range []string{"event 2", `name="A"`, `name="B"`} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q does not name %s", f.Message, want)
		}
	}
}

// TestNondeterminismExtraAction: replayed code that emits an action history does not
// hold at that point fails the instance too.
func TestNondeterminismExtraAction(t *testing.T) {
	dir := t.TempDir()
	build := func(extra bool) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		must(t, duroxide.RegisterActivity(reg, "A", func(*duroxide.ActivityContext, string) (string, error) { return "a", nil }))
		must(t, duroxide.RegisterOrchestration(reg, "Flow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			f := ctx.ScheduleActivity("A", "1")
			if extra {
				ctx.ScheduleTimer(time.Hour)
			}
			if err := f.Get(nil); err != nil {
				return "", err
			}
			return duroxide.Await[string](ctx.WaitForEvent("next"))
		}))
		return reg
	}
	ctx := context.Background()
	rt1, err := duroxide.Start(ctx, build(false), duroxide.Options{DataDir: dir})
	must(t, err)
	must(t, rt1.Client().StartOrchestration(ctx, "nd2", "Flow", nil))
	waitFor(t, "waiting for the event", func() bool { return len(mustHistory(t, rt1.Client(), "nd2")) >= 4 })
	must(t, rt1.Shutdown(ctx))
	rt2 := startRuntime(t, build(true), duroxide.Options{DataDir: dir})
	must(t, rt2.Client().RaiseEvent(ctx, "nd2", "next", "x"))
	st := waitDone(t, rt2.Client(), "nd2", 10*time.Second)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindNondeterminism || !strings.Contains(st.Failure.Message, "TimerCreated") {
		t.Fatalf("status %s %+v, want a nondeterminism failure naming TimerCreated", st.State, st.Failure)
	}
}

func mustHistory(t *testing.T, c *duroxide.Client, id string) []history.Event {
	evs, err := c.ReadHistory(context.Background(), id, 0)
	must(t, err)
	return evs
}

// TestPanicsAreRecovered: a panicking orchestration fails its instance, a panicking
// activity fails only its task (the orchestration sees the message), and the node
// keeps running other instances.
func TestPanicsAreRecovered(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Boom", func(*duroxide.ActivityContext, string) (string, error) { panic("activity exploded") }))
	must(t, duroxide.RegisterActivity(reg, "Fine", func(*duroxide.ActivityContext, string) (string, error) { return "fine", nil }))
	must(t, duroxide.RegisterOrchestration(reg, "PanicOrch", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if err := ctx.ScheduleActivity("Fine", nil).Get(nil); err != nil {
			return "", err
		}
		panic("orchestration exploded")
	}))
	must(t, duroxide.RegisterOrchestration(reg, "CatchActivityPanic", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		err := ctx.ScheduleActivity("Boom", nil).Get(nil)
		var te *duroxide.TaskError
		if !errors.As(err, &te) {
			return "", fmt.Errorf("expected a TaskError, got %v", err)
		}
		return "caught: " + te.Details.Message, nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "p1", "PanicOrch", nil))
	must(t, c.StartOrchestration(ctx, "p2", "CatchActivityPanic", nil))
	st := waitDone(t, c, "p1", 10*time.Second)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindPanicked || !strings.Contains(st.Failure.Message, "orchestration exploded") {
		t.Fatalf("p1: %s %+v", st.State, st.Failure)
	}
	if !errors.Is(st.Err(), duroxide.ErrPanicked) {
		t.Fatalf("p1: Status.Err() = %v, want ErrPanicked", st.Err())
	}
	st = waitDone(t, c, "p2", 10*time.Second)
	var out string
	must(t, st.Decode(&out))
	if !strings.Contains(out, "activity exploded") {
		t.Fatalf("p2 output %q", out)
	}
}

// TestBadInput covers what untrusted clients can send.
func TestBadInput(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, s string) (string, error) { return s, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "Echo", func(ctx *duroxide.OrchestrationContext, s string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Echo", s+"|"+ctx.InstanceID()))
	}))
	rt := startRuntime(t, reg, duroxide.Options{MaxPayloadBytes: 1024})
	c := rt.Client()
	ctx := context.Background()

	t.Run("ids that are not subject tokens work", func(t *testing.T) {
		for _, id := range []string{"a.b.c", "*", ">", "with space", "ünïcødé-日本", "tab\tand=equals", "a..b", strings.Repeat("é", 128)} {
			must(t, c.StartOrchestration(ctx, id, "Echo", "in"))
			st := waitDone(t, c, id, 10*time.Second)
			var out string
			must(t, st.Decode(&out))
			if out != "in|"+id {
				t.Errorf("id %q: output %q", id, out)
			}
		}
	})
	t.Run("invalid ids are rejected", func(t *testing.T) {
		for name, id := range map[string]string{"empty": "", "too long": strings.Repeat("x", 257), "not utf8": "\xff\xfe"} {
			err := c.StartOrchestration(ctx, id, "Echo", "in")
			if !errors.Is(err, duroxide.ErrInvalidInput) || !strings.Contains(err.Error(), "instance id") {
				t.Errorf("%s: %v, want ErrInvalidInput naming the instance id", name, err)
			}
			if _, err := c.GetStatus(ctx, id); !errors.Is(err, duroxide.ErrInvalidInput) {
				t.Errorf("%s: GetStatus: %v", name, err)
			}
		}
	})
	t.Run("oversized payloads are rejected", func(t *testing.T) {
		err := c.StartOrchestration(ctx, "big", "Echo", strings.Repeat("x", 2000))
		if !errors.Is(err, duroxide.ErrPayloadTooLarge) || !strings.Contains(err.Error(), "input") {
			t.Errorf("start: %v", err)
		}
		err = c.RaiseEvent(ctx, "big", "ev", strings.Repeat("x", 2000))
		if !errors.Is(err, duroxide.ErrPayloadTooLarge) || !strings.Contains(err.Error(), "event data") {
			t.Errorf("raise: %v", err)
		}
	})
	t.Run("undecodable JSON is rejected", func(t *testing.T) {
		err := c.StartOrchestration(ctx, "badjson", "Echo", json.RawMessage(`{"a":`))
		if !errors.Is(err, duroxide.ErrInvalidInput) || !strings.Contains(err.Error(), "input") {
			t.Errorf("%v", err)
		}
	})
	t.Run("bad names and versions are rejected", func(t *testing.T) {
		if err := c.StartOrchestration(ctx, "noname", "", nil); !errors.Is(err, duroxide.ErrInvalidInput) {
			t.Errorf("empty name: %v", err)
		}
		if err := c.StartOrchestration(ctx, "badver", "Echo", nil, duroxide.StartVersion("one")); !errors.Is(err, duroxide.ErrInvalidInput) {
			t.Errorf("bad version: %v", err)
		}
		if err := c.RaiseEvent(ctx, "x", "", nil); !errors.Is(err, duroxide.ErrInvalidInput) {
			t.Errorf("empty event name: %v", err)
		}
	})
	t.Run("an existing instance is not overwritten", func(t *testing.T) {
		must(t, c.StartOrchestration(ctx, "dup", "Echo", "first"))
		waitDone(t, c, "dup", 10*time.Second)
		err := c.StartOrchestration(ctx, "dup", "Echo", "second")
		if !errors.Is(err, duroxide.ErrInstanceExists) {
			t.Fatalf("second start: %v, want ErrInstanceExists", err)
		}
		st, err := c.GetStatus(ctx, "dup")
		must(t, err)
		var out string
		must(t, st.Decode(&out))
		if out != "first|dup" {
			t.Fatalf("output %q", out)
		}
	})
	t.Run("a wrongly typed input fails the instance with a clear error", func(t *testing.T) {
		must(t, c.StartOrchestration(ctx, "typed", "Echo", 42))
		st := waitDone(t, c, "typed", 10*time.Second)
		if st.State != duroxide.StateFailed || !strings.Contains(st.Failure.Message, "orchestration input") {
			t.Fatalf("%s %+v", st.State, st.Failure)
		}
	})
}

// TestUnregisteredIsConfigurationFailure: a start for an orchestration nobody
// registered, and an activity nobody registered, are retried with backoff and then
// fail as configuration errors.
func TestUnregisteredIsConfigurationFailure(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "CallsMissing", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Missing", nil))
	}))
	rt := startRuntime(t, reg, duroxide.Options{MaxAttempts: 3, UnregisteredBaseDelay: 20 * time.Millisecond, UnregisteredMaxDelay: 50 * time.Millisecond})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "u1", "NoSuchOrchestration", nil))
	must(t, c.StartOrchestration(ctx, "u2", "CallsMissing", nil))
	for id, name := range map[string]string{"u1": "NoSuchOrchestration", "u2": "Missing"} {
		st := waitDone(t, c, id, 20*time.Second)
		if st.State != duroxide.StateFailed || st.Failure.Category != history.Configuration ||
			st.Failure.Kind != history.KindUnregistered || !strings.Contains(st.Failure.Message, name) {
			t.Errorf("%s: %s %+v", id, st.State, st.Failure)
		}
		if !errors.Is(st.Err(), duroxide.ErrUnregistered) {
			t.Errorf("%s: Status.Err() = %v, want ErrUnregistered", id, st.Err())
		}
	}
}

// TestNondeterminismKinds replays each kind of code change against a recorded
// history: the instance fails with a configuration error whose message says what
// history holds and what the code asked for.
func TestNondeterminismKinds(t *testing.T) {
	type flow func(ctx *duroxide.OrchestrationContext) error
	v1 := func(ctx *duroxide.OrchestrationContext) error {
		a := ctx.ScheduleActivity("A", "in")
		b := ctx.ScheduleActivity("B", "in")
		ctx.Join(a, b)
		return nil
	}
	cases := []struct {
		name string
		v2   flow
		want []string
	}{
		{"other input", func(ctx *duroxide.OrchestrationContext) error {
			ctx.Join(ctx.ScheduleActivity("A", "changed"), ctx.ScheduleActivity("B", "in"))
			return nil
		}, []string{"event 2", "different input", `"changed"`}},
		{"other kind", func(ctx *duroxide.OrchestrationContext) error {
			ctx.Join(ctx.ScheduleTimer(time.Millisecond), ctx.ScheduleActivity("B", "in"))
			return nil
		}, []string{"event 2", "different kind", "TimerCreated"}},
		{"fewer actions", func(ctx *duroxide.OrchestrationContext) error {
			ctx.Join(ctx.ScheduleActivity("A", "in"))
			return nil
		}, []string{"event 3", `name="B"`, "did not schedule"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			build := func(f flow) *duroxide.Registry {
				reg := duroxide.NewRegistry()
				for _, a := range []string{"A", "B"} {
					must(t, duroxide.RegisterActivity(reg, a, func(*duroxide.ActivityContext, string) (string, error) { return "ok", nil }))
				}
				must(t, duroxide.RegisterOrchestration(reg, "Flow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
					if err := f(ctx); err != nil {
						return "", err
					}
					return duroxide.Await[string](ctx.WaitForEvent("next"))
				}))
				return reg
			}
			ctx := context.Background()
			rt1, err := duroxide.Start(ctx, build(v1), duroxide.Options{DataDir: dir})
			must(t, err)
			must(t, rt1.Client().StartOrchestration(ctx, "k", "Flow", nil))
			waitFor(t, "waiting for the event", func() bool {
				for _, e := range mustHistory(t, rt1.Client(), "k") {
					if e.Type == history.ExternalSubscribed {
						return true
					}
				}
				return false
			})
			must(t, rt1.Shutdown(ctx))
			rt2 := startRuntime(t, build(c.v2), duroxide.Options{DataDir: dir})
			must(t, rt2.Client().RaiseEvent(ctx, "k", "next", "x"))
			st := waitDone(t, rt2.Client(), "k", 10*time.Second)
			if st.State != duroxide.StateFailed || st.Failure.Category != history.Configuration || st.Failure.Kind != history.KindNondeterminism {
				t.Fatalf("%s %+v, want a configuration/nondeterminism failure", st.State, st.Failure)
			}
			for _, w := range c.want {
				if !strings.Contains(st.Failure.Message, w) {
					t.Errorf("message %q does not mention %s", st.Failure.Message, w)
				}
			}
		})
	}
}

// TestCorruptedHistoryFailsInstance: an instance whose history cannot be decoded is
// retried, then failed with a configuration error naming the corruption; the node
// keeps running other instances.
func TestCorruptedHistoryFailsInstance(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Waits", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	rt := startRuntime(t, reg, duroxide.Options{MaxAttempts: 2})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "corrupt", "Waits", nil))
	must(t, c.StartOrchestration(ctx, "healthy", "Waits", nil))
	waitFor(t, "both waiting", func() bool {
		return len(mustHistory(t, c, "corrupt")) == 2 && len(mustHistory(t, c, "healthy")) == 2
	})
	// Append an undecodable record to the instance's history. The runtime's cached
	// view is now stale: its next commit is fenced, and the reload finds the damage.
	js, err := natsjs.New(rt.Conn())
	must(t, err)
	_, err = js.Publish(ctx, "duroxide.hist.corrupt.1", []byte("{not json"))
	must(t, err)
	must(t, c.RaiseEvent(ctx, "corrupt", "go", "x"))
	must(t, c.RaiseEvent(ctx, "healthy", "go", "y"))
	st := waitDone(t, c, "healthy", 10*time.Second)
	var out string
	must(t, st.Decode(&out))
	if out != "y" {
		t.Fatalf("healthy: %q", out)
	}
	st = waitDone(t, c, "corrupt", 20*time.Second)
	if st.State != duroxide.StateFailed || st.Failure.Category != history.Configuration || !strings.Contains(st.Failure.Message, "corrupted history") {
		t.Fatalf("corrupt: %s %+v", st.State, st.Failure)
	}
}

// TestTaskErrorMatchesKinds: the TaskError of a failed sub-orchestration matches
// the kind of its failure with errors.Is (cancelled, unregistered, panicked), and
// an application failure matches none of them; errors.As still yields the
// TaskError. A missing instance's operations match ErrInstanceNotFound.
func TestTaskErrorMatchesKinds(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "WaitsForever", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("never"))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Panics", func(*duroxide.OrchestrationContext, string) (string, error) {
		panic("child exploded")
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Fails", func(*duroxide.OrchestrationContext, string) (string, error) {
		return "", errors.New("plain failure")
	}))
	kinds := map[string]error{"cancelled": duroxide.ErrCancelled, "unregistered": duroxide.ErrUnregistered,
		"panicked": duroxide.ErrPanicked, "nondeterminism": duroxide.ErrNondeterminism, "poison": duroxide.ErrPoison,
		"timeout": duroxide.ErrActivityTimeout}
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, _ string) (map[string][]string, error) {
		children := map[string]*duroxide.Future{
			"cancelled":    ctx.ScheduleSubOrchestration("WaitsForever", nil, duroxide.WithInstanceID("kinds-child")),
			"unregistered": ctx.ScheduleSubOrchestration("NoSuchOrchestration", nil),
			"panicked":     ctx.ScheduleSubOrchestration("Panics", nil),
			"plain":        ctx.ScheduleSubOrchestration("Fails", nil),
		}
		out := map[string][]string{}
		for name, f := range children {
			err := f.Get(nil)
			var te *duroxide.TaskError
			if !errors.As(err, &te) {
				return nil, fmt.Errorf("%s: %v is not a TaskError", name, err)
			}
			matched := []string{}
			for kind, sentinel := range kinds {
				if errors.Is(err, sentinel) {
					matched = append(matched, kind)
				}
			}
			out[name] = matched
		}
		return out, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{MaxAttempts: 2, UnregisteredBaseDelay: 20 * time.Millisecond, UnregisteredMaxDelay: 50 * time.Millisecond}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "kinds", "Parent", nil))
	sampleWaitSubscribed(t, c, "kinds-child", "never", sampleWait)
	must(t, c.CancelInstance(ctx, "kinds-child", "stop"))
	out := sampleOutput[map[string][]string](t, waitDone(t, c, "kinds", sampleWait))
	want := map[string]string{"cancelled": "cancelled", "unregistered": "unregistered", "panicked": "panicked", "plain": ""}
	for name, kind := range want {
		if got := strings.Join(out[name], ","); got != kind {
			t.Errorf("%s child's TaskError matches %q, want %q", name, got, kind)
		}
	}
	if _, err := c.DeleteInstance(ctx, "no-such-instance", false); !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("delete a missing instance: %v, want ErrInstanceNotFound", err)
	}
}
