package duroxidetest

import (
	"context"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// Start starts the named orchestration as instance id with input; it runs at the
// next Run. A failed start fails the test.
func (e *Env) Start(name, id string, input any, opts ...duroxide.StartOption) {
	e.t.Helper()
	if err := e.client.StartOrchestration(context.Background(), id, name, input, opts...); err != nil {
		e.t.Fatalf("duroxidetest: start %q as %q: %v", name, id, err)
	}
}

// Start starts orchestration o (a typed handle) as instance id with input in; it
// runs at the next Run. A failed start fails the test. After Run, o.Result(ctx,
// env.Client(), id) returns a finished instance's typed output or failure.
func Start[In, Out any](e *Env, o duroxide.Orchestration[In, Out], id string, in In, opts ...duroxide.StartOption) {
	e.t.Helper()
	if err := o.Start(context.Background(), e.client, id, in, opts...); err != nil {
		e.t.Fatalf("duroxidetest: start %q as %q: %v", o.Name(), id, err)
	}
}

// RaiseEventAt raises the external event name with data for instance when the
// virtual clock reaches t (see [Env.At]). A failed raise fails the test.
func (e *Env) RaiseEventAt(t time.Time, instance, name string, data any) {
	e.At(t, func() {
		if err := e.client.RaiseEvent(context.Background(), instance, name, data); err != nil {
			e.t.Errorf("duroxidetest: raise %q for %q at %v: %v", name, instance, t.Format(time.RFC3339), err)
		}
	})
}

// RaiseEventAfter raises the event d after the current virtual time.
func (e *Env) RaiseEventAfter(d time.Duration, instance, name string, data any) {
	e.RaiseEventAt(e.Now().Add(d), instance, name, data)
}

// Status returns the instance's status (State NotFound for a missing one). A
// failed read fails the test.
func (e *Env) Status(id string) *duroxide.Status {
	e.t.Helper()
	st, err := e.client.GetStatus(context.Background(), id)
	if err != nil {
		e.t.Fatalf("duroxidetest: status of %q: %v", id, err)
	}
	return st
}

// Output decodes the output of a Completed instance into a T; an instance that
// is not Completed, or whose output does not decode, fails the test.
func Output[T any](e *Env, id string) T {
	e.t.Helper()
	st := e.Status(id)
	var out T
	if err := st.Decode(&out); err != nil {
		if st.Failure != nil {
			e.t.Fatalf("duroxidetest: output of %q: %v: %s", id, err, st.Failure.DisplayMessage())
		}
		e.t.Fatalf("duroxidetest: output of %q: %v", id, err)
	}
	return out
}

// CustomStatus returns the instance's custom status and whether it has one.
func (e *Env) CustomStatus(id string) (string, bool) {
	e.t.Helper()
	st := e.Status(id)
	if st.CustomStatus == nil {
		return "", false
	}
	return *st.CustomStatus, true
}

// Value returns key's value in the instance's key-value store and whether it is
// set.
func (e *Env) Value(id, key string) (string, bool) {
	e.t.Helper()
	v, ok, err := e.client.GetValue(context.Background(), id, key)
	if err != nil {
		e.t.Fatalf("duroxidetest: value %q of %q: %v", key, id, err)
	}
	return v, ok
}

// Values returns the instance's whole key-value store (empty for a missing
// instance).
func (e *Env) Values(id string) map[string]string {
	e.t.Helper()
	all, err := e.client.GetAllValues(context.Background(), id)
	if err != nil {
		e.t.Fatalf("duroxidetest: values of %q: %v", id, err)
	}
	return all
}

// History returns the history of the instance's latest execution (empty for a
// missing instance).
func (e *Env) History(id string) []history.Event {
	e.t.Helper()
	h, err := e.client.ReadHistory(context.Background(), id, 0)
	if err != nil {
		e.t.Fatalf("duroxidetest: history of %q: %v", id, err)
	}
	return h
}
