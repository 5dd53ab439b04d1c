package duroxidetest

import (
	"encoding/json"
	"fmt"

	"github.com/duroxide-go/duroxide"
)

// MockActivity replaces the named activity (registered or not) with fn for the
// rest of the test. fn gets the activity's input as JSON and returns its output as
// JSON (a returned error fails the attempt, as a registered activity's does).
// Mocking a name again replaces the previous mock. An empty name or a nil fn fails
// the test.
func (e *Env) MockActivity(name string, fn func(ctx *duroxide.ActivityContext, input string) (string, error)) {
	e.t.Helper()
	if name == "" || fn == nil {
		e.t.Fatalf("duroxidetest: MockActivity(%q, fn): the name must not be empty and fn must not be nil (fn nil: %v)", name, fn == nil)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mocks[name] = fn
}

// Mock replaces activity a with a typed fn, its input and output encoded as JSON
// as for a registered activity. A nil fn or a zero handle fails the test.
func Mock[In, Out any](e *Env, a duroxide.Activity[In, Out], fn func(ctx *duroxide.ActivityContext, in In) (Out, error)) {
	e.t.Helper()
	if fn == nil {
		e.t.Fatalf("duroxidetest: Mock(%q): fn is nil", a.Name())
	}
	e.MockActivity(a.Name(), func(ctx *duroxide.ActivityContext, input string) (string, error) {
		var in In
		if input != "" {
			if err := json.Unmarshal([]byte(input), &in); err != nil {
				return "", fmt.Errorf("duroxidetest: mock of %q: decode input %s into %T: %w", a.Name(), input, in, err)
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return "", fmt.Errorf("duroxidetest: mock of %q: encode output: %w", a.Name(), err)
		}
		return string(b), nil
	})
}

// mock is the runtime's MockActivity knob.
func (e *Env) mock(name string) (any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn, ok := e.mocks[name]
	if !ok {
		return nil, false
	}
	return fn, true
}
