package duroxide

import (
	"testing"
	"time"
)

// The unregistered backoff is duroxide's: base·2^(attempt-1), exponent capped at 6,
// delay capped at the max.
func TestUnregisteredDelay(t *testing.T) {
	o := Options{}
	o.defaults()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := o.unregisteredDelay(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
	o = Options{UnregisteredBaseDelay: time.Millisecond, UnregisteredMaxDelay: time.Hour}
	o.defaults()
	if got := o.unregisteredDelay(20); got != 64*time.Millisecond {
		t.Errorf("exponent cap: %v, want 64ms", got)
	}
	if o.ActivityCancellationGracePeriod != 10*time.Second {
		t.Errorf("grace period default %v, want 10s", o.ActivityCancellationGracePeriod)
	}
}
