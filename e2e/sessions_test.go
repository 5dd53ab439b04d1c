package e2e

// Activity sessions (duroxide's schedule_activity_on_session, tests/sessions.rs,
// session_e2e.rs and scenarios/sessions.rs): affinity, spreading, the per-runtime
// cap, idle release, crash takeover, retry on a session, replay with session ids and
// the scaled-out multi-conversation scenario.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// runLog records which worker ran which session's activities.
type runLog struct {
	mu   sync.Mutex
	runs map[string][]string // session -> worker ids, in run order
}

func newRunLog() *runLog { return &runLog{runs: map[string][]string{}} }

func (l *runLog) add(session, worker string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs[session] = append(l.runs[session], worker)
}

func (l *runLog) of(session string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runs[session])
}

func (l *runLog) workers(session string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.runs[session])
	slices.Sort(out)
	return slices.Compact(out)
}

// registerWhere registers the activity "Where": it records its session and worker
// and returns the worker id.
func registerWhere(t *testing.T, reg *duroxide.Registry, log *runLog) {
	t.Helper()
	must(t, duroxide.RegisterActivity(reg, "Where", func(ctx *duroxide.ActivityContext, session string) (string, error) {
		if ctx.SessionID() != session {
			return "", fmt.Errorf("activity sees session %q, want %q", ctx.SessionID(), session)
		}
		log.add(session, ctx.WorkerID())
		return ctx.WorkerID(), nil
	}))
}

// registerFanOnSessions registers "FanOnSessions": input "s1,s2,..." and a count n;
// it schedules n activities on each session at once and returns when all are done.
func registerFanOnSessions(t *testing.T, reg *duroxide.Registry) {
	t.Helper()
	must(t, duroxide.RegisterOrchestration(reg, "FanOnSessions", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		spec, nStr, _ := strings.Cut(in, "|")
		n, _ := strconv.Atoi(nStr)
		var fs []*duroxide.Future
		for _, s := range strings.Split(spec, ",") {
			for i := 0; i < n; i++ {
				fs = append(fs, ctx.ScheduleActivity("Where", s, duroxide.OnSession(s)))
			}
		}
		ctx.Join(fs...)
		for _, f := range fs {
			if _, err := duroxide.Await[string](f); err != nil {
				return "", err
			}
		}
		return "done", nil
	}))
}

// startPair starts runtime A (embedded server, listening) and runtime B (on A's
// server) with the given options and worker ids pod-a and pod-b.
func startPair(t *testing.T, regA, regB *duroxide.Registry, a, b duroxide.Options) (*duroxide.Runtime, *duroxide.Runtime) {
	t.Helper()
	a.Listen, a.WorkerNodeID = "127.0.0.1:0", "pod-a"
	rtA := startRuntime(t, regA, a)
	b.NATSURL, b.WorkerNodeID = rtA.ClientURL(), "pod-b"
	rtB := startRuntime(t, regB, b)
	return rtA, rtB
}

func TestSessionOptionsValidation(t *testing.T) {
	reg := duroxide.NewRegistry()
	for name, o := range map[string]duroxide.Options{
		"idle below renewal": {ActivityLockTimeout: 10 * time.Second, SessionIdleTimeout: 2 * time.Second},
		"idle at renewal":    {ActivityLockTimeout: 10 * time.Second, SessionIdleTimeout: 5 * time.Second},
		"long node id":       {WorkerNodeID: strings.Repeat("n", duroxide.MaxWorkerNodeIDBytes+1)},
		"nul in node id":     {WorkerNodeID: "pod\x00a"},
	} {
		o.DataDir = t.TempDir()
		_, err := duroxide.Start(context.Background(), reg, o)
		field := "SessionIdleTimeout"
		if strings.Contains(name, "node id") {
			field = "WorkerNodeID"
		}
		if !errors.Is(err, duroxide.ErrInvalidInput) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Start returned %v, want ErrInvalidInput naming %s", name, err, field)
		}
	}
}

func TestSessionIDTooLongFailsOrchestration(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "LongSession", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("X", "", duroxide.OnSession(strings.Repeat("s", duroxide.MaxSessionIDBytes+1))))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "long-session", "LongSession", ""))
	st := waitDone(t, c, "long-session", sampleWait)
	if st.State != duroxide.StateFailed || !strings.Contains(st.Failure.Message, "session id") {
		t.Fatalf("%s %+v, want a failure naming the session id", st.State, st.Failure)
	}
}

// Every activity of one session runs on one of two runtimes, in parallel and in
// sequence; the activity sees its session id.
func TestSessionAffinity(t *testing.T) {
	log := newRunLog()
	regA, regB := duroxide.NewRegistry(), duroxide.NewRegistry()
	for _, reg := range []*duroxide.Registry{regA, regB} {
		registerWhere(t, reg, log)
		registerFanOnSessions(t, reg)
		must(t, duroxide.RegisterOrchestration(reg, "Sequential", func(ctx *duroxide.OrchestrationContext, s string) (string, error) {
			var seen []string
			for i := 0; i < 6; i++ {
				w, err := duroxide.Await[string](ctx.ScheduleActivity("Where", s, duroxide.OnSession(s)))
				if err != nil {
					return "", err
				}
				seen = append(seen, w)
			}
			return strings.Join(seen, ","), nil
		}))
	}
	opts := duroxide.Options{SessionLockTimeout: 3 * time.Second}
	rtA, _ := startPair(t, regA, regB, opts, opts)
	c := rtA.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "affine-fan", "FanOnSessions", "sticky|12"))
	must(t, c.StartOrchestration(ctx, "affine-seq", "Sequential", "sticky"))
	if st := waitDone(t, c, "affine-fan", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("fan: %s %+v", st.State, st.Failure)
	}
	seq := sampleOutput[string](t, waitDone(t, c, "affine-seq", sampleWait))
	if ws := log.workers("sticky"); len(ws) != 1 {
		t.Fatalf("session sticky ran on workers %v, want exactly one", ws)
	}
	if len(log.of("sticky")) != 18 {
		t.Fatalf("%d runs of session sticky, want 18", len(log.of("sticky")))
	}
	if w := log.workers("sticky")[0]; strings.Count(seq, w) != 6 {
		t.Fatalf("sequential runs %q, want all on %s", seq, w)
	}
	// The session id is in history.
	for _, ev := range mustHistory(t, c, "affine-seq") {
		if ev.Type == history.ActivityScheduled && ev.SessionID != "sticky" {
			t.Fatalf("ActivityScheduled %d has session %q", ev.EventID, ev.SessionID)
		}
	}
}

// With one session per runtime, two sessions in flight land on different runtimes,
// each on exactly one.
func TestSessionsSpreadOverWorkers(t *testing.T) {
	log := newRunLog()
	regA, regB := duroxide.NewRegistry(), duroxide.NewRegistry()
	for _, reg := range []*duroxide.Registry{regA, regB} {
		registerWhere(t, reg, log)
		registerFanOnSessions(t, reg)
	}
	opts := duroxide.Options{MaxSessionsPerRuntime: 1, SessionLockTimeout: 3 * time.Second}
	rtA, rtB := startPair(t, regA, regB, opts, opts)
	c := rtA.Client()
	must(t, c.StartOrchestration(context.Background(), "spread", "FanOnSessions", "left,right|8"))
	if st := waitDone(t, c, "spread", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("%s %+v", st.State, st.Failure)
	}
	l, r := log.workers("left"), log.workers("right")
	if len(l) != 1 || len(r) != 1 || l[0] == r[0] {
		t.Fatalf("left ran on %v, right on %v: want one worker each, different ones", l, r)
	}
	if a, b := rtA.OwnedSessions(), rtB.OwnedSessions(); len(a) != 1 || len(b) != 1 {
		t.Fatalf("owned sessions: pod-a %v, pod-b %v; want one each", a, b)
	}
}

// A runtime never owns more than MaxSessionsPerRuntime sessions: a third session
// waits until one of the first two is released as idle.
func TestSessionCapPerRuntime(t *testing.T) {
	log := newRunLog()
	reg := duroxide.NewRegistry()
	var rtp atomic.Pointer[duroxide.Runtime]
	var mu sync.Mutex
	maxOwned := 0
	must(t, duroxide.RegisterActivity(reg, "Where", func(ctx *duroxide.ActivityContext, session string) (string, error) {
		owned := rtp.Load().OwnedSessions()
		mu.Lock()
		maxOwned = max(maxOwned, len(owned))
		mu.Unlock()
		if !slices.Contains(owned, session) {
			return "", fmt.Errorf("activity of session %s runs on a node owning %v", session, owned)
		}
		log.add(session, ctx.WorkerID())
		return ctx.WorkerID(), nil
	}))
	registerFanOnSessions(t, reg)
	rt := startRuntime(t, reg, duroxide.Options{MaxSessionsPerRuntime: 2, ActivityLockTimeout: 2 * time.Second,
		SessionLockTimeout: 3 * time.Second, SessionIdleTimeout: 1500 * time.Millisecond})
	rtp.Store(rt)
	c := rt.Client()
	must(t, c.StartOrchestration(context.Background(), "capped", "FanOnSessions", "one,two,three|3"))
	if st := waitDone(t, c, "capped", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("%s %+v", st.State, st.Failure)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxOwned > 2 {
		t.Fatalf("the runtime owned %d sessions at once, the cap is 2", maxOwned)
	}
	for _, s := range []string{"one", "two", "three"} {
		if n := len(log.of(s)); n != 3 {
			t.Fatalf("session %s ran %d activities, want 3", s, n)
		}
	}
}

// An idle session is released and another worker claims it.
func TestSessionIdleReleaseThenClaimByOther(t *testing.T) {
	log := newRunLog()
	hold := make(chan struct{})
	holding := make(chan struct{}, 1)
	regA, regB := duroxide.NewRegistry(), duroxide.NewRegistry()
	for _, reg := range []*duroxide.Registry{regA, regB} {
		registerWhere(t, reg, log)
		registerFanOnSessions(t, reg)
		must(t, duroxide.RegisterActivity(reg, "Hold", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
			log.add("hold", ctx.WorkerID())
			holding <- struct{}{}
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return "held", nil
		}))
		must(t, duroxide.RegisterOrchestration(reg, "Holder", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			return duroxide.Await[string](ctx.ScheduleActivity("Hold", "", duroxide.OnSession("hold")))
		}))
	}
	opts := duroxide.Options{MaxSessionsPerRuntime: 1, ActivityLockTimeout: 2 * time.Second,
		SessionLockTimeout: 3 * time.Second, SessionIdleTimeout: 1500 * time.Millisecond}
	opts.Listen, opts.WorkerNodeID = "127.0.0.1:0", "pod-a"
	rtA := startRuntime(t, regA, opts)
	c := rtA.Client()
	ctx := context.Background()

	// 1. Only pod-a runs: it claims session s.
	must(t, c.StartOrchestration(ctx, "first", "FanOnSessions", "s|2"))
	if st := waitDone(t, c, "first", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("first: %s %+v", st.State, st.Failure)
	}
	if ws := log.workers("s"); !slices.Equal(ws, []string{"pod-a"}) {
		t.Fatalf("s ran on %v, want pod-a", ws)
	}
	// 2. s goes idle and is released.
	waitFor(t, "pod-a to release the idle session", func() bool { return len(rtA.OwnedSessions()) == 0 })
	// 3. pod-a takes session hold (its cap is 1) and keeps it busy.
	must(t, c.StartOrchestration(ctx, "holder", "Holder", ""))
	<-holding
	// 4. pod-b joins; the next activity of s can only be claimed by pod-b.
	optsB := opts
	optsB.Listen, optsB.NATSURL, optsB.WorkerNodeID, optsB.OrchestrationConcurrency = "", rtA.ClientURL(), "pod-b", -1
	rtB := startRuntime(t, regB, optsB)
	t.Cleanup(func() { close(hold) }) // before the runtimes' shutdowns
	must(t, c.StartOrchestration(ctx, "second", "FanOnSessions", "s|2"))
	if st := waitDone(t, c, "second", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("second: %s %+v", st.State, st.Failure)
	}
	runs := log.of("s")
	if !slices.Equal(runs, []string{"pod-a", "pod-a", "pod-b", "pod-b"}) {
		t.Fatalf("runs of s: %v, want two on pod-a then two on pod-b", runs)
	}
	if !slices.Contains(rtB.OwnedSessions(), "s") {
		t.Fatalf("pod-b owns %v, want s", rtB.OwnedSessions())
	}
}

// The owner of a session dies (its connection drops): after its lease expires the
// other runtime takes over the session and runs its pending activities, including
// the one the dead owner was running.
func TestSessionCrashTakeover(t *testing.T) {
	log := newRunLog()
	gate := make(chan struct{})
	started := make(chan string, 16)
	regA, regB := duroxide.NewRegistry(), duroxide.NewRegistry()
	registerWhere(t, regA, log)
	registerFanOnSessions(t, regA)
	release := make(chan struct{})
	holding := make(chan struct{}, 1)
	must(t, duroxide.RegisterActivity(regA, "Hold", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		holding <- struct{}{}
		<-release
		return "held", nil
	}))
	must(t, duroxide.RegisterOrchestration(regA, "Holder", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Hold", "", duroxide.OnSession("hold")))
	}))
	// On pod-b every activity of the session blocks: it dies with them in flight.
	must(t, duroxide.RegisterActivity(regB, "Where", func(ctx *duroxide.ActivityContext, session string) (string, error) {
		started <- ctx.WorkerID()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return "", errors.New("pod-b is gone")
	}))
	base := duroxide.Options{MaxSessionsPerRuntime: 1, ActivityLockTimeout: 2 * time.Second,
		SessionLockTimeout: time.Second, SessionIdleTimeout: 1500 * time.Millisecond}
	a := base
	a.Listen, a.WorkerNodeID = "127.0.0.1:0", "pod-a"
	rtA := startRuntime(t, regA, a)
	c := rtA.Client()
	ctx := context.Background()
	// pod-a fills its cap with the busy session hold, so pod-b must claim s.
	must(t, c.StartOrchestration(ctx, "holder", "Holder", ""))
	<-holding
	b := base
	b.NATSURL, b.WorkerNodeID, b.OrchestrationConcurrency, b.ActivityConcurrency = rtA.ClientURL(), "pod-b", -1, 1
	rtB := startRuntime(t, regB, b)
	t.Cleanup(func() { close(gate) }) // runs before rtB's shutdown
	must(t, c.StartOrchestration(ctx, "crash", "FanOnSessions", "s|4"))
	if w := <-started; w != "pod-b" {
		t.Fatalf("first activity of s started on %s", w)
	}
	if !slices.Contains(rtB.OwnedSessions(), "s") {
		t.Fatalf("pod-b owns %v, want s", rtB.OwnedSessions())
	}
	// Abrupt death of pod-b: no release, no hand-back. pod-a's session hold ends
	// and goes idle, so pod-a has room for s.
	rtB.Conn().Close()
	close(release)
	st := waitDone(t, c, "crash", 30*time.Second)
	if st.State != duroxide.StateCompleted {
		t.Fatalf("crash: %s %+v", st.State, st.Failure)
	}
	if ws := log.workers("s"); !slices.Equal(ws, []string{"pod-a"}) {
		t.Fatalf("after the crash s ran on %v, want pod-a", ws)
	}
	if n := len(log.of("s")); n != 4 {
		t.Fatalf("pod-a ran %d activities of s, want all 4", n)
	}
}

// ScheduleActivityWithRetry on a session: every attempt runs on the session's
// owner and carries the session id.
func TestSessionRetry(t *testing.T) {
	log := newRunLog()
	var mu sync.Mutex
	calls := 0
	regA, regB := duroxide.NewRegistry(), duroxide.NewRegistry()
	for _, reg := range []*duroxide.Registry{regA, regB} {
		must(t, duroxide.RegisterActivity(reg, "Flaky", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
			log.add(ctx.SessionID(), ctx.WorkerID())
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls < 3 {
				return "", fmt.Errorf("transient failure %d", calls)
			}
			return "ok after " + strconv.Itoa(calls), nil
		}))
		must(t, duroxide.RegisterOrchestration(reg, "RetryOnSession", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			return duroxide.Await[string](ctx.ScheduleActivityWithRetry("Flaky", "", duroxide.RetryPolicy{
				MaxAttempts: 3, Backoff: duroxide.FixedBackoff(10 * time.Millisecond)}, duroxide.OnSession("retry-s")))
		}))
	}
	opts := duroxide.Options{SessionLockTimeout: 3 * time.Second}
	rtA, _ := startPair(t, regA, regB, opts, opts)
	c := rtA.Client()
	must(t, c.StartOrchestration(context.Background(), "retry-session", "RetryOnSession", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "retry-session", sampleWait)); out != "ok after 3" {
		t.Fatalf("output %q", out)
	}
	if ws := log.workers("retry-s"); len(ws) != 1 || len(log.of("retry-s")) != 3 {
		t.Fatalf("attempts %v, want 3 on one worker with the session id", log.of("retry-s"))
	}
	n := 0
	for _, ev := range mustHistory(t, c, "retry-session") {
		if ev.Type == history.ActivityScheduled {
			n++
			if ev.SessionID != "retry-s" {
				t.Fatalf("attempt %d scheduled on session %q", n, ev.SessionID)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d ActivityScheduled events, want 3", n)
	}
}

// Session ids replay: the same code replays from history after a restart, and code
// that schedules the activity on another session fails with a nondeterminism error.
func TestSessionReplayDeterminism(t *testing.T) {
	build := func(session string) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		must(t, duroxide.RegisterActivity(reg, "Echo", func(ctx *duroxide.ActivityContext, in string) (string, error) {
			return in + "@" + ctx.SessionID(), nil
		}))
		must(t, duroxide.RegisterOrchestration(reg, "Flow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			a, err := duroxide.Await[string](ctx.ScheduleActivity("Echo", "a", duroxide.OnSession(session)))
			if err != nil {
				return "", err
			}
			ev, err := duroxide.Await[string](ctx.WaitForEvent("next"))
			if err != nil {
				return "", err
			}
			return a + "," + ev, nil
		}))
		return reg
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, replayWith string
		fails            bool
	}{{"same session", "s1", false}, {"other session", "s2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rt1, err := duroxide.Start(ctx, build("s1"), duroxide.Options{DataDir: dir})
			must(t, err)
			must(t, rt1.Client().StartOrchestration(ctx, "replay", "Flow", nil))
			waitFor(t, "the event wait", func() bool {
				return hasEvent(mustHistory(t, rt1.Client(), "replay"), history.ExternalSubscribed, "next")
			})
			must(t, rt1.Shutdown(ctx))
			rt2 := startRuntime(t, build(tc.replayWith), duroxide.Options{DataDir: dir})
			must(t, rt2.Client().RaiseEvent(ctx, "replay", "next", "b"))
			st := waitDone(t, rt2.Client(), "replay", sampleWait)
			if tc.fails {
				if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindNondeterminism || !strings.Contains(st.Failure.Message, "session") {
					t.Fatalf("%s %+v, want a nondeterminism failure naming the session", st.State, st.Failure)
				}
				return
			}
			if out := sampleOutput[string](t, st); out != "a@s1,b" {
				t.Fatalf("output %q", out)
			}
		})
	}
}

// ---- duroxide's scenarios/sessions.rs: durable_copilot_sdk_scaled_out_multi_conversation ----

type copilotSession struct {
	messages []string
}

// sessionManager is the worker's in-memory map of live sessions (the SDK's
// SessionManager); creating a session is the expensive step sessions avoid repeating.
type sessionManager struct {
	mu       sync.Mutex
	sessions map[string]*copilotSession
	creates  int
}

type turnResult struct {
	Type    string `json:"type"`
	Content string `json:"content,omitempty"`
	Seconds int    `json:"seconds,omitempty"`
}

func TestScenarioCopilotScaledOutMultiConversation(t *testing.T) {
	managers := map[string]*sessionManager{
		"worker-A": {sessions: map[string]*copilotSession{}},
		"worker-B": {sessions: map[string]*copilotSession{}},
	}
	var asgMu sync.Mutex
	assignment := map[string]string{} // session -> worker
	var routeErrs []string

	build := func(worker string) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		mgr := managers[worker]
		must(t, duroxide.RegisterActivity(reg, "runAgentTurn", func(ctx *duroxide.ActivityContext, in string) (string, error) {
			parts := strings.SplitN(in, "|", 4)
			sid, prompt := parts[0], parts[1]
			iteration, _ := strconv.Atoi(parts[2])
			asgMu.Lock()
			if ctx.SessionID() != sid {
				routeErrs = append(routeErrs, fmt.Sprintf("activity sees session %q, want %q", ctx.SessionID(), sid))
			}
			assignment[sid] = worker
			asgMu.Unlock()
			mgr.mu.Lock()
			s := mgr.sessions[sid]
			if s == nil {
				mgr.creates++
				s = &copilotSession{}
				mgr.sessions[sid] = s
			}
			s.messages = append(s.messages, "user:"+prompt)
			resp := fmt.Sprintf("[%s] Reply to '%s' (turn %d, history=%d)", worker, prompt, iteration, len(s.messages))
			s.messages = append(s.messages, "assistant:"+resp)
			mgr.mu.Unlock()
			res := turnResult{Type: "completed", Content: resp}
			if iteration == 0 && strings.Contains(prompt, "check back") {
				res = turnResult{Type: "wait", Seconds: 1, Content: resp}
			}
			b, err := json.Marshal(res)
			return string(b), err
		}))
		must(t, duroxide.RegisterOrchestration(reg, "durable-turn", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
			parts := strings.SplitN(in, "|", 4)
			sid, sys := parts[0], parts[3]
			iteration, _ := strconv.Atoi(parts[2])
			raw, err := duroxide.Await[string](ctx.ScheduleActivity("runAgentTurn", in, duroxide.OnSession(sid)))
			if err != nil {
				return "", err
			}
			var res turnResult
			if err := json.Unmarshal([]byte(raw), &res); err != nil {
				return "", fmt.Errorf("parse TurnResult: %w", err)
			}
			switch res.Type {
			case "completed":
				return res.Content, nil
			case "wait":
				if err := ctx.ScheduleTimer(time.Duration(res.Seconds) * 100 * time.Millisecond).Get(nil); err != nil {
					return "", err
				}
				next := fmt.Sprintf("%s|%s|%d|%s", sid, "The wait is complete. Continue with your task.", iteration+1, sys)
				return "", ctx.ContinueAsNew(next)
			}
			return "", fmt.Errorf("turn error: %s", res.Content)
		}))
		return reg
	}

	opts := duroxide.Options{ActivityConcurrency: 2, OrchestrationConcurrency: 2, MaxSessionsPerRuntime: 4,
		SessionLockTimeout: 3 * time.Second}
	a, b := opts, opts
	a.Listen, a.WorkerNodeID = "127.0.0.1:0", "pod-worker-a"
	rtA := startRuntime(t, build("worker-A"), a)
	b.NATSURL, b.WorkerNodeID = rtA.ClientURL(), "pod-worker-b"
	startRuntime(t, build("worker-B"), b)
	c := rtA.Client()

	conversations := []struct{ id, prompt string }{
		{"conv-1", "Hello, what is Rust?"},
		{"conv-2", "Explain async/await"},
		{"conv-3", "Deploy my app and check back in 30s"},
		{"conv-4", "Run the test suite and check back later"},
	}
	ctx := context.Background()
	for _, cv := range conversations {
		in := fmt.Sprintf("session-%s|%s|0|You are a helpful coding assistant.", cv.id, cv.prompt)
		must(t, c.StartOrchestration(ctx, cv.id, "durable-turn", in))
	}
	results := map[string]string{}
	for _, cv := range conversations {
		results[cv.id] = sampleOutput[string](t, waitDone(t, c, cv.id, 30*time.Second))
	}
	if len(results) != 4 {
		t.Fatalf("%d conversations completed, want 4", len(results))
	}
	for _, id := range []string{"conv-1", "conv-2"} {
		if out := results[id]; !strings.Contains(out, "Reply to") || !strings.Contains(out, "turn 0") {
			t.Fatalf("simple conversation %s: %q", id, out)
		}
	}
	for _, id := range []string{"conv-3", "conv-4"} {
		if out := results[id]; !strings.Contains(out, "turn 1") || !strings.Contains(out, "The wait is complete") {
			t.Fatalf("wait conversation %s: %q", id, out)
		}
	}
	asgMu.Lock()
	defer asgMu.Unlock()
	if len(routeErrs) > 0 {
		t.Fatalf("session ids: %v", routeErrs)
	}
	t.Logf("session assignment: %v", assignment)
	total := 0
	for w, m := range managers {
		m.mu.Lock()
		if m.creates != len(m.sessions) {
			t.Errorf("%s created %d sessions for %d ids: a session was re-created (migrated)", w, m.creates, len(m.sessions))
		}
		total += len(m.sessions)
		m.mu.Unlock()
	}
	if total != 4 {
		t.Fatalf("%d sessions over both workers, want all 4 exactly once", total)
	}
	for _, id := range []string{"conv-3", "conv-4"} {
		sid := "session-" + id
		m := managers[assignment[sid]]
		m.mu.Lock()
		n := len(m.sessions[sid].messages)
		m.mu.Unlock()
		if n < 4 {
			t.Fatalf("session %s has %d messages, want at least 4 (2 turns)", sid, n)
		}
	}
}

// A clean shutdown hands the node's sessions back at once: another node claims
// them without waiting for the (here one minute) session lock timeout.
func TestSessionReleasedOnShutdown(t *testing.T) {
	log := newRunLog()
	reg := duroxide.NewRegistry()
	registerWhere(t, reg, log)
	registerFanOnSessions(t, reg)
	opts := duroxide.Options{SessionLockTimeout: time.Minute}
	server := opts
	server.Listen, server.ActivityConcurrency = "127.0.0.1:0", -1
	rt := startRuntime(t, reg, server)
	c := rt.Client()
	ctx := context.Background()
	worker := func(id string) *duroxide.Runtime {
		o := opts
		o.NATSURL, o.WorkerNodeID, o.OrchestrationConcurrency = rt.ClientURL(), id, -1
		return startRuntime(t, reg, o)
	}
	a := worker("pod-a")
	must(t, c.StartOrchestration(ctx, "before", "FanOnSessions", "kept|2"))
	if st := waitDone(t, c, "before", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("before: %s %+v", st.State, st.Failure)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	must(t, a.Shutdown(sctx))
	worker("pod-b")
	must(t, c.StartOrchestration(ctx, "after", "FanOnSessions", "kept|2"))
	if st := waitDone(t, c, "after", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("after: %s %+v", st.State, st.Failure)
	}
	if runs := log.of("kept"); !slices.Equal(runs, []string{"pod-a", "pod-a", "pod-b", "pod-b"}) {
		t.Fatalf("runs of kept: %v, want two on pod-a then two on pod-b", runs)
	}
}

// The runtime's session manager renews the leases of sessions in use: four sessions
// whose activities are separated by a timer longer than SessionLockTimeout are still
// held when the lease time has passed, and stay on their runtimes.
func TestSessionLeaseRenewedAcrossGaps(t *testing.T) {
	log := newRunLog()
	regA, regB := duroxide.NewRegistry(), duroxide.NewRegistry()
	for _, reg := range []*duroxide.Registry{regA, regB} {
		registerWhere(t, reg, log)
		must(t, duroxide.RegisterOrchestration(reg, "Gap", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			sessions := []string{"g1", "g2", "g3", "g4"}
			round := func() error {
				var fs []*duroxide.Future
				for _, s := range sessions {
					fs = append(fs, ctx.ScheduleActivity("Where", s, duroxide.OnSession(s)))
				}
				ctx.Join(fs...)
				for _, f := range fs {
					if _, err := duroxide.Await[string](f); err != nil {
						return err
					}
				}
				return nil
			}
			if err := round(); err != nil {
				return "", err
			}
			if err := ctx.ScheduleTimer(2500 * time.Millisecond).Get(nil); err != nil {
				return "", err
			}
			return "done", round()
		}))
	}
	opts := duroxide.Options{SessionLockTimeout: time.Second}
	rtA, rtB := startPair(t, regA, regB, opts, opts)
	c := rtA.Client()
	must(t, c.StartOrchestration(context.Background(), "gap", "Gap", ""))
	waitFor(t, "the first round", func() bool {
		for _, s := range []string{"g1", "g2", "g3", "g4"} {
			if len(log.of(s)) == 0 {
				return false
			}
		}
		return true
	})
	// Past the lease of the first round (the timer still runs): every session is
	// still held, since the runtimes renewed them.
	time.Sleep(1500 * time.Millisecond)
	held := append(rtA.OwnedSessions(), rtB.OwnedSessions()...)
	slices.Sort(held)
	if !slices.Equal(held, []string{"g1", "g2", "g3", "g4"}) {
		t.Fatalf("held sessions %v after the lease time, want g1..g4", held)
	}
	if st := waitDone(t, c, "gap", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("%s %+v", st.State, st.Failure)
	}
	for _, s := range []string{"g1", "g2", "g3", "g4"} {
		if runs := log.of(s); len(runs) != 2 || runs[0] != runs[1] {
			t.Fatalf("session %s ran on %v, want twice on one worker", s, runs)
		}
	}
}

// An idle session is no longer renewed; once its lease lapsed the runtime's orphan
// sweep (every SessionCleanupInterval) deletes it, since no work of it is left.
func TestSessionOrphanCleanup(t *testing.T) {
	log := newRunLog()
	reg := duroxide.NewRegistry()
	registerWhere(t, reg, log)
	registerFanOnSessions(t, reg)
	rt := startRuntime(t, reg, duroxide.Options{ActivityLockTimeout: 2 * time.Second, SessionLockTimeout: time.Second,
		SessionIdleTimeout: 1500 * time.Millisecond, SessionCleanupInterval: 200 * time.Millisecond})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "orphan", "FanOnSessions", "o|2"))
	if st := waitDone(t, c, "orphan", sampleWait); st.State != duroxide.StateCompleted {
		t.Fatalf("%s %+v", st.State, st.Failure)
	}
	js, err := jetstream.New(rt.Conn())
	must(t, err)
	kv, err := js.KeyValue(ctx, "DUROXIDE_SESSIONS")
	must(t, err)
	leases := func() int {
		lister, err := kv.ListKeysFiltered(ctx, "s.>")
		must(t, err)
		n := 0
		for range lister.Keys() {
			n++
		}
		return n
	}
	if n := leases(); n != 1 {
		t.Fatalf("%d session leases after the run, want 1 (session o)", n)
	}
	waitFor(t, "the idle session's lease to lapse and be swept", func() bool { return leases() == 0 })
	if owned := rt.OwnedSessions(); len(owned) != 0 {
		t.Fatalf("the runtime still owns %v", owned)
	}
}
