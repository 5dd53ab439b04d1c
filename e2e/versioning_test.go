package e2e

// Behaviours of duroxide's tests/versioning.rs, tests/capability_filtering.rs and
// the scenarios version_replay_bug.rs (issue #49) and rolling_deployment.rs: an
// execution always replays with the version recorded in its history, also for a
// completion-only batch after a restart; a node without the needed orchestration
// version or activity backs off until a node that has it comes (or it is
// registered), and never runs another version in its place.

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

// issue49Registry has 1.0.2 (waits for an event, then finishes) and a latest 2.0.0
// whose code differs (it schedules a timer first), so replaying 1.0.2 history with
// 2.0.0 would be nondeterministic.
func issue49Registry(t *testing.T) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestrationVersion(reg, "Versioned", "1.0.2", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if ctx.ExecutionID() == 1 && in == "can" {
			return "", ctx.ContinueAsNew("input-for-v2", duroxide.WithVersion("1.0.2"))
		}
		v, err := duroxide.Await[string](ctx.WaitForEvent("go"))
		return "v1.0.2:" + in + ":" + v + ":" + ctx.Version(), err
	}))
	must(t, duroxide.RegisterOrchestrationVersion(reg, "Versioned", "2.0.0", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if err := ctx.ScheduleTimer(time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		return "v2:" + in, nil
	}))
	return reg
}

func TestVersionReplayCompletionOnlyUsesHistoryVersion(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"first execution", "plain", "v1.0.2:plain:ok:1.0.2"},
		{"after continue-as-new", "can", "v1.0.2:input-for-v2:ok:1.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			rt1, err := duroxide.Start(ctx, issue49Registry(t), duroxide.Options{DataDir: dir})
			must(t, err)
			c := rt1.Client()
			const id = "issue-49"
			must(t, c.StartOrchestration(ctx, id, "Versioned", tc.input, duroxide.StartVersion("1.0.2")))
			sampleWaitSubscribed(t, c, id, "go", sampleWait)
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			must(t, rt1.Shutdown(sctx))
			cancel()

			// A new process: nothing cached; the next batch holds only the event.
			rt2 := startRuntime(t, issue49Registry(t), duroxide.Options{DataDir: dir})
			c = rt2.Client()
			must(t, c.RaiseEvent(ctx, id, "go", "ok"))
			st := waitDone(t, c, id, sampleWait)
			if out := sampleOutput[string](t, st); out != tc.want || st.Version != "1.0.2" {
				t.Fatalf("output %q version %s, want %q at 1.0.2", out, st.Version, tc.want)
			}
		})
	}
}

// A version the node does not have is not replaced by another: the start backs off
// and succeeds once the version is registered (capability filtering).
func TestUnregisteredVersionBacksOffUntilRegistered(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerVersionedString(t, reg, "Evolving", "1.0.0", "v1")
	rt := startRuntime(t, reg, duroxide.Options{MaxAttempts: 1000, UnregisteredBaseDelay: 5 * time.Millisecond,
		UnregisteredMaxDelay: 20 * time.Millisecond})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "wants-v3", "Evolving", "", duroxide.StartVersion("3.0.0")))
	// Let the start bounce at least once (it is redelivered after its backoff).
	waitFor(t, "the start to be redelivered", func() bool { return inboxRedelivered(rt) > 0 })
	if st, err := c.GetStatus(ctx, "wants-v3"); err != nil || st.State != duroxide.StatePending || !strings.Contains(st.WaitingFor, "version 3.0.0") {
		t.Fatalf("the instance started without its version, or is not shown waiting for it: %+v %v", st, err)
	}
	registerVersionedString(t, reg, "Evolving", "3.0.0", "v3")
	st := waitDone(t, c, "wants-v3", sampleWait)
	if out := sampleOutput[string](t, st); out != "v3" || st.Version != "3.0.0" {
		t.Fatalf("output %q version %s", out, st.Version)
	}
}

// rolling_deployment.rs e2e_rolling_deployment_three_nodes: three runtimes on one
// server, two of them without NewActivity; its work item bounces between nodes with
// backoff until the old nodes are upgraded (the activity registered).
func TestScenarioRollingDeploymentThreeNodes(t *testing.T) {
	full, old1, old2 := duroxide.NewRegistry(), duroxide.NewRegistry(), duroxide.NewRegistry()
	newActivity := func(_ *duroxide.ActivityContext, in string) (string, error) { return "NewActivity result: " + in, nil }
	orch := func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("NewActivity", in))
	}
	for _, reg := range []*duroxide.Registry{full, old1, old2} {
		must(t, duroxide.RegisterOrchestration(reg, "Deploy", orch))
	}
	must(t, duroxide.RegisterActivity(full, "NewActivity", newActivity))
	opts := duroxide.Options{MaxAttempts: 50, UnregisteredBaseDelay: 50 * time.Millisecond, UnregisteredMaxDelay: 200 * time.Millisecond}
	o1 := opts
	o1.Listen = "127.0.0.1:0"
	rtOld1 := startRuntime(t, old1, o1)
	o2 := opts
	o2.NATSURL = rtOld1.ClientURL()
	startRuntime(t, old2, o2)
	c := rtOld1.Client()
	ctx := context.Background()
	const id = "rolling-deploy"
	must(t, c.StartOrchestration(ctx, id, "Deploy", "payload"))
	waitHistory(t, c, id, "NewActivity to be scheduled", func(evs []history.Event) bool {
		return hasEvent(evs, history.ActivityScheduled, "NewActivity")
	})
	// The upgraded node joins; the old nodes are upgraded too.
	startRuntime(t, full, o2)
	must(t, duroxide.RegisterActivity(old1, "NewActivity", newActivity))
	must(t, duroxide.RegisterActivity(old2, "NewActivity", newActivity))
	out := sampleOutput[string](t, waitDone(t, c, id, sampleWait))
	if !strings.Contains(out, "NewActivity result") {
		t.Fatalf("output %q", out)
	}
}

// rolling_deployment.rs e2e_rolling_deployment_version_upgrade: version 1.0.0
// continues as new into 2.0.0, which no node has yet; the next execution waits
// (backing off) until the nodes are upgraded, then completes with v2's code.
func TestScenarioRollingDeploymentVersionUpgrade(t *testing.T) {
	regs := []*duroxide.Registry{duroxide.NewRegistry(), duroxide.NewRegistry(), duroxide.NewRegistry()}
	v1 := func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return "", ctx.ContinueAsNew("from-v1", duroxide.WithVersion("2.0.0"))
	}
	v2 := func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if in != "from-v1" {
			return "", errors.New("v2 did not get v1's input")
		}
		return "v2-completed", nil
	}
	for _, reg := range regs {
		must(t, duroxide.RegisterOrchestrationVersion(reg, "Upgrader", "1.0.0", v1))
	}
	opts := duroxide.Options{MaxAttempts: 50, UnregisteredBaseDelay: 50 * time.Millisecond, UnregisteredMaxDelay: 200 * time.Millisecond}
	o1 := opts
	o1.Listen = "127.0.0.1:0"
	rt := startRuntime(t, regs[0], o1)
	o2 := opts
	o2.NATSURL = rt.ClientURL()
	startRuntime(t, regs[1], o2)
	startRuntime(t, regs[2], o2)
	c := rt.Client()
	ctx := context.Background()
	const id = "rolling-version"
	must(t, c.StartOrchestration(ctx, id, "Upgrader", ""))
	waitFor(t, "execution 1 to continue as new", func() bool {
		evs, err := c.ReadHistory(ctx, id, 1)
		return err == nil && hasEvent(evs, history.OrchestrationContinuedAsNew, "")
	})
	for _, reg := range regs {
		must(t, duroxide.RegisterOrchestrationVersion(reg, "Upgrader", "2.0.0", v2))
	}
	st := waitDone(t, c, id, sampleWait)
	if out := sampleOutput[string](t, st); out != "v2-completed" || st.Version != "2.0.0" || st.ExecutionID != 2 {
		t.Fatalf("output %q version %s execution %d", out, st.Version, st.ExecutionID)
	}
}

// A start naming a version no node has fails with a configuration error naming the
// version once its attempts run out.
func TestUnregisteredVersionFailsAfterAttempts(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerVersionedString(t, reg, "OnlyV1", "1.0.0", "v1")
	c := startRuntime(t, reg, duroxide.Options{MaxAttempts: 3, UnregisteredBaseDelay: 5 * time.Millisecond,
		UnregisteredMaxDelay: 20 * time.Millisecond}).Client()
	must(t, c.StartOrchestration(context.Background(), "wants-v9", "OnlyV1", "", duroxide.StartVersion("9.0.0")))
	st := waitDone(t, c, "wants-v9", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Category != history.Configuration ||
		st.Failure.Kind != history.KindUnregistered || !strings.Contains(st.Failure.Message, "9.0.0") {
		t.Fatalf("%s %+v, want an Unregistered configuration failure naming 9.0.0", st.State, st.Failure)
	}
}

// inboxRedelivered counts the inbox messages that are pending after more than one
// delivery (on every partition consumer).
func inboxRedelivered(rt *duroxide.Runtime) int {
	ctx := context.Background()
	js, err := jetstream.New(rt.Conn())
	if err != nil {
		return 0
	}
	s, err := js.Stream(ctx, "DUROXIDE_INBOX")
	if err != nil {
		return 0
	}
	n := 0
	for name := range s.ConsumerNames(ctx).Name() {
		if cons, err := s.Consumer(ctx, name); err == nil {
			if info, err := cons.Info(ctx); err == nil {
				n += info.NumRedelivered
			}
		}
	}
	return n
}
