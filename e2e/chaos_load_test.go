package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
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
		// The timer wins; the losing 30 s activity is cancelled.
		name, input, want = demo.TimerRace, demo.TimerRaceInput{WorkMs: 30000, TimeoutMs: 100}, chaosWant{output: "timer"}
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

// chaosStats counts what the histories hold.
type chaosStats struct {
	roots, children, executions  int
	activitiesScheduled          int
	activitiesCompleted          int
	activitiesCancelled          int
	timersCreated, timersFired   int
	subsScheduled, subsCompleted int
	eventsRaised, queueDelivered int
	historyProblems              []string
	instanceIDs                  []string
}

// add adds o's counts and findings to s.
func (s *chaosStats) add(o *chaosStats) {
	s.roots += o.roots
	s.children += o.children
	s.executions += o.executions
	s.activitiesScheduled += o.activitiesScheduled
	s.activitiesCompleted += o.activitiesCompleted
	s.activitiesCancelled += o.activitiesCancelled
	s.timersCreated += o.timersCreated
	s.timersFired += o.timersFired
	s.subsScheduled += o.subsScheduled
	s.subsCompleted += o.subsCompleted
	s.eventsRaised += o.eventsRaised
	s.queueDelivered += o.queueDelivered
	s.historyProblems = append(s.historyProblems, o.historyProblems...)
	s.instanceIDs = append(s.instanceIDs, o.instanceIDs...)
}

func (s *chaosStats) problem(format string, args ...any) {
	s.historyProblems = append(s.historyProblems, fmt.Sprintf(format, args...))
}

// checkInstance checks the final status and every execution's history of an
// acknowledged root instance and, recursively, of its sub-orchestrations.
func (l *chaosLoad) checkInstance(ctx context.Context, id string, want chaosWant, s *chaosStats) {
	var st *duroxide.Status
	if err := l.retry(ctx, "status "+id, func(ctx context.Context, _ int) (err error) { st, err = l.c.GetStatus(ctx, id); return err }); err != nil {
		s.problem("%s: %v", id, err)
		return
	}
	if err := checkOutput(st, want.output); err != nil {
		s.problem("%s (%s): %v", id, want.kind, err)
	}
	s.roots++
	l.checkHistory(ctx, id, want.execs, s)
}

// checkHistory checks that the instance ran exactly execs executions, each started
// once and ended once (continued as new, then completed), and that no activity, timer
// or sub-orchestration completed more than once for the event that scheduled it.
func (l *chaosLoad) checkHistory(ctx context.Context, id string, execs uint64, s *chaosStats) {
	s.instanceIDs = append(s.instanceIDs, id)
	var ids []uint64
	if err := l.retry(ctx, "executions "+id, func(ctx context.Context, _ int) (err error) { ids, err = l.c.ListExecutions(ctx, id); return err }); err != nil {
		s.problem("%s: %v", id, err)
		return
	}
	if uint64(len(ids)) != execs || (len(ids) > 0 && ids[len(ids)-1] != execs) {
		s.problem("%s: executions %v, want 1..%d", id, ids, execs)
	}
	for _, e := range ids {
		var h []history.Event
		if err := l.retry(ctx, "history "+id, func(ctx context.Context, _ int) (err error) { h, err = l.c.ReadHistory(ctx, id, e); return err }); err != nil {
			s.problem("%s: %v", id, err)
			continue
		}
		s.executions++
		last := history.OrchestrationContinuedAsNew
		if e == ids[len(ids)-1] {
			last = history.OrchestrationCompleted
		}
		l.checkExecution(ctx, id, e, h, last, s)
	}
}

func (l *chaosLoad) checkExecution(ctx context.Context, id string, e uint64, h []history.Event, last history.EventType, s *chaosStats) {
	where := fmt.Sprintf("%s execution %d", id, e)
	if len(h) == 0 || h[0].Type != history.OrchestrationStarted {
		s.problem("%s: history does not begin with OrchestrationStarted", where)
		return
	}
	if h[len(h)-1].Type != last {
		s.problem("%s: history ends with %s, want %s", where, h[len(h)-1].Type, last)
	}
	scheduled := map[uint64]history.EventType{} // event id -> kind of schedule
	done := map[uint64]int{}                    // scheduling event id -> completions
	cancelled := map[uint64]bool{}
	terminals := 0
	for i, ev := range h {
		if ev.EventID != uint64(i+1) {
			s.problem("%s: event %d has id %d", where, i+1, ev.EventID)
		}
		if ev.Type.IsTerminal() {
			terminals++
		}
		switch ev.Type {
		case history.OrchestrationStarted:
			if i != 0 {
				s.problem("%s: OrchestrationStarted again at event %d", where, ev.EventID)
			}
		case history.ActivityScheduled:
			scheduled[ev.EventID] = ev.Type
			s.activitiesScheduled++
		case history.TimerCreated:
			scheduled[ev.EventID] = ev.Type
			s.timersCreated++
		case history.SubOrchestrationScheduled:
			scheduled[ev.EventID] = ev.Type
			s.subsScheduled++
			s.children++
			l.checkHistory(ctx, ev.Instance, 1, s)
		case history.ActivityCompleted, history.TimerFired, history.SubOrchestrationCompleted:
			done[ev.SourceEventID]++
			switch ev.Type {
			case history.ActivityCompleted:
				s.activitiesCompleted++
			case history.TimerFired:
				s.timersFired++
			default:
				s.subsCompleted++
			}
		case history.ActivityFailed, history.SubOrchestrationFailed:
			done[ev.SourceEventID]++
			s.problem("%s: %s for event %d: %v", where, ev.Type, ev.SourceEventID, ev.Details)
		case history.ActivityCancelRequested:
			cancelled[ev.SourceEventID] = true
			s.activitiesCancelled++
		case history.ExternalEvent:
			s.eventsRaised++
		case history.QueueEventDelivered:
			s.queueDelivered++
		}
	}
	if terminals != 1 {
		s.problem("%s: %d terminal events, want 1", where, terminals)
	}
	for src, n := range done {
		if _, ok := scheduled[src]; !ok {
			s.problem("%s: a completion for event %d, which scheduled nothing", where, src)
		}
		if n > 1 {
			s.problem("%s: event %d (%s) completed %d times", where, src, scheduled[src], n)
		}
	}
	for src, kind := range scheduled {
		if done[src] == 0 && !cancelled[src] && kind != history.TimerCreated {
			s.problem("%s: %s %d never completed", where, kind, src)
		}
	}
}

// verify checks every acknowledged instance, a few at a time; it returns the counts.
func (l *chaosLoad) verify(ctx context.Context) *chaosStats {
	l.mu.Lock()
	ids := make([]string, 0, len(l.want))
	for id := range l.want {
		ids = append(ids, id)
	}
	want := maps.Clone(l.want)
	l.mu.Unlock()
	slices.Sort(ids)
	const par = 4
	parts := make([]*chaosStats, par)
	var wg sync.WaitGroup
	for p := range par {
		parts[p] = &chaosStats{}
		wg.Go(func() {
			for i := p; i < len(ids); i += par {
				l.checkInstance(ctx, ids[i], want[ids[i]], parts[p])
			}
		})
	}
	wg.Wait()
	s := &chaosStats{}
	for _, p := range parts {
		s.add(p)
	}
	return s
}
