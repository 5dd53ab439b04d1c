package duroxidetest_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/duroxidetest"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// order is the 30-day workflow: charge a card (retried with exponential backoff),
// wait up to a week for an approval, then a 30-day cooling-off timer, then ship.
const (
	orderOrch    = "Order"
	chargeAct    = "Charge"
	shipAct      = "Ship"
	approvalName = "approval"
	day          = 24 * time.Hour
)

var chargeRetry = duroxide.RetryPolicy{MaxAttempts: 4, Backoff: duroxide.ExponentialBackoff(time.Minute, 2, time.Hour)}

func order(ctx *duroxide.OrchestrationContext, amount int) (string, error) {
	charge, err := duroxide.Await[string](ctx.ScheduleActivityWithRetry(chargeAct, amount, chargeRetry))
	if err != nil {
		return "", err
	}
	ctx.SetCustomStatus("awaiting approval")
	approval := ctx.WaitForEvent(approvalName)
	if ctx.Select(approval, ctx.ScheduleTimer(7*day)) == 1 {
		return "no approval", nil
	}
	var by string
	if err := approval.Get(&by); err != nil {
		return "", err
	}
	approvedAt := ctx.Now()
	ctx.SetValue("approved_by", by)
	ctx.SetCustomStatus("cooling off")
	if err := ctx.ScheduleTimer(30 * day).Get(nil); err != nil {
		return "", err
	}
	receipt, err := duroxide.Await[string](ctx.ScheduleActivity(shipAct, charge))
	if err != nil {
		return "", err
	}
	ctx.SetCustomStatus("shipped")
	return fmt.Sprintf("%s approved by %s at %s, %s at %s", charge, by, approvedAt.Format(time.RFC3339),
		receipt, ctx.Now().Format(time.RFC3339)), nil
}

func ship(_ *duroxide.ActivityContext, charge string) (string, error) {
	return "shipped " + charge, nil
}

func orderRegistry(t testing.TB) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, orderOrch, order); err != nil {
		t.Fatal(err)
	}
	// Charge is not registered: the tests mock it. Ship runs for real.
	if err := duroxide.RegisterActivity(reg, shipAct, ship); err != nil {
		t.Fatal(err)
	}
	return reg
}

// runOrder runs the workflow: Charge fails twice, then succeeds; the approval
// comes after 2 virtual days. It returns the env and the virtual times of the
// charge attempts.
func runOrder(t testing.TB) (*duroxidetest.Env, []time.Time) {
	env := duroxidetest.New(t, orderRegistry(t))
	var attempts []time.Time
	env.MockActivity(chargeAct, func(_ *duroxide.ActivityContext, input string) (string, error) {
		attempts = append(attempts, env.Now())
		if len(attempts) < 3 {
			return "", errors.New("card declined, try again")
		}
		return `"charged ` + input + `"`, nil
	})
	env.Start(orderOrch, "order-1", 42)
	env.RaiseEventAfter(2*day, "order-1", approvalName, "alice")
	env.Run()
	return env, attempts
}

func TestThirtyDayWorkflow(t *testing.T) {
	env, attempts := runOrder(t)
	t0 := duroxidetest.DefaultStartTime
	st := env.Status("order-1")
	if st.State != duroxide.StateCompleted {
		t.Fatalf("state %s (failure %+v), want Completed", st.State, st.Failure)
	}
	want := "charged 42 approved by alice at 2025-01-03T00:00:00Z, shipped charged 42 at 2025-02-02T00:00:00Z"
	if got := duroxidetest.Output[string](env, "order-1"); got != want {
		t.Errorf("output %q\nwant   %q", got, want)
	}
	// Backoff in virtual time: 1 minute, then 2.
	wantAttempts := []time.Time{t0, t0.Add(time.Minute), t0.Add(3 * time.Minute)}
	if !slices.EqualFunc(attempts, wantAttempts, time.Time.Equal) {
		t.Errorf("charge attempts at %v, want %v", attempts, wantAttempts)
	}
	if cs, _ := env.CustomStatus("order-1"); cs != "shipped" {
		t.Errorf("custom status %q, want shipped", cs)
	}
	if v, ok := env.Value("order-1", "approved_by"); !ok || v != "alice" {
		t.Errorf("KV approved_by = %q, %v", v, ok)
	}
	if all := env.Values("order-1"); !reflect.DeepEqual(all, map[string]string{"approved_by": "alice"}) {
		t.Errorf("KV store %v", all)
	}
	if now := env.Now(); !now.Equal(t0.Add(32 * day)) {
		t.Errorf("virtual clock at the end %v, want %v (the 30-day timer after the approval)", now, t0.Add(32*day))
	}

	// The history: three Charge attempts with two backoff timers between them, the
	// week-long approval timeout, the approval, the 30-day timer, Ship, the end.
	// Virtual time jumped from 3 minutes to 2 days (the approval), then to the
	// timeout and to the 30-day timer.
	h := env.History("order-1")
	var got []string
	for _, ev := range h {
		switch ev.Type {
		case history.ActivityScheduled, history.ActivityCompleted, history.ActivityFailed, history.ExternalEvent:
			got = append(got, fmt.Sprintf("%s %s @%s", ev.Type, ev.Name, time.UnixMilli(ev.TimestampMs).UTC().Sub(t0)))
		case history.TimerCreated, history.TimerFired:
			got = append(got, fmt.Sprintf("%s fire@%s", ev.Type, time.UnixMilli(ev.FireAtMs).UTC().Sub(t0)))
		case history.OrchestrationCompleted:
			got = append(got, fmt.Sprintf("%s @%s", ev.Type, time.UnixMilli(ev.TimestampMs).UTC().Sub(t0)))
		}
	}
	wantH := []string{
		"ActivityScheduled Charge @0s",
		"ActivityFailed  @0s",
		"TimerCreated fire@1m0s",
		"TimerFired fire@1m0s",
		"ActivityScheduled Charge @1m0s",
		"ActivityFailed  @1m0s",
		"TimerCreated fire@3m0s",
		"TimerFired fire@3m0s",
		"ActivityScheduled Charge @3m0s",
		"ActivityCompleted  @3m0s",
		"TimerCreated fire@168h3m0s",
		"ExternalEvent approval @48h0m0s",
		"TimerCreated fire@768h0m0s",
		"TimerFired fire@168h3m0s", // the approval's timeout lost the Select but still fires
		"TimerFired fire@768h0m0s",
		"ActivityScheduled Ship @768h0m0s",
		"ActivityCompleted  @768h0m0s",
		"OrchestrationCompleted @768h0m0s",
	}
	if !reflect.DeepEqual(got, wantH) {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantH, "\n"))
	}
}

// The same test gives the same history, event by event, timestamps included.
func TestSameHistoryEveryRun(t *testing.T) {
	env1, _ := runOrder(t)
	env2, _ := runOrder(t)
	h1, h2 := env1.History("order-1"), env2.History("order-1")
	if len(h1) != len(h2) || len(h1) == 0 {
		t.Fatalf("histories of %d and %d events", len(h1), len(h2))
	}
	for i := range h1 {
		if !reflect.DeepEqual(h1[i], h2[i]) {
			t.Fatalf("event %d differs:\n%+v\n%+v", i, h1[i], h2[i])
		}
	}
}

func BenchmarkThirtyDayWorkflow(b *testing.B) {
	for b.Loop() {
		env, _ := runOrder(b)
		if st := env.Status("order-1"); st.State != duroxide.StateCompleted {
			b.Fatalf("state %s", st.State)
		}
	}
}

// The demo's Tour (an external event, fan-out, timers, sub-orchestrations,
// continue-as-new, a queue message) runs on virtual time; a cancellation
// scheduled with At stops an Approval that would wait a minute.
func TestDemoShapes(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	env := duroxidetest.New(t, reg)
	in := demo.TourInput{Name: "vt", Steps: 2, Fan: 3}
	env.Start(demo.Tour, "tour-1", in)
	env.Start(demo.Approval, "approval-1", nil)
	env.RaiseEventAfter(time.Hour, "tour-1", demo.TourEvent, "go")
	env.At(env.Now().Add(2*time.Hour), func() {
		if err := env.Client().EnqueueEvent(context.Background(), "tour-1", demo.TourQueue, "queued"); err != nil {
			t.Error(err)
		}
	})
	env.At(env.Now().Add(30*time.Second), func() {
		if err := env.Client().CancelInstance(context.Background(), "approval-1", "no longer needed"); err != nil {
			t.Error(err)
		}
	})
	env.Run()
	if got, want := duroxidetest.Output[string](env, "tour-1"), demo.TourOutput(in, "go", "queued"); got != want {
		t.Errorf("tour output %q, want %q", got, want)
	}
	st := env.Status("approval-1")
	if !errors.Is(st.Err(), duroxide.ErrCancelled) {
		t.Errorf("approval: %s %+v, want cancelled", st.State, st.Failure)
	}
	h := env.History("approval-1")
	last := h[len(h)-1]
	if at := time.UnixMilli(last.TimestampMs).Sub(duroxidetest.DefaultStartTime); last.Type != history.OrchestrationFailed || at != 30*time.Second {
		t.Errorf("approval ended with %s %v after the start, want OrchestrationFailed after 30s", last.Type, at)
	}
	if ex, err := env.Client().ListExecutions(context.Background(), "tour-1"); err != nil || len(ex) != 3 {
		t.Errorf("tour executions %v, %v; want 3", ex, err)
	}
}

// Activities on a session and with a tag run in the harness (its runtime owns every
// session and serves every tag).
func TestSessionAndTaggedActivities(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "Chat", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		a, err := duroxide.Await[string](ctx.ScheduleActivity("Reply", "hi", duroxide.OnSession("conv-1")))
		if err != nil {
			return "", err
		}
		b, err := duroxide.Await[string](ctx.ScheduleActivity("Reply", "bye", duroxide.WithTag("gpu")))
		return a + "," + b, err
	}); err != nil {
		t.Fatal(err)
	}
	env := duroxidetest.New(t, reg)
	env.MockActivity("Reply", func(ctx *duroxide.ActivityContext, in string) (string, error) {
		return fmt.Sprintf("%q", strings.Trim(in, `"`)+"@"+ctx.SessionID()+"/"+ctx.Tag()), nil
	})
	env.Start("Chat", "chat-1", nil)
	env.Run()
	if got := duroxidetest.Output[string](env, "chat-1"); got != "hi@conv-1/,bye@/gpu" {
		t.Errorf("output %q", got)
	}
}
