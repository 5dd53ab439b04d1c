package duroxide_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duroxide-go/duroxide"
)

// runExample starts a runtime for reg in a temporary directory, runs one instance of
// name with input and prints its output or failure.
func runExample(reg *duroxide.Registry, name string, input any, during func(*duroxide.Client, string)) {
	dir, err := os.MkdirTemp("", "duroxide-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	rt, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	c := rt.Client()
	id := "example-" + name
	if err := c.StartOrchestration(ctx, id, name, input); err != nil {
		log.Fatal(err)
	}
	if during != nil {
		during(c, id)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := c.WaitForOrchestration(wctx, id)
	if err != nil {
		log.Fatal(err)
	}
	if st.State != duroxide.StateCompleted {
		fmt.Println("failed:", st.Failure.DisplayMessage())
		return
	}
	var out string
	if err := st.Decode(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)
}

// An activity that fails twice succeeds on the third attempt; the backoff waits are
// durable timers.
func ExampleOrchestrationContext_ScheduleActivityWithRetry() {
	reg := duroxide.NewRegistry()
	var calls atomic.Int32
	_ = duroxide.RegisterActivity(reg, "Flaky", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if calls.Add(1) < 3 {
			return "", errors.New("temporarily unavailable")
		}
		return "charged " + in, nil
	})
	_ = duroxide.RegisterOrchestration(reg, "Charge", func(ctx *duroxide.OrchestrationContext, order string) (string, error) {
		policy := duroxide.RetryPolicy{MaxAttempts: 5, Backoff: duroxide.ExponentialBackoff(10*time.Millisecond, 2, time.Second)}
		return duroxide.Await[string](ctx.ScheduleActivityWithRetry("Flaky", order, policy))
	})
	runExample(reg, "Charge", "order-7", nil)
	// Output: charged order-7
}

// Several multi-step sequences run at once: each Go function reserves its item
// with retries, waits on a durable timer and confirms; Join waits for all of them.
// Replay reproduces the same interleaving.
func ExampleOrchestrationContext_Go() {
	reg := duroxide.NewRegistry()
	_ = duroxide.RegisterActivity(reg, "Reserve", func(_ *duroxide.ActivityContext, item string) (string, error) {
		return "reserved " + item, nil
	})
	_ = duroxide.RegisterActivity(reg, "Confirm", func(_ *duroxide.ActivityContext, r string) (string, error) {
		return "confirmed " + r, nil
	})
	_ = duroxide.RegisterOrchestration(reg, "Order", func(ctx *duroxide.OrchestrationContext, items []string) (string, error) {
		policy := duroxide.RetryPolicy{MaxAttempts: 3, Backoff: duroxide.FixedBackoff(10 * time.Millisecond)}
		var lines []*duroxide.Future
		for _, item := range items {
			lines = append(lines, ctx.Go(func(ctx *duroxide.OrchestrationContext) (any, error) {
				r, err := duroxide.Await[string](ctx.ScheduleActivityWithRetry("Reserve", item, policy))
				if err != nil {
					return nil, err
				}
				if err := ctx.ScheduleTimer(10 * time.Millisecond).Get(nil); err != nil {
					return nil, err
				}
				return duroxide.Await[string](ctx.ScheduleActivity("Confirm", r))
			}))
		}
		ctx.Join(lines...)
		var out []string
		for _, f := range lines {
			s, err := duroxide.Await[string](f)
			if err != nil {
				return "", err
			}
			out = append(out, s)
		}
		return strings.Join(out, ", "), nil
	})
	runExample(reg, "Order", []string{"a", "b", "c"}, nil)
	// Output: confirmed reserved a, confirmed reserved b, confirmed reserved c
}

// Queue messages wait in the instance's mailbox until the orchestration dequeues
// them, in order, even if they arrive before the dequeue.
func ExampleOrchestrationContext_DequeueEvent() {
	reg := duroxide.NewRegistry()
	_ = duroxide.RegisterOrchestration(reg, "Collect", func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
		out := ""
		for i := 0; i < n; i++ {
			item, err := duroxide.Await[string](ctx.DequeueEvent("items"))
			if err != nil {
				return "", err
			}
			out += item
		}
		return out, nil
	})
	runExample(reg, "Collect", 3, func(c *duroxide.Client, id string) {
		for _, item := range []string{"a", "b", "c"} {
			if err := c.EnqueueEvent(context.Background(), id, "items", item); err != nil {
				log.Fatal(err)
			}
		}
	})
	// Output: abc
}
