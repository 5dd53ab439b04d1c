package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// This file holds the client side of the chaos test: a mixed load driven through the
// public Client while nodes die, and the checks of what it left behind.

// chaosOpTimeout bounds everything done for one instance (start with retries, its
// events, the wait for its end, a delete and re-create). It is generous: a start may
// land on a partition whose owner was just killed and wait for the partition lease,
// and the machine is shared.
const chaosOpTimeout = 3 * time.Minute

// chaosWant is what one acknowledged instance must end as.
type chaosWant struct {
	kind   string
	output any    // the expected output, decoded from JSON
	execs  uint64 // how many executions (continue-as-new) it must have
}

// chaosLoad drives instances through a client and records what each must end as.
type chaosLoad struct {
	c     *duroxide.Client
	seed  uint64
	kinds []string // of chaosKinds and "approval"

	retries atomic.Int64 // client calls retried after an error

	mu        sync.Mutex
	want      map[string]chaosWant
	recreated int // instances deleted and started again under the same id
	failures  []string
	slowest   time.Duration // longest start-to-end of a load instance
	slowestID string
}

func newChaosLoad(c *duroxide.Client, seed uint64, kinds []string) *chaosLoad {
	return &chaosLoad{c: c, seed: seed, kinds: kinds, want: map[string]chaosWant{}}
}

func (l *chaosLoad) failf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

func (l *chaosLoad) acked(id string, w chaosWant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want[id] = w
}

// chaosAttemptTimeout bounds one client call: a request that died with the node the
// client was connected to gets no answer at all, and the call would wait for its
// context's deadline (a delete may legitimately wait up to 10 s for the views).
const chaosAttemptTimeout = 10 * time.Second

// retry calls f until it succeeds or ctx ends; a node dying makes calls fail while
// the client reconnects and stream leaders move. f gets a context for the attempt,
// and the attempt number (0 first) so that it can accept the outcome of an earlier
// attempt that failed ambiguously.
func (l *chaosLoad) retry(ctx context.Context, what string, f func(ctx context.Context, attempt int) error) error {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, chaosAttemptTimeout)
		err := f(actx, attempt)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, duroxide.ErrInvalidInput) {
			return fmt.Errorf("%s: %w", what, err)
		}
		l.retries.Add(1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt+1, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// start starts an instance, retrying until the start is acknowledged.
func (l *chaosLoad) start(ctx context.Context, id, name string, input any) error {
	return l.retry(ctx, "start "+id, func(ctx context.Context, attempt int) error {
		err := l.c.StartOrchestration(ctx, id, name, input)
		if attempt > 0 && errors.Is(err, duroxide.ErrInstanceExists) {
			return nil // an earlier attempt landed
		}
		return err
	})
}

// chaosKinds are the kinds of instance the load mixes. "approval" (an event racing
// a 60 s timer) is left out of the default mix: its losing timer stays in the timer
// queue until it fires, so the queues would drain only a minute after the load.
// DUROXIDE_CHAOS_APPROVAL=1 adds it.
var chaosKinds = []string{"hello", "fanout", "greet", "countdown", "race", "tour", "tour", "delete"}

// worker runs instances one after the other until ctx ends; each instance started is
// carried to its end (or to chaosOpTimeout) even after ctx ends.
func (l *chaosLoad) worker(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(l.seed, uint64(w)+1))
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("w%d-%d", w, i)
		kind := l.kinds[rng.IntN(len(l.kinds))]
		opCtx, cancel := context.WithTimeout(context.Background(), chaosOpTimeout)
		if err := l.run(opCtx, rng, id, kind); err != nil {
			l.failf("%s (%s): %v", id, kind, err)
		}
		cancel()
	}
}

// run starts one instance of kind, sends what it waits for and waits for its end.
func (l *chaosLoad) run(ctx context.Context, rng *rand.Rand, id, kind string) error {
	var (
		name  string
		input any
		want  chaosWant
		after func() error
	)
	switch kind {
	case "hello", "delete":
		name, input, want = demo.HelloWorld, id, chaosWant{output: "Hello, " + id + "!"}
	case "fanout":
		n := 2 + rng.IntN(6)
		name, input, want = demo.FanOut, n, chaosWant{output: float64(n * (n + 1) / 2)}
	case "greet":
		names := []string{id + "-a", id + "-b"}
		name, input, want = demo.GreetAll, names, chaosWant{output: []any{"Hello, " + names[0] + "!", "Hello, " + names[1] + "!"}}
	case "countdown":
		n := 1 + rng.IntN(3)
		name, input, want = demo.Countdown, n, chaosWant{output: fmt.Sprintf("done after %d executions", n+1), execs: uint64(n + 1)}
	case "race":
		// The timer wins; the losing activity is cancelled. The activity takes 120 s,
		// far beyond the 30 s inbox AckWait: a TimerFired in flight on a killed node
		// is redelivered only after it, and with a 30 s activity (as before) the
		// activity's result could legitimately reach the instance first.
		name, input, want = demo.TimerRace, demo.TimerRaceInput{WorkMs: 120000, TimeoutMs: 100}, chaosWant{output: "timer"}
	case "approval":
		name, input, want = demo.Approval, nil, chaosWant{output: "approved:" + id}
		after = func() error {
			return l.retry(ctx, "raise "+id, func(ctx context.Context, _ int) error { return l.c.RaiseEvent(ctx, id, demo.ApprovalEvent, id) })
		}
	case "tour":
		in := demo.TourInput{Name: id, Steps: rng.IntN(3), Fan: 1 + rng.IntN(4)}
		name, input, want = demo.Tour, in, chaosWant{output: demo.TourOutput(in, "ev-"+id, "q-"+id), execs: uint64(in.Steps + 1)}
		after = func() error {
			if err := l.retry(ctx, "raise "+id, func(ctx context.Context, _ int) error { return l.c.RaiseEvent(ctx, id, demo.TourEvent, "ev-"+id) }); err != nil {
				return err
			}
			return l.retry(ctx, "enqueue "+id, func(ctx context.Context, _ int) error { return l.c.EnqueueEvent(ctx, id, demo.TourQueue, "q-"+id) })
		}
	default:
		panic("unknown chaos kind " + kind)
	}
	want.kind = kind
	if want.execs == 0 {
		want.execs = 1
	}
	begin := time.Now()
	if err := l.start(ctx, id, name, input); err != nil {
		return err
	}
	l.acked(id, want)
	if after != nil {
		if err := after(); err != nil {
			return err
		}
	}
	if err := l.waitOutput(ctx, id, want.output); err != nil {
		return err
	}
	l.mu.Lock()
	if d := time.Since(begin); d > l.slowest {
		l.slowest, l.slowestID = d, id+" ("+kind+")"
	}
	l.mu.Unlock()
	if kind != "delete" {
		return nil
	}

	// Delete the finished instance, check it is gone, and start the id again.
	err := l.retry(ctx, "delete "+id, func(ctx context.Context, attempt int) error {
		_, err := l.c.DeleteInstance(ctx, id, false)
		if attempt > 0 && errors.Is(err, duroxide.ErrInstanceNotFound) {
			return nil // an earlier attempt deleted it
		}
		return err
	})
	if err != nil {
		return err
	}
	var st *duroxide.Status
	if err := l.retry(ctx, "status after delete "+id, func(ctx context.Context, _ int) (err error) { st, err = l.c.GetStatus(ctx, id); return err }); err != nil {
		return err
	}
	if st.State != duroxide.StateNotFound {
		return fmt.Errorf("after DeleteInstance returned, the status is %s, want NotFound", st.State)
	}
	again := id + "-again"
	want.output = "Hello, " + again + "!"
	if err := l.start(ctx, id, demo.HelloWorld, again); err != nil {
		return err
	}
	l.acked(id, want)
	l.mu.Lock()
	l.recreated++
	l.mu.Unlock()
	return l.waitOutput(ctx, id, want.output)
}

// waitOutput waits for the instance to complete and checks its output.
func (l *chaosLoad) waitOutput(ctx context.Context, id string, want any) error {
	st, err := l.c.WaitForOrchestration(ctx, id)
	if err != nil {
		return err
	}
	return checkOutput(st, want)
}

func checkOutput(st *duroxide.Status, want any) error {
	if st.State != duroxide.StateCompleted {
		return fmt.Errorf("state %s (failure %+v), want Completed", st.State, st.Failure)
	}
	var got any
	if err := json.Unmarshal(st.Output, &got); err != nil {
		return fmt.Errorf("output %q: %w", st.Output, err)
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("output %s, want %#v", st.Output, want)
	}
	return nil
}
