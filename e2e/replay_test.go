package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// The replayer's orchestrations, version 1 (recorded) and the changes replayed
// against it. Order reserves, notes the stage in its KV store, charges, and returns
// both results; Held reserves and waits for the event "go"; Looper continues as new
// once, carrying a count in its KV store.
type replayCode struct {
	order  func(ctx *duroxide.OrchestrationContext, n int) (string, error)
	held   func(ctx *duroxide.OrchestrationContext, n int) (string, error)
	looper func(ctx *duroxide.OrchestrationContext, n int) (string, error)
}

func orderV1(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
	if err != nil {
		return "", err
	}
	ctx.SetValue("stage", "reserved")
	c, err := duroxide.Await[string](ctx.ScheduleActivity("Charge", n))
	if err != nil {
		return "", err
	}
	return r + "," + c, nil
}

func heldV1(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
	if err != nil {
		return "", err
	}
	ev, err := duroxide.Await[string](ctx.WaitForEvent("go"))
	if err != nil {
		return "", err
	}
	return r + "," + ev, nil
}

func looperV1(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	count, _ := ctx.GetValue("count")
	if n == 0 {
		ctx.SetValue("count", "1")
		return "", ctx.ContinueAsNew(1)
	}
	return "count=" + count, nil
}

// fireV1 schedules Ship and returns without waiting for it: the engine cancels the
// outstanding activity as the execution ends (ActivityCancelRequested before
// OrchestrationCompleted).
func fireV1(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	ctx.ScheduleActivity("Ship", n)
	return "fired", nil
}

var replayV1 = replayCode{order: orderV1, held: heldV1, looper: looperV1}

// replayRegistry registers code as version 1.0.0 (and extra, when set, as Order's
// version 2.0.0) with the activities.
func replayRegistry(t *testing.T, code replayCode, orderV2 func(*duroxide.OrchestrationContext, int) (string, error)) *duroxide.Registry {
	t.Helper()
	reg := duroxide.NewRegistry()
	for _, name := range []string{"Reserve", "Charge", "Ship"} {
		must(t, duroxide.RegisterActivity(reg, name, func(_ *duroxide.ActivityContext, n int) (string, error) {
			return fmt.Sprintf("%s-%d", strings.ToLower(name), n), nil
		}))
	}
	if code.order != nil {
		must(t, duroxide.RegisterOrchestrationVersion(reg, "Order", "1.0.0", code.order))
	}
	if orderV2 != nil {
		must(t, duroxide.RegisterOrchestrationVersion(reg, "Order", "2.0.0", orderV2))
	}
	must(t, duroxide.RegisterOrchestration(reg, "Held", code.held))
	must(t, duroxide.RegisterOrchestration(reg, "Looper", code.looper))
	must(t, duroxide.RegisterOrchestration(reg, "Fire", fireV1))
	return reg
}

// recorded are histories version 1 wrote on a real runtime.
type recorded struct {
	order  []history.Event // Completed: "reserve-5,charge-5"
	held   []history.Event // Running: waits for "go"
	looper []history.Event // two executions: ContinuedAsNew, then Completed
	fire   []history.Event // Completed, after cancelling its outstanding activity
}

func recordReplayHistories(t *testing.T) recorded {
	t.Helper()
	rt := startRuntime(t, replayRegistry(t, replayV1, nil), duroxide.Options{})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "order-1", "Order", 5))
	must(t, c.StartOrchestration(ctx, "held-1", "Held", 7))
	must(t, c.StartOrchestration(ctx, "looper-1", "Looper", 0))
	must(t, c.StartOrchestration(ctx, "fire-1", "Fire", 3))
	if st := waitDone(t, c, "order-1", sampleWait); string(st.Output) != `"reserve-5,charge-5"` {
		t.Fatalf("order-1 ended %s with %s", st.State, st.Output)
	}
	if st := waitDone(t, c, "looper-1", sampleWait); string(st.Output) != `"count=1"` {
		t.Fatalf("looper-1 ended %s with %s", st.State, st.Output)
	}
	waitDone(t, c, "fire-1", sampleWait)
	sampleWaitSubscribed(t, c, "held-1", "go", sampleWait)
	var rec recorded
	var err error
	rec.order, err = c.ReadHistory(ctx, "order-1", 0)
	must(t, err)
	rec.held, err = c.ReadHistory(ctx, "held-1", 0)
	must(t, err)
	rec.fire, err = c.ReadHistory(ctx, "fire-1", 0)
	must(t, err)
	if n := len(rec.fire); n < 2 || rec.fire[n-2].Type != history.ActivityCancelRequested {
		t.Fatalf("fire-1's history does not end with the cancellation of its activity: %+v", rec.fire)
	}
	execs, err := c.ListExecutions(ctx, "looper-1")
	must(t, err)
	if len(execs) != 2 {
		t.Fatalf("looper-1 has executions %v, want 2", execs)
	}
	for _, x := range execs {
		h, err := c.ReadHistory(ctx, "looper-1", x)
		must(t, err)
		rec.looper = append(rec.looper, h...)
	}
	return rec
}

// Histories recorded with version 1 replay against the same code and against
// compatible changes, and fail against incompatible ones naming the event and both
// sides.
func TestReplayRecordedHistories(t *testing.T) {
	rec := recordReplayHistories(t)
	ctx := context.Background()
	all := map[string][]history.Event{"order": rec.order, "held": rec.held, "looper": rec.looper, "fire": rec.fire}

	t.Run("same code", func(t *testing.T) {
		reg := replayRegistry(t, replayV1, nil)
		for name, h := range all {
			if err := duroxide.ReplayHistory(ctx, reg, h); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			// The file format: json.Marshal of ReadHistory's result, as "node history --json" writes it.
			b, err := json.Marshal(h)
			must(t, err)
			parsed, err := history.ParseEvents(b)
			must(t, err)
			if err := duroxide.ReplayHistory(ctx, reg, parsed); err != nil {
				t.Errorf("%s from JSON: %v", name, err)
			}
		}
	})

	t.Run("compatible changes", func(t *testing.T) {
		code := replayV1
		code.order = func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			ctx.Logger().Info("ordering", "n", n) // a log line added
			return orderV1(ctx, n)
		}
		code.held = func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
			if err != nil {
				return "", err
			}
			ev, err := duroxide.Await[string](ctx.WaitForEvent("go"))
			if err != nil {
				return "", err
			}
			// Changed after the last recorded event: ships before answering.
			s, err := duroxide.Await[string](ctx.ScheduleActivity("Ship", n))
			return r + "," + ev + "," + s, err
		}
		reg := replayRegistry(t, code, nil)
		for name, h := range all {
			if err := duroxide.ReplayHistory(ctx, reg, h); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("version recorded in history", func(t *testing.T) {
		// Version 2.0.0 charges first; the history recorded 1.0.0, which replays.
		reg := replayRegistry(t, replayV1, swappedOrder)
		if err := duroxide.ReplayHistory(ctx, reg, rec.order); err != nil {
			t.Fatalf("replay picked another version than history's 1.0.0: %v", err)
		}
		// Without 1.0.0 the history cannot replay: the error names the version.
		reg = replayRegistry(t, replayCode{held: heldV1, looper: looperV1}, swappedOrder)
		err := duroxide.ReplayHistory(ctx, reg, rec.order)
		if !errors.Is(err, duroxide.ErrUnregistered) || !strings.Contains(err.Error(), `"Order" version 1.0.0`) {
			t.Fatalf("replay without version 1.0.0: %v, want ErrUnregistered naming the version", err)
		}
	})

	for _, tc := range []struct {
		name    string
		code    replayCode
		h       func() []history.Event
		exec    uint64
		eventID uint64
		hist    string // in NondeterminismError.History
		code2   string // in NondeterminismError.Code
	}{
		{"activities swapped", replayCode{order: swappedOrder, held: heldV1, looper: looperV1}, func() []history.Event { return rec.order },
			1, 2, `name="Reserve"`, `name="Charge"`},
		{"activity renamed", replayCode{order: orderV1, held: renamedHeld, looper: looperV1}, func() []history.Event { return rec.held },
			1, 2, `name="Reserve"`, `name="ReserveStock"`},
		{"activity inserted", replayCode{order: auditedOrder, held: heldV1, looper: looperV1}, func() []history.Event { return rec.order },
			1, 5, `name="Charge"`, `name="Audit"`},
		{"different output", replayCode{order: func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			out, err := orderV1(ctx, n)
			return out + "!", err
		}, held: heldV1, looper: looperV1}, func() []history.Event { return rec.order },
			1, 7, `OrchestrationCompleted{output="reserve-5,charge-5"}`, `OrchestrationCompleted{output="reserve-5,charge-5!"}`},
		{"returns early", replayCode{order: orderV1, held: func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			return duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
		}, looper: looperV1}, func() []history.Event { return rec.held },
			1, 4, `ExternalSubscribed{name="go"}`, "returned"},
		{"returns before a completion history holds", replayCode{order: func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
			if err != nil {
				return "", err
			}
			ctx.SetValue("stage", "reserved")
			ctx.ScheduleActivity("Charge", n) // no longer awaited: the same output, but history goes on
			return r + ",charge-5", nil
		}, held: heldV1, looper: looperV1}, func() []history.Event { return rec.order },
			1, 6, "ActivityCompleted{source=5}", "returned"},
		{"asks for more at the end", replayCode{order: orderV1, held: func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
			if err != nil {
				return "", err
			}
			ev := ctx.WaitForEvent("go")
			ctx.ScheduleTimer(time.Hour) // a new action after the last recorded event
			s, err := duroxide.Await[string](ev)
			return r + s, err
		}, looper: looperV1}, func() []history.Event { return rec.held },
			1, 5, "history ends at event 4", "TimerCreated"},
		{"second execution changed", replayCode{order: orderV1, held: heldV1, looper: func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			if n == 1 {
				ctx.SetValue("seen", "yes") // new in the second execution
			}
			return looperV1(ctx, n)
		}}, func() []history.Event { return rec.looper },
			2, 2, "OrchestrationCompleted", `KeyValueSet{key="seen"`},
	} {
		t.Run("incompatible: "+tc.name, func(t *testing.T) {
			err := duroxide.ReplayHistory(ctx, replayRegistry(t, tc.code, nil), tc.h())
			var nd *duroxide.NondeterminismError
			if !errors.As(err, &nd) || !errors.Is(err, duroxide.ErrNondeterminism) {
				t.Fatalf("replay: %v, want a *NondeterminismError", err)
			}
			if nd.Execution != tc.exec || nd.EventID != tc.eventID || !strings.Contains(nd.History, tc.hist) || !strings.Contains(nd.Code, tc.code2) {
				t.Fatalf("replay: %+v, want execution %d event %d, history holding %s, code asking for %s",
					nd, tc.exec, tc.eventID, tc.hist, tc.code2)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("at event %d", tc.eventID)) || !strings.Contains(msg, tc.hist) {
				t.Errorf("message %q does not name the event and what history holds", msg)
			}
		})
	}

	t.Run("failures the runtime imposed", func(t *testing.T) {
		reg := replayRegistry(t, replayV1, nil)
		failed := func(d history.ErrorDetails) []history.Event {
			last := rec.held[len(rec.held)-1]
			return append(append([]history.Event(nil), rec.held...), history.Event{EventID: last.EventID + 1,
				InstanceID: last.InstanceID, ExecutionID: last.ExecutionID, Type: history.OrchestrationFailed, Details: &d})
		}
		// Poison and a nondeterminism failure (of another deployment's code) end
		// an execution the code still waits in: it replays.
		for _, d := range []history.ErrorDetails{
			{Category: history.Poison, Kind: history.KindPoison, Message: "delivered 11 times"},
			{Category: history.Configuration, Kind: history.KindNondeterminism, Message: "nondeterminism: at event 4 ..."},
		} {
			if err := duroxide.ReplayHistory(ctx, reg, failed(d)); err != nil {
				t.Errorf("history ended by %s: %v", d.Kind, err)
			}
		}
		// An application failure is the code's to produce, and this code waits.
		err := duroxide.ReplayHistory(ctx, reg, failed(history.ErrorDetails{Category: history.Application,
			Kind: history.KindOrchestrationFailed, Message: "boom"}))
		var nd *duroxide.NondeterminismError
		if !errors.As(err, &nd) || nd.EventID != 5 || nd.History != "OrchestrationFailed{boom}" || !strings.Contains(nd.Code, "waits") {
			t.Fatalf("history ended by an application failure the code does not produce: %v", err)
		}
	})

	t.Run("options", func(t *testing.T) {
		var logs bytes.Buffer
		code := replayV1
		code.order = func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			ctx.Logger().Info("begin") // replaying: suppressed, as in a runtime
			out, err := orderV1(ctx, n)
			ctx.Logger().Info("charged", "out", out) // after history's last completion
			return out, err
		}
		err := duroxide.ReplayHistory(ctx, replayRegistry(t, code, nil), rec.order,
			duroxide.ReplayLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil || strings.Contains(logs.String(), "begin") || !strings.Contains(logs.String(), "msg=charged") {
			t.Fatalf("replay with a logger: %v; logs %q, want only the record after the last event", err, logs.String())
		}
		// The output "reserve-5,charge-5" is 20 bytes: over a 10-byte limit the code
		// fails where history completed.
		err = duroxide.ReplayHistory(ctx, replayRegistry(t, replayV1, nil), rec.order, duroxide.ReplayMaxPayloadBytes(10))
		var nd *duroxide.NondeterminismError
		if !errors.As(err, &nd) || nd.EventID != 7 || !strings.Contains(nd.Code, "the limit is 10") {
			t.Fatalf("replay under a 10-byte limit: %v, want the failure at event 7", err)
		}
	})

	t.Run("panic", func(t *testing.T) {
		code := replayV1
		code.order = func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
			if _, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n)); err != nil {
				return "", err
			}
			panic("boom")
		}
		err := duroxide.ReplayHistory(ctx, replayRegistry(t, code, nil), rec.order)
		if !errors.Is(err, duroxide.ErrPanicked) || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "event 3") {
			t.Fatalf("replay of panicking code: %v, want ErrPanicked naming the panic and event 3", err)
		}
	})

	t.Run("malformed histories", func(t *testing.T) {
		reg := replayRegistry(t, replayV1, nil)
		swapped := append([]history.Event(nil), rec.order...)
		swapped[2], swapped[3] = swapped[3], swapped[2]
		otherInst := append([]history.Event(nil), rec.order...)
		otherInst[4].InstanceID = "someone-else"
		early := append(append([]history.Event(nil), rec.order[:3]...), rec.order[len(rec.order)-1])
		early = append(early, rec.order[3:len(rec.order)-1]...)
		for i := range early {
			early[i].EventID = uint64(i + 1)
		}
		for _, c := range []struct {
			name string
			h    []history.Event
			want string
		}{
			{"empty", nil, "no events"},
			{"no start", rec.order[1:], "begins with ActivityScheduled"},
			{"ids out of order", swapped, "event ids out of order: position 2 of execution 1 holds event 4, want 3"},
			{"an event of another instance", otherInst, `belongs to instance "someone-else"`},
			{"terminal before the end", early, "OrchestrationCompleted at event 4 is not the end of execution 1"},
			{"two instances", append(append([]history.Event(nil), rec.order...), rec.held...), `belongs to instance "held-1"`},
			{"executions out of order", append(append([]history.Event(nil), rec.looper[len(rec.looper)-2:]...), rec.looper[:len(rec.looper)-2]...),
				"execution 1 (position 2) follows execution 2"},
		} {
			err := duroxide.ReplayHistory(ctx, reg, c.h)
			if !errors.Is(err, duroxide.ErrInvalidHistory) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want ErrInvalidHistory saying %q", c.name, err, c.want)
			}
		}
	})
}

func swappedOrder(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	c, err := duroxide.Await[string](ctx.ScheduleActivity("Charge", n))
	if err != nil {
		return "", err
	}
	r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
	return r + "," + c, err
}

func renamedHeld(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	r, err := duroxide.Await[string](ctx.ScheduleActivity("ReserveStock", n))
	if err != nil {
		return "", err
	}
	ev, err := duroxide.Await[string](ctx.WaitForEvent("go"))
	return r + "," + ev, err
}

func auditedOrder(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	r, err := duroxide.Await[string](ctx.ScheduleActivity("Reserve", n))
	if err != nil {
		return "", err
	}
	ctx.SetValue("stage", "reserved")
	if _, err := duroxide.Await[string](ctx.ScheduleActivity("Audit", n)); err != nil {
		return "", err
	}
	c, err := duroxide.Await[string](ctx.ScheduleActivity("Charge", n))
	return r + "," + c, err
}
