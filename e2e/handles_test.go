package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

type chargeReq struct {
	Card   string
	Amount int
}

// TestTypedHandles runs orchestrations written only with typed handles: activities
// by DefineActivity and ActivityRef (with retries, raced in a Select), a typed
// sub-orchestration and a detached start, and the client's typed Start and Result;
// a panicking instance's Result matches ErrInstanceFailed and ErrPanicked.
func TestTypedHandles(t *testing.T) {
	reg := duroxide.NewRegistry()
	attempts := 0
	charge, err := duroxide.DefineActivity(reg, "Charge", func(_ *duroxide.ActivityContext, r chargeReq) (int, error) {
		attempts++
		if attempts < 2 {
			return 0, errors.New("declined once")
		}
		return r.Amount * 100, nil
	})
	must(t, err)
	// A reference by name with the same types reaches the same activity.
	chargeRef := duroxide.ActivityRef[chargeReq, int]("Charge")
	child, err := duroxide.DefineOrchestration(reg, "TypedChild", func(_ *duroxide.OrchestrationContext, n int) (int, error) {
		return n + 1, nil
	})
	must(t, err)
	detached, err := duroxide.DefineOrchestration(reg, "TypedDetached", func(_ *duroxide.OrchestrationContext, s string) (string, error) {
		return s + "!", nil
	})
	must(t, err)
	parent, err := duroxide.DefineOrchestration(reg, "TypedParent", func(ctx *duroxide.OrchestrationContext, r chargeReq) (int, error) {
		retried := charge.ScheduleWithRetry(ctx, r, duroxide.RetryPolicy{MaxAttempts: 3})
		timer := ctx.ScheduleTimer(time.Hour)
		if ctx.Select(retried.Future, timer) != 0 {
			return 0, errors.New("timer won")
		}
		cents, err := retried.Await()
		if err != nil {
			return 0, err
		}
		again, err := chargeRef.Schedule(ctx, chargeReq{Card: r.Card, Amount: 1}).Await()
		if err != nil {
			return 0, err
		}
		if err := detached.StartDetached(ctx, ctx.InstanceID()+"-detached", "hi"); err != nil {
			return 0, err
		}
		plus, err := child.Schedule(ctx, cents+again).Await()
		return plus, err
	})
	must(t, err)
	boom, err := duroxide.DefineOrchestration(reg, "TypedBoom", func(*duroxide.OrchestrationContext, string) (string, error) {
		panic("typed boom")
	})
	must(t, err)
	if _, err := duroxide.DefineOrchestrationVersion(reg, "TypedChild", "x.y", func(_ *duroxide.OrchestrationContext, n int) (int, error) {
		return n, nil
	}); !errors.Is(err, duroxide.ErrInvalidInput) {
		t.Fatalf("bad version: %v, want ErrInvalidInput", err)
	}

	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx, cancel := context.WithTimeout(context.Background(), sampleWait)
	defer cancel()

	must(t, parent.Start(ctx, c, "typed-1", chargeReq{Card: "4242", Amount: 7}))
	got, err := parent.Result(ctx, c, "typed-1")
	if err != nil || got != 801 {
		t.Fatalf("Result = %d, %v; want 801 (700 + 100 + 1)", got, err)
	}
	if s, err := detached.Result(ctx, c, "typed-1-detached"); err != nil || s != "hi!" {
		t.Fatalf("detached Result = %q, %v; want hi!", s, err)
	}

	must(t, boom.Start(ctx, c, "typed-boom", "x"))
	_, err = boom.Result(ctx, c, "typed-boom")
	if !errors.Is(err, duroxide.ErrInstanceFailed) || !errors.Is(err, duroxide.ErrPanicked) {
		t.Fatalf("failed Result: %v, want ErrInstanceFailed and ErrPanicked", err)
	}
	var fd *duroxide.FailureDetails
	if !errors.As(err, &fd) {
		t.Fatalf("failed Result %v carries no *FailureDetails", err)
	}
}
