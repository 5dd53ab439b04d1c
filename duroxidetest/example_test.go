package duroxidetest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/duroxidetest"
)

// An orchestration under test: remind a user every day until they confirm, at
// most three times.
func reminders(ctx *duroxide.OrchestrationContext, user string) (string, error) {
	for i := 1; i <= 3; i++ {
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("SendReminder", user)); err != nil {
			return "", err
		}
		// A future that loses a Select is cancelled: wait for the event anew each day.
		if ctx.Select(ctx.WaitForEvent("confirmed"), ctx.ScheduleTimer(24*time.Hour)) == 0 {
			return fmt.Sprintf("confirmed after %d reminders", i), nil
		}
	}
	return "gave up", nil
}

// Examples run as tests of their own; t stands in for the test's *testing.T.
var t = &testing.T{}

// A unit test of an orchestration: mock its activity, raise an event at a virtual
// time, run, read the output. Two virtual days pass in well under a millisecond.
func Example() {
	reg := duroxide.NewRegistry()
	_ = duroxide.RegisterOrchestration(reg, "Reminders", reminders)

	env := duroxidetest.New(t, reg)
	sent := 0
	env.MockActivity("SendReminder", func(*duroxide.ActivityContext, string) (string, error) {
		sent++
		return `"sent"`, nil
	})
	env.Start("Reminders", "user-7", "ada")
	env.RaiseEventAfter(36*time.Hour, "user-7", "confirmed", nil)
	env.Run()

	fmt.Println(duroxidetest.Output[string](env, "user-7"))
	fmt.Println("reminders sent:", sent)
	fmt.Println("virtual time passed:", env.Now().Sub(duroxidetest.DefaultStartTime))
	// Output:
	// confirmed after 2 reminders
	// reminders sent: 2
	// virtual time passed: 48h0m0s
}

// Without a confirmation the orchestration gives up after three days; the timers
// are skipped, not waited for.
func ExampleEnv_Run() {
	reg := duroxide.NewRegistry()
	_ = duroxide.RegisterOrchestration(reg, "Reminders", reminders)
	env := duroxidetest.New(t, reg)
	env.MockActivity("SendReminder", func(*duroxide.ActivityContext, string) (string, error) { return `"sent"`, nil })
	env.Start("Reminders", "user-8", "bob")
	env.Run()
	fmt.Println(duroxidetest.Output[string](env, "user-8"), "at", env.Now().Format(time.RFC3339))
	// Output: gave up at 2025-01-04T00:00:00Z
}

// A typed mock replaces an activity defined with a handle; Start and Result take
// the orchestration's handle.
func ExampleMock() {
	reg := duroxide.NewRegistry()
	double, _ := duroxide.DefineActivity(reg, "Double", func(_ *duroxide.ActivityContext, n int) (int, error) { return 2 * n, nil })
	twice, _ := duroxide.DefineOrchestration(reg, "Twice", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		return double.Schedule(ctx, n).Await()
	})
	env := duroxidetest.New(t, reg)
	duroxidetest.Mock(env, double, func(_ *duroxide.ActivityContext, n int) (int, error) { return 100 + n, nil })
	duroxidetest.Start(env, twice, "twice-1", 5)
	env.Run()
	out, err := twice.Result(context.Background(), env.Client(), "twice-1")
	fmt.Println(out, err)
	// Output: 105 <nil>
}

// RunUntil stops as soon as a condition holds: here, once the orchestration has
// sent its first reminder and waits, to inspect it mid-flight.
func ExampleEnv_RunUntil() {
	reg := duroxide.NewRegistry()
	_ = duroxide.RegisterOrchestration(reg, "Reminders", reminders)
	env := duroxidetest.New(t, reg)
	sent := 0
	env.MockActivity("SendReminder", func(*duroxide.ActivityContext, string) (string, error) { sent++; return `"sent"`, nil })
	env.Start("Reminders", "user-9", "cy")
	env.RunUntil(func() bool { return sent == 1 })
	fmt.Println(env.Status("user-9").State, "at", env.Now().Format(time.RFC3339))
	// Output: Running at 2025-01-01T00:00:00Z
}
