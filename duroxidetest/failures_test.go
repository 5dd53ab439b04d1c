package duroxidetest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/duroxidetest"
	"github.com/duroxide-go/duroxide/history"
)

// recorder captures the harness's test errors.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func oneError(t *testing.T, r *recorder, wants ...string) {
	t.Helper()
	if len(r.errs) != 1 {
		t.Fatalf("harness reported %d errors %q, want 1", len(r.errs), r.errs)
	}
	for _, w := range wants {
		if !strings.Contains(r.errs[0], w) {
			t.Errorf("harness error %q does not name %q", r.errs[0], w)
		}
	}
}

// An orchestration whose code does not replay the same way fails at its next turn,
// and the harness reports the engine's diagnostics, naming the event.
func TestNondeterminismIsATestError(t *testing.T) {
	calls := 0
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "Flaky", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		calls++ // differs between the first run and the replay: nondeterministic
		act := "A"
		if calls > 1 {
			act = "B"
		}
		return duroxide.Await[string](ctx.ScheduleActivity(act, nil))
	}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	env := duroxidetest.New(rec, reg)
	for _, a := range []string{"A", "B"} {
		env.MockActivity(a, func(*duroxide.ActivityContext, string) (string, error) { return `"x"`, nil })
	}
	env.Start("Flaky", "flaky-1", nil)
	env.Run()
	oneError(t, rec, `"Flaky"`, `"flaky-1"`, "nondeterminism", `name="A"`, `name="B"`)
	if st := env.Status("flaky-1"); st.State != duroxide.StateFailed || st.Failure.Kind != history.KindNondeterminism {
		t.Errorf("status %s %+v, want Failed with a nondeterminism failure", st.State, st.Failure)
	}
}

// A panic in orchestration code is a test error naming the orchestration, the
// last event the code saw and the panic.
func TestPanicIsATestError(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "Panicky", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("A", nil)); err != nil {
			return "", err
		}
		panic("boom after A")
	}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	env := duroxidetest.New(rec, reg)
	env.MockActivity("A", func(*duroxide.ActivityContext, string) (string, error) { return `"x"`, nil })
	env.Start("Panicky", "panic-1", nil)
	env.Run()
	oneError(t, rec, `"Panicky"`, `"panic-1"`, "boom after A", "after event 3 (ActivityCompleted)")
}

// AllowEngineFailures leaves the failure to the test.
func TestAllowEngineFailures(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "Panicky", func(*duroxide.OrchestrationContext, string) (string, error) {
		panic("expected")
	}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	env := duroxidetest.New(rec, reg, duroxidetest.AllowEngineFailures())
	env.Start("Panicky", "p", nil)
	env.Run()
	if len(rec.errs) != 0 {
		t.Errorf("errors reported despite AllowEngineFailures: %q", rec.errs)
	}
	if st := env.Status("p"); st.State != duroxide.StateFailed || st.Failure.Kind != history.KindPanicked {
		t.Errorf("status %s %+v, want Failed Panicked", st.State, st.Failure)
	}
}

// An activity neither registered nor mocked fails the instance after the
// runtime's retries (virtual time) and is a test error naming it.
func TestUnmockedActivityIsATestError(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "NeedsX", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("X", nil))
	}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	env := duroxidetest.New(rec, reg)
	env.Start("NeedsX", "x-1", nil)
	env.Run()
	oneError(t, rec, `"NeedsX"`, `"x-1"`, `"X"`, "not registered")
}

// fatalRecorder captures the harness's fatal errors; Fatalf unwinds with a panic
// the test recovers (t.FailNow would end the test itself).
type fatalRecorder struct {
	testing.TB
	fatal string
}

type fatalStop struct{}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(fatalStop{})
}

func fatalOf(r *fatalRecorder, fn func()) string {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(fatalStop); !ok {
				panic(p)
			}
		}
	}()
	fn()
	return ""
}

// An orchestration that never settles (an eternal loop of timers) fails the test
// at MaxSteps instead of running forever; bad mocks fail it naming the problem.
func TestHarnessFatalErrors(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterOrchestration(reg, "Forever", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		for {
			if err := ctx.ScheduleTimer(time.Hour).Get(nil); err != nil {
				return "", err
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	rec := &fatalRecorder{TB: t}
	env := duroxidetest.New(rec, reg, duroxidetest.MaxSteps(50), duroxidetest.NoReplayCheck())
	env.Start("Forever", "forever-1", nil)
	fatalOf(rec, env.Run)
	if !strings.Contains(rec.fatal, "50 steps without settling") {
		t.Errorf("fatal error %q, want one naming the 50 steps", rec.fatal)
	}
	for _, c := range []struct {
		name string
		fn   func(*duroxide.ActivityContext, string) (string, error)
		want string
	}{
		{"", func(*duroxide.ActivityContext, string) (string, error) { return "", nil }, "name must not be empty"},
		{"A", nil, "fn nil: true"},
	} {
		rec.fatal = ""
		fatalOf(rec, func() { env.MockActivity(c.name, c.fn) })
		if !strings.Contains(rec.fatal, c.want) {
			t.Errorf("MockActivity(%q, fn): fatal %q, want it to say %q", c.name, rec.fatal, c.want)
		}
	}
}
