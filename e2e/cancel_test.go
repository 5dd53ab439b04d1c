package e2e

// Behaviours of duroxide's tests/cancellation.rs and the single-thread cancellation
// scenarios: a cancelled instance fails with "canceled: <reason>" and cancels its
// running activities promptly; Select losers are cancelled (activities, sub-
// orchestrations, event subscriptions); activities that were not started are
// removed; a runaway activity is abandoned after the grace period and its result
// dropped; cancelling a finished or unknown instance does nothing.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

func cancelReasons(evs []history.Event, typ history.EventType) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev.Reason)
		}
	}
	return out
}

// blockingActivity registers an activity that reports its start and then waits for
// its context, reporting the cause.
func blockingActivity(t *testing.T, reg *duroxide.Registry, name string) (started chan struct{}, causes chan error) {
	started, causes = make(chan struct{}, 4), make(chan error, 4)
	must(t, duroxide.RegisterActivity(reg, name, func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return "", ctx.Err()
	}))
	return started, causes
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(sampleWait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestCancelInstanceCancelsRunningActivity(t *testing.T) {
	reg := duroxide.NewRegistry()
	started, causes := blockingActivity(t, reg, "LongRunning")
	must(t, duroxide.RegisterOrchestration(reg, "WaitsOnActivity", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("LongRunning", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "cancel-running", "WaitsOnActivity", ""))
	recv(t, started, "the activity to start")
	must(t, c.CancelInstance(ctx, "cancel-running", "stop it"))

	st := waitDone(t, c, "cancel-running", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.DisplayMessage() != "canceled: stop it" {
		t.Fatalf("%s %+v, want Failed \"canceled: stop it\"", st.State, st.Failure)
	}
	if err := st.Err(); !errors.Is(err, duroxide.ErrCancelled) || errors.Is(err, duroxide.ErrPoison) {
		t.Fatalf("Status.Err() = %v, want one matching ErrCancelled (only)", err)
	}
	if cause := recv(t, causes, "the activity to see its cancellation"); !errors.Is(cause, duroxide.ErrActivityCancelled) {
		t.Fatalf("cause %v, want ErrActivityCancelled", cause)
	}
	evs := mustHistory(t, c, "cancel-running")
	if r := cancelReasons(evs, history.ActivityCancelRequested); len(r) != 1 || r[0] != "orchestration_terminal_failed" {
		t.Fatalf("ActivityCancelRequested reasons %q, want [orchestration_terminal_failed]", r)
	}
	last := evs[len(evs)-1]
	if last.Type != history.OrchestrationFailed || evs[len(evs)-2].Type != history.ActivityCancelRequested {
		t.Fatalf("history ends %s, %s: the breadcrumb must come before the terminal event", evs[len(evs)-2].Type, last.Type)
	}
}

func TestSelectLoserActivityIsCancelled(t *testing.T) {
	reg := duroxide.NewRegistry()
	started, causes := blockingActivity(t, reg, "Slow")
	must(t, duroxide.RegisterOrchestration(reg, "RaceTimer", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		act := ctx.ScheduleActivity("Slow", "")
		if ctx.Select(act, ctx.ScheduleTimer(100*time.Millisecond)) != 1 {
			return "", errors.New("the activity cannot win")
		}
		if err := act.Get(nil); !errors.Is(err, duroxide.ErrFutureCancelled) {
			return "", errors.New("Get on the loser must report ErrFutureCancelled")
		}
		return "timer won", nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "select-loser", "RaceTimer", ""))
	recv(t, started, "the activity to start")
	if out := sampleOutput[string](t, waitDone(t, c, "select-loser", sampleWait)); out != "timer won" {
		t.Fatalf("output %q", out)
	}
	if cause := recv(t, causes, "the loser to be cancelled"); !errors.Is(cause, duroxide.ErrActivityCancelled) {
		t.Fatalf("cause %v", cause)
	}
	evs := mustHistory(t, c, "select-loser")
	if r := cancelReasons(evs, history.ActivityCancelRequested); len(r) != 1 || r[0] != duroxide.ReasonDroppedFuture {
		t.Fatalf("reasons %q, want [dropped_future]", r)
	}
	if countType(evs, history.ActivityCompleted)+countType(evs, history.ActivityFailed) != 0 {
		t.Fatalf("the cancelled activity's result reached history: %+v", evs)
	}
}

// A runaway activity ignores its cancellation: after the grace period the worker
// drops it (freeing its slot for the next activity) and its late result is never
// applied. The single-thread scenario single_thread_1x1_runaway_activity_aborted.
func TestRunawayActivityIsAbandonedAfterGrace(t *testing.T) {
	reg := duroxide.NewRegistry()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	must(t, duroxide.RegisterActivity(reg, "Runaway", func(*duroxide.ActivityContext, string) (string, error) {
		started <- struct{}{}
		<-release // ignores its context
		return "too late", nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Next", func(*duroxide.ActivityContext, string) (string, error) {
		return "next ran", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "RunawayRace", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		act := ctx.ScheduleActivity("Runaway", "")
		if ctx.Select(act, ctx.ScheduleTimer(50*time.Millisecond)) == 0 {
			return "", errors.New("the runaway cannot win")
		}
		// One activity slot: Next runs only once the worker gave up on Runaway.
		return duroxide.Await[string](ctx.ScheduleActivity("Next", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{OrchestrationConcurrency: 1, ActivityConcurrency: 1,
		ActivityCancellationGracePeriod: 100 * time.Millisecond}).Client()
	defer close(release)
	must(t, c.StartOrchestration(context.Background(), "runaway", "RunawayRace", ""))
	recv(t, started, "the runaway to start")
	if out := sampleOutput[string](t, waitDone(t, c, "runaway", sampleWait)); out != "next ran" {
		t.Fatalf("output %q", out)
	}
	evs := mustHistory(t, c, "runaway")
	for _, ev := range evs {
		if ev.Type == history.ActivityCompleted && ev.Output == `"too late"` {
			t.Fatalf("the runaway's result was applied: %+v", evs)
		}
	}
}

func TestSelectLoserSubOrchestrationIsCancelled(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "ChildForever", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("never"))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ParentRace", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		child := ctx.ScheduleSubOrchestration("ChildForever", "", duroxide.WithInstanceID("race-child"))
		if ctx.Select(child, ctx.ScheduleTimer(100*time.Millisecond)) != 1 {
			return "", errors.New("the child cannot win")
		}
		return "parent done", nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "race-parent", "ParentRace", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "race-parent", sampleWait)); out != "parent done" {
		t.Fatalf("output %q", out)
	}
	if r := cancelReasons(mustHistory(t, c, "race-parent"), history.SubOrchestrationCancelRequested); len(r) != 1 || r[0] != duroxide.ReasonDroppedFuture {
		t.Fatalf("parent's SubOrchestrationCancelRequested reasons %q", r)
	}
	st := waitDone(t, c, "race-child", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.DisplayMessage() != "canceled: parent dropped sub-orchestration future" {
		t.Fatalf("child %s %+v", st.State, st.Failure)
	}
}

// An event wait that lost a Select no longer counts: the next raised event goes to
// the next active wait (duroxide skips cancelled subscriptions in positional
// matching).
func TestSelectLoserEventSubscriptionIsSkipped(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "WaitTwice", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		first := ctx.WaitForEvent("Ping")
		if ctx.Select(first, ctx.ScheduleTimer(50*time.Millisecond)) != 1 {
			return "", errors.New("nobody raised Ping yet")
		}
		ctx.SetCustomStatus("waiting again")
		return duroxide.Await[string](ctx.WaitForEvent("Ping"))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "wait-twice", "WaitTwice", ""))
	wctx, cancel := context.WithTimeout(ctx, sampleWait)
	defer cancel()
	_, err := c.WaitForStatusChange(wctx, "wait-twice", 0)
	must(t, err)
	must(t, c.RaiseEvent(ctx, "wait-twice", "Ping", "pong"))
	if out := sampleOutput[string](t, waitDone(t, c, "wait-twice", sampleWait)); out != "pong" {
		t.Fatalf("output %q", out)
	}
	if n := countType(mustHistory(t, c, "wait-twice"), history.ExternalSubscribedCancelled); n != 1 {
		t.Fatalf("%d ExternalSubscribedCancelled, want 1", n)
	}
}

// Work that no worker has started is removed from the work stream when the
// orchestration no longer wants it.
func TestCancelRemovesNotStartedWork(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Starved", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Anything", "", duroxide.WithTag("nobody")))
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := context.Background()
	workMsgs := func() uint64 { return streamMsgs(rt, "DUROXIDE_WORK", "") }
	must(t, c.StartOrchestration(ctx, "starved", "Starved", ""))
	waitFor(t, "the work item to be queued", func() bool { return workMsgs() == 1 })
	must(t, c.CancelInstance(ctx, "starved", "give up"))
	st := waitDone(t, c, "starved", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindCancelled {
		t.Fatalf("%s %+v", st.State, st.Failure)
	}
	waitFor(t, "the work item to be removed", func() bool { return workMsgs() == 0 })
}

func TestCancelFinishedOrUnknownInstanceIsNoop(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Quick", func(*duroxide.OrchestrationContext, string) (string, error) {
		return "done", nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{MaxAttempts: 2, UnregisteredBaseDelay: 5 * time.Millisecond})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "quick", "Quick", ""))
	waitDone(t, c, "quick", sampleWait)
	must(t, c.CancelInstance(ctx, "quick", "late"))
	must(t, c.CancelInstance(ctx, "nobody-home", "late"))
	// Whenever the cancel is processed, it must leave the finished instance as is.
	waitFor(t, "the late cancel to be consumed", func() bool { return streamMsgs(rt, "DUROXIDE_INBOX", "duroxide.in.*.quick.*") == 0 })
	st, err := c.GetStatus(ctx, "quick")
	must(t, err)
	if st.State != duroxide.StateCompleted {
		t.Fatalf("finished instance became %s after a cancel", st.State)
	}
	if n := countType(mustHistory(t, c, "quick"), history.OrchestrationCancelRequested); n != 0 {
		t.Fatalf("a finished instance recorded a cancel request")
	}
}

// streamMsgs counts the messages of a stream (on subjects matching filter, if not
// empty); a failed lookup counts as "many".
func streamMsgs(rt *duroxide.Runtime, stream, filter string) uint64 {
	ctx := context.Background()
	js, err := jetstream.New(rt.Conn())
	if err != nil {
		return 1 << 60
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 1 << 60
	}
	if filter == "" {
		info, err := s.Info(ctx)
		if err != nil {
			return 1 << 60
		}
		return info.State.Msgs
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 1 << 60
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// The cancellation breadcrumbs Select writes are decisions of the code: an instance
// replayed from history (the engine cache holds one instance, two run) reproduces
// them without a nondeterminism error.
func TestSelectCancellationReplays(t *testing.T) {
	reg := duroxide.NewRegistry()
	blockingActivity(t, reg, "Parked")
	must(t, duroxide.RegisterOrchestration(reg, "Replayed", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		act := ctx.ScheduleActivity("Parked", "")
		q := ctx.DequeueEvent("never")
		w := ctx.WaitForEvent("never")
		if ctx.Select(act, q, w, ctx.ScheduleTimer(20*time.Millisecond)) != 3 {
			return "", errors.New("only the timer can win")
		}
		v, err := duroxide.Await[string](ctx.WaitForEvent("go"))
		return "replayed:" + v, err
	}))
	c := startRuntime(t, reg, duroxide.Options{MaxCachedInstances: 1}).Client()
	ctx := context.Background()
	for _, id := range []string{"replay-a", "replay-b"} {
		must(t, c.StartOrchestration(ctx, id, "Replayed", ""))
	}
	for _, id := range []string{"replay-a", "replay-b"} {
		sampleWaitSubscribed(t, c, id, "go", sampleWait)
	}
	for _, id := range []string{"replay-a", "replay-b"} {
		must(t, c.RaiseEvent(ctx, id, "go", id))
	}
	for _, id := range []string{"replay-a", "replay-b"} {
		if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "replayed:"+id {
			t.Fatalf("%s: output %q", id, out)
		}
		evs := mustHistory(t, c, id)
		for _, typ := range []history.EventType{history.ActivityCancelRequested, history.QueueSubscriptionCancelled, history.ExternalSubscribedCancelled} {
			if countType(evs, typ) != 1 {
				t.Fatalf("%s: want one %s in %+v", id, typ, evs)
			}
		}
	}
}

// Activities still in flight when an execution ends are cancelled, with the reason
// naming how it ended: continued as new, then completed.
func TestExecutionEndCancelsInFlightActivities(t *testing.T) {
	reg := duroxide.NewRegistry()
	started, causes := blockingActivity(t, reg, "Forgotten")
	must(t, duroxide.RegisterOrchestration(reg, "Forgetful", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		ctx.ScheduleActivity("Forgotten", "") // never awaited
		if ctx.ExecutionID() == 1 {
			if err := ctx.WaitForEvent("next").Get(nil); err != nil {
				return "", err
			}
			return "", ctx.ContinueAsNew("")
		}
		return "done", ctx.WaitForEvent("finish").Get(nil)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "forgetful"
	must(t, c.StartOrchestration(ctx, id, "Forgetful", ""))
	recv(t, started, "the first activity to start")
	sampleWaitSubscribed(t, c, id, "next", sampleWait)
	must(t, c.RaiseEvent(ctx, id, "next", nil))
	if cause := recv(t, causes, "the first activity's cancellation"); !errors.Is(cause, duroxide.ErrActivityCancelled) {
		t.Fatalf("cause %v", cause)
	}
	recv(t, started, "the second activity to start")
	sampleWaitSubscribed(t, c, id, "finish", sampleWait)
	must(t, c.RaiseEvent(ctx, id, "finish", nil))
	if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "done" {
		t.Fatalf("output %q", out)
	}
	if cause := recv(t, causes, "the second activity's cancellation"); !errors.Is(cause, duroxide.ErrActivityCancelled) {
		t.Fatalf("cause %v", cause)
	}
	e1, err := c.ReadHistory(ctx, id, 1)
	must(t, err)
	if r := cancelReasons(e1, history.ActivityCancelRequested); len(r) != 1 || r[0] != "orchestration_terminal_continued_as_new" {
		t.Fatalf("execution 1 reasons %q", r)
	}
	if r := cancelReasons(mustHistory(t, c, id), history.ActivityCancelRequested); len(r) != 1 || r[0] != "orchestration_terminal_completed" {
		t.Fatalf("execution 2 reasons %q", r)
	}
}

// The cancellation signal crosses nodes: the orchestration runs on one node, the
// activity on another.
func TestCancelSignalReachesAnotherNode(t *testing.T) {
	reg := duroxide.NewRegistry()
	started, causes := blockingActivity(t, reg, "Remote")
	must(t, duroxide.RegisterOrchestration(reg, "CallsRemote", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Remote", ""))
	}))
	orchNode := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", ActivityConcurrency: -1})
	startRuntime(t, reg, duroxide.Options{NATSURL: orchNode.ClientURL(), OrchestrationConcurrency: -1})
	c := orchNode.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "cross-node", "CallsRemote", ""))
	recv(t, started, "the remote activity to start")
	must(t, c.CancelInstance(ctx, "cross-node", "remote stop"))
	if cause := recv(t, causes, "the remote activity's cancellation"); !errors.Is(cause, duroxide.ErrActivityCancelled) {
		t.Fatalf("cause %v", cause)
	}
	if st := waitDone(t, c, "cross-node", sampleWait); st.Failure == nil || st.Failure.DisplayMessage() != "canceled: remote stop" {
		t.Fatalf("%s %+v", st.State, st.Failure)
	}
}

// Cancellation breadcrumbs are checked on replay: code that no longer drops the
// Select loser does not match history.
func TestDroppedBreadcrumbIsNondeterminism(t *testing.T) {
	dir := t.TempDir()
	build := func(useSelect bool) *duroxide.Registry {
		reg := duroxide.NewRegistry()
		must(t, duroxide.RegisterOrchestration(reg, "Flow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
			w := ctx.WaitForEvent("x")
			tm := ctx.ScheduleTimer(10 * time.Millisecond)
			if useSelect {
				ctx.Select(w, tm)
			} else if err := tm.Get(nil); err != nil {
				return "", err
			}
			return duroxide.Await[string](ctx.WaitForEvent("next"))
		}))
		return reg
	}
	ctx := context.Background()
	rt1, err := duroxide.Start(ctx, build(true), duroxide.Options{DataDir: dir})
	must(t, err)
	must(t, rt1.Client().StartOrchestration(ctx, "nd-cancel", "Flow", nil))
	sampleWaitSubscribed(t, rt1.Client(), "nd-cancel", "next", sampleWait)
	must(t, rt1.Shutdown(ctx))

	c := startRuntime(t, build(false), duroxide.Options{DataDir: dir}).Client()
	must(t, c.RaiseEvent(ctx, "nd-cancel", "next", "x"))
	st := waitDone(t, c, "nd-cancel", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindNondeterminism ||
		!strings.Contains(st.Failure.Message, string(history.ExternalSubscribedCancelled)) {
		t.Fatalf("%s %+v, want a nondeterminism failure naming ExternalSubscribedCancelled", st.State, st.Failure)
	}
}
