package duroxide

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/duroxide-go/duroxide/history"
)

type backoffKind int

const (
	backoffNone backoffKind = iota
	backoffFixed
	backoffLinear
	backoffExponential
)

// Backoff is the wait between the attempts of a retried activity. The zero value is
// [NoBackoff].
type Backoff struct {
	kind       backoffKind
	base, max  time.Duration
	multiplier float64
}

// NoBackoff retries at once.
func NoBackoff() Backoff { return Backoff{} }

// FixedBackoff waits d before every retry.
func FixedBackoff(d time.Duration) Backoff { return Backoff{kind: backoffFixed, base: d} }

// LinearBackoff waits base·n before retry n (n = 1, 2, ...), at most max.
func LinearBackoff(base, max time.Duration) Backoff {
	return Backoff{kind: backoffLinear, base: base, max: max}
}

// ExponentialBackoff waits base·multiplier^(n-1) before retry n, at most max.
func ExponentialBackoff(base time.Duration, multiplier float64, max time.Duration) Backoff {
	return Backoff{kind: backoffExponential, base: base, multiplier: multiplier, max: max}
}

// Delay is the wait before the retry that follows failed attempt n (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	n := max(attempt, 1)
	switch b.kind {
	case backoffFixed:
		return b.base
	case backoffLinear:
		return min(b.base*time.Duration(n), b.max)
	case backoffExponential:
		d := float64(b.base) * math.Pow(b.multiplier, float64(n-1))
		if d >= float64(b.max) || math.IsInf(d, 0) || math.IsNaN(d) {
			return b.max
		}
		return time.Duration(d)
	}
	return 0
}

// RetryPolicy says how [OrchestrationContext.ScheduleActivityWithRetry] retries an
// activity.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, at least 1.
	MaxAttempts int
	// Backoff is the wait before each retry, kept as a durable timer in history.
	Backoff Backoff
	// Timeout bounds each attempt (0: none). An attempt that runs out of it is
	// cancelled and the call fails with [ActivityTimeoutMessage] without retrying,
	// as in duroxide.
	Timeout time.Duration
}

// DefaultRetryPolicy is duroxide's default: 3 attempts, exponential backoff from
// 100 ms doubling up to 30 s, no timeout.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, Backoff: ExponentialBackoff(100*time.Millisecond, 2, 30*time.Second)}
}

// ScheduleActivityWithRetry runs the named activity until it succeeds or
// policy.MaxAttempts attempts have failed, and returns a future for the result or the
// last attempt's [*TaskError]. The future is pending like any other: the first
// attempt is scheduled at once and the call returns, so several retried calls run in
// parallel and work in Join and Select. The retry loop runs as a function started
// with [OrchestrationContext.Go]. Everything is durable: each attempt is an
// ActivityScheduled event and each backoff a timer in history, so a retry loop
// survives restarts and replays the same way.
//
// Only application failures of the activity are retried (configuration and poison
// failures fail the orchestration, as for ScheduleActivity). With policy.Timeout set,
// each attempt races a timer; if the timer wins the attempt is cancelled and the
// future fails, without further retries, with a [*TaskError] that matches
// [ErrActivityTimeout] (its message is [ActivityTimeoutMessage]). A policy with
// MaxAttempts < 1 or a negative duration returns a failed future wrapping
// [ErrInvalidInput]; an input that cannot be encoded or is too large, one wrapping
// [ErrPayloadTooLarge] or the encoding error.
//
// If the future loses a Select, the pending attempt is cancelled and its backoff or
// timeout timer forgotten, and Get returns [ErrFutureCancelled].
//
// opts apply to every attempt: with [OnSession] all attempts run on the session's
// owner, with [WithTag] on the tag's workers.
func (c *OrchestrationContext) ScheduleActivityWithRetry(name string, input any, policy RetryPolicy, opts ...ActivityOption) *Future {
	e := c.e
	switch {
	case policy.MaxAttempts < 1:
		return e.failedFuture(fmt.Errorf("%w: retry policy for activity %q: MaxAttempts is %d, it must be at least 1",
			ErrInvalidInput, name, policy.MaxAttempts))
	case policy.Timeout < 0:
		return e.failedFuture(fmt.Errorf("%w: retry policy for activity %q: Timeout is negative", ErrInvalidInput, name))
	case policy.Backoff.base < 0 || policy.Backoff.max < 0:
		return e.failedFuture(fmt.Errorf("%w: retry policy for activity %q: Backoff has a negative duration", ErrInvalidInput, name))
	}
	return e.goFuture(name, func() (string, error) {
		for attempt := 1; ; attempt++ {
			f := c.ScheduleActivity(name, input, append(slices.Clip(opts), retryAttempt(attempt-1))...)
			if f.st.kind == kindFailed {
				return "", f.st.err
			}
			if policy.Timeout > 0 {
				if c.Select(f, c.ScheduleTimer(policy.Timeout)) == 1 {
					return "", &TaskError{Details: history.ErrorDetails{Category: history.Application,
						Kind: history.KindActivityFailed, Resource: name, Message: ActivityTimeoutMessage}, timeout: true}
				}
			}
			e.block(func() bool { return f.st.done })
			if f.st.err == nil || attempt >= policy.MaxAttempts {
				return f.st.result, f.st.err
			}
			if d := policy.Backoff.Delay(attempt); d > 0 {
				t := c.ScheduleTimer(d)
				e.block(func() bool { return t.st.done })
			}
		}
	})
}

// retryAttempt numbers an attempt of a retried activity (0: the first) in its work
// item, for the retry_attempt label of duroxide_activity_executions_total.
func retryAttempt(n int) ActivityOption {
	return ActivityOption{func(o *activityOptions) { o.retryAttempt = n }}
}
