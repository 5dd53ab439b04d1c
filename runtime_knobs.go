package duroxide

import "time"

// The runtime's test-only settings (internal/testknobs, passed in Start's context)
// that reach into turns and activities: the time-skipping harness (package
// duroxidetest) sets a virtual clock and activity mocks.

// now is the runtime's time: the knobs' clock, or the wall clock.
func (r *Runtime) now() time.Time {
	if r.knobs.Clock != nil {
		return r.knobs.Clock()
	}
	return time.Now()
}

// activity returns the function that runs the named activity: the knobs' mock, or
// the registered one.
func (r *Runtime) activity(name string) (activityFunc, bool) {
	if r.knobs.MockActivity != nil {
		if m, ok := r.knobs.MockActivity(name); ok {
			if fn, ok := m.(func(*ActivityContext, string) (string, error)); ok {
				return fn, true
			}
			r.log.Error("activity mock of the wrong type; running the registered activity", "activity", name)
		}
	}
	return r.reg.activity(name)
}
