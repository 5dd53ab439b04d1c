package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/duroxide-go/duroxide"
	djs "github.com/duroxide-go/duroxide/jetstream"
)

// gathered is one gather of a registry, read by metric name and label values.
type gathered map[string]*dto.MetricFamily

func gatherAll(t *testing.T, g prometheus.Gatherer) gathered {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := gathered{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value adds the values of name's counters or gauges, or the sample counts of its
// histograms, over every sample whose labels include labels; -1 when none does.
func (g gathered) value(name string, labels ...string) float64 {
	total, found := 0.0, false
	for _, m := range g[name].GetMetric() {
		have := map[string]bool{}
		for _, l := range m.GetLabel() {
			have[l.GetName()+"="+l.GetValue()] = true
		}
		ok := true
		for _, l := range labels {
			ok = ok && have[l]
		}
		if !ok {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return total
}

// labelValues lists the values label takes in name's samples.
func (g gathered) labelValues(name, label string) []string {
	seen := map[string]bool{}
	for _, m := range g[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				seen[l.GetValue()] = true
			}
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// eventuallyMetric gathers until cond holds (the gauges and the asynchronous
// dead-lettering move after the calls that cause them return), or fails with the
// last gather's description.
func eventuallyMetric(t *testing.T, g prometheus.Gatherer, timeout time.Duration, what string, cond func(gathered) bool) gathered {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := gatherAll(t, g)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		<-tick.C
	}
}

// TestMetricsMoveWithWorkload runs a workload touching every recorded path on a
// runtime with a fresh registry, and checks each metric moved by what the workload
// did: exact counts for counters whose amounts the workload fixes, sample counts for
// histograms, values for gauges.
func TestMetricsMoveWithWorkload(t *testing.T) {
	reg := duroxide.NewRegistry()
	var flakyCalls atomic.Int32
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, in string) (string, error) { return in, nil }))
	must(t, duroxide.RegisterActivity(reg, "Boom", func(*duroxide.ActivityContext, string) (string, error) {
		return "", errors.New("boom")
	}))
	must(t, duroxide.RegisterActivity(reg, "Flaky", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if flakyCalls.Add(1) == 1 {
			return "", errors.New("first attempt fails")
		}
		return in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "MxChild", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return "child:" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "MxParent", func(ctx *duroxide.OrchestrationContext, round int) (string, error) {
		if round > 0 {
			return "done", nil // the second execution, after continue-as-new
		}
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("Echo", "a", duroxide.OnSession("s1"))); err != nil {
			return "", err
		}
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("Boom", "b")); err == nil {
			return "", errors.New("Boom succeeded")
		}
		if _, err := duroxide.Await[string](ctx.ScheduleActivityWithRetry("Flaky", "c",
			duroxide.RetryPolicy{MaxAttempts: 3, Backoff: duroxide.FixedBackoff(10 * time.Millisecond)})); err != nil {
			return "", err
		}
		if _, err := duroxide.Await[struct{}](ctx.ScheduleTimer(20 * time.Millisecond)); err != nil {
			return "", err
		}
		if _, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("MxChild", "x")); err != nil {
			return "", err
		}
		if _, err := duroxide.Await[string](ctx.WaitForEvent("go")); err != nil {
			return "", err
		}
		return "", ctx.ContinueAsNew(1)
	}))
	must(t, duroxide.RegisterOrchestration(reg, "MxWaiter", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("never"))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "MxMissing", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("NotRegistered", "y"))
	}))

	promReg := prometheus.NewRegistry()
	rt := startRuntime(t, reg, duroxide.Options{MetricsRegisterer: promReg, Partitions: 4, MaxAttempts: 3,
		MaxCachedInstances: 1, UnregisteredBaseDelay: 10 * time.Millisecond, UnregisteredMaxDelay: 20 * time.Millisecond})
	if rt.MetricsGatherer() != prometheus.Gatherer(promReg) {
		t.Fatalf("MetricsGatherer is not the given registry")
	}
	c := rt.Client()
	ctx := context.Background()

	// The waiter runs (and stays cached) first; the parent's turns then evict it.
	must(t, c.StartOrchestration(ctx, "mx-waiter", "MxWaiter", ""))
	eventuallyMetric(t, promReg, sampleWait, "the waiter runs", func(g gathered) bool {
		return g.value("duroxide_active_orchestrations", "state=running") == 1
	})
	must(t, c.StartOrchestration(ctx, "mx-parent", "MxParent", 0))
	sampleWaitSubscribed(t, c, "mx-parent", "go", sampleWait)
	must(t, c.RaiseEvent(ctx, "mx-parent", "go", "now"))
	if st := waitDone(t, c, "mx-parent", sampleWait); st.State != duroxide.StateCompleted || st.ExecutionID != 2 {
		t.Fatalf("parent: %s in execution %d, want Completed in execution 2 (%v)", st.State, st.ExecutionID, st.Failure)
	}
	must(t, c.CancelInstance(ctx, "mx-waiter", "test"))
	if st := waitDone(t, c, "mx-waiter", sampleWait); st.State != duroxide.StateFailed {
		t.Fatalf("waiter: %s, want Failed", st.State)
	}
	// An orchestration this node never registered, and an activity it never did.
	must(t, c.StartOrchestration(ctx, "mx-nope", "MadeUpName", ""))
	if st := waitDone(t, c, "mx-nope", sampleWait); st.State != duroxide.StateFailed {
		t.Fatalf("unregistered orchestration: %s, want Failed", st.State)
	}
	must(t, c.StartOrchestration(ctx, "mx-missing", "MxMissing", ""))
	if st := waitDone(t, c, "mx-missing", sampleWait); st.State != duroxide.StateFailed {
		t.Fatalf("unregistered activity: %s, want Failed", st.State)
	}
	// Two messages the inbox refuses: a body that is not JSON, and a runtime-only
	// message on the client subject.
	subj := "duroxide.inbox." + djs.EncodeToken("mx-bad")
	must(t, rt.Conn().Publish(subj, []byte("{")))
	must(t, rt.Conn().Publish(subj, []byte(`{"type":"ActivityCompleted","id":1,"result":"1"}`)))

	g := eventuallyMetric(t, promReg, sampleWait, "dead letters, drained queues and caught-up views", func(g gathered) bool {
		return g.value("duroxide_dead_letters_total", "reason=bad_json") == 1 &&
			g.value("duroxide_dead_letters_total", "reason=forbidden") == 1 &&
			g.value("duroxide_orchestrator_queue_depth") == 0 && g.value("duroxide_worker_queue_depth") == 0 &&
			g.value("duroxide_projector_lag_records") == 0 && g.value("duroxide_active_orchestrations", "state=running") == 0
	})

	type want struct {
		name   string
		labels []string
		value  float64
	}
	for _, w := range []want{
		// Client calls.
		{"duroxide_client_orchestration_starts_total", []string{"orchestration_name=MxParent"}, 1},
		{"duroxide_client_orchestration_starts_total", []string{"orchestration_name=MxWaiter"}, 1},
		{"duroxide_client_orchestration_starts_total", []string{"orchestration_name=unknown"}, 1},
		{"duroxide_client_external_events_raised_total", []string{"event_name=go"}, 1},
		{"duroxide_client_cancellations_total", nil, 1},
		{"duroxide_client_wait_duration_seconds", nil, 4},
		// Executions.
		{"duroxide_orchestration_starts_total", []string{"orchestration_name=MxParent", "version=1.0.0", "initiated_by=client"}, 1},
		{"duroxide_orchestration_starts_total", []string{"orchestration_name=MxParent", "initiated_by=continue_as_new"}, 1},
		{"duroxide_orchestration_starts_total", []string{"orchestration_name=MxChild", "initiated_by=suborchestration"}, 1},
		{"duroxide_orchestration_starts_total", []string{"orchestration_name=unknown", "version=unknown", "initiated_by=client"}, 1},
		{"duroxide_orchestration_completions_total", []string{"orchestration_name=MxParent", "status=continued_as_new"}, 1},
		{"duroxide_orchestration_completions_total", []string{"orchestration_name=MxParent", "status=completed", "final_turn_count=1-5"}, 1},
		{"duroxide_orchestration_completions_total", []string{"orchestration_name=MxChild", "status=completed"}, 1},
		{"duroxide_orchestration_completions_total", []string{"orchestration_name=MxWaiter", "status=failed"}, 1},
		{"duroxide_orchestration_failures_total", []string{"orchestration_name=MxWaiter", "error_type=Cancelled", "error_category=application"}, 1},
		{"duroxide_orchestration_failures_total", []string{"orchestration_name=unknown", "error_type=Unregistered", "error_category=configuration"}, 1},
		{"duroxide_orchestration_failures_total", []string{"orchestration_name=MxMissing", "error_type=Unregistered", "error_category=configuration"}, 1},
		{"duroxide_orchestration_configuration_errors_total", []string{"orchestration_name=unknown", "error_category=configuration"}, 1},
		{"duroxide_orchestration_configuration_errors_total", []string{"orchestration_name=MxMissing"}, 1},
		{"duroxide_orchestration_continue_as_new_total", []string{"orchestration_name=MxParent"}, 1},
		{"duroxide_orchestration_duration_seconds", []string{"orchestration_name=MxParent", "status=continued_as_new"}, 1},
		{"duroxide_orchestration_duration_seconds", []string{"orchestration_name=MxParent", "status=completed"}, 1},
		{"duroxide_orchestration_history_size", []string{"orchestration_name=MxParent"}, 2},
		{"duroxide_orchestration_turns", []string{"orchestration_name=MxParent"}, 2},
		{"duroxide_orchestration_poison_total", nil, 0},
		{"duroxide_orchestration_infrastructure_errors_total", nil, -1},
		// Sub-orchestrations.
		{"duroxide_suborchestration_calls_total", []string{"parent_orchestration=MxParent", "child_orchestration=MxChild", "outcome=success"}, 1},
		{"duroxide_suborchestration_duration_seconds", []string{"parent_orchestration=MxParent", "child_orchestration=MxChild", "outcome=success"}, 1},
		// Activities: the retried one's attempts carry their retry number.
		{"duroxide_activity_executions_total", []string{"activity_name=Echo", "outcome=success", "retry_attempt=0", "tag=default"}, 1},
		{"duroxide_activity_executions_total", []string{"activity_name=Boom", "outcome=app_error", "retry_attempt=0"}, 1},
		{"duroxide_activity_executions_total", []string{"activity_name=Flaky", "outcome=app_error", "retry_attempt=0"}, 1},
		{"duroxide_activity_executions_total", []string{"activity_name=Flaky", "outcome=success", "retry_attempt=1"}, 1},
		{"duroxide_activity_executions_total", []string{"activity_name=unknown", "outcome=config_error"}, 1},
		{"duroxide_activity_configuration_errors_total", []string{"activity_name=unknown"}, 1},
		{"duroxide_activity_duration_seconds", []string{"activity_name=Flaky"}, 2},
		{"duroxide_activity_poison_total", nil, 0},
		{"duroxide_activity_infrastructure_errors_total", nil, -1},
		// Design additions.
		{"duroxide_history_fence_conflicts_total", nil, 0},
		{"duroxide_turns_total", []string{"outcome=fenced"}, -1},
		{"duroxide_dead_letters_total", []string{"reason=bad_json"}, 1},
		{"duroxide_dead_letters_total", []string{"reason=forbidden"}, 1},
		{"duroxide_inbox_partitions_owned", nil, 4},
		{"duroxide_sessions_owned", nil, 1},
		{"duroxide_timer_queue_depth", nil, 0},
		{"duroxide_projector_lag_seconds", nil, 0},
		{"duroxide_active_orchestrations", []string{"state=continued_as_new"}, 0},
	} {
		if got := g.value(w.name, w.labels...); got != w.value {
			t.Errorf("%s{%s} = %v, want %v (-1: no such sample)", w.name, strings.Join(w.labels, ","), got, w.value)
		}
	}

	// At least: the amounts depend on how messages were batched into turns.
	committed := g.value("duroxide_turns_total", "outcome=committed")
	atLeast := []struct {
		what string
		got  float64
		min  float64
	}{
		{"committed turns", committed, 12},
		{"turn durations", g.value("duroxide_turn_duration_seconds"), committed},
		{"engine cache hits", g.value("duroxide_engine_cache_hits_total"), 1},
		{"engine cache misses (the evicted waiter's cancel replays it)", g.value("duroxide_engine_cache_misses_total"), 1},
		{"engine cache evictions (MaxCachedInstances 1)", g.value("duroxide_engine_cache_evictions_total"), 1},
		{"history publishes", g.value("duroxide_nats_publish_duration_seconds", "stream=history"), committed},
		{"inbox publishes (5 client messages)", g.value("duroxide_nats_publish_duration_seconds", "stream=inbox"), 5},
		{"outbox publishes", g.value("duroxide_nats_publish_duration_seconds", "stream=outbox"), 1},
		{"dead-letter publishes", g.value("duroxide_nats_publish_duration_seconds", "stream=dead_letter"), 2},
		{"turn commits timed", g.value("duroxide_provider_operation_duration_seconds", "operation=ack_orchestration_item", "status=success"), committed},
		{"fetches timed", g.value("duroxide_provider_operation_duration_seconds", "operation=fetch_orchestration_item", "status=success"), committed},
		{"work acks timed (5 activities)", g.value("duroxide_provider_operation_duration_seconds", "operation=ack_work_item", "status=success"), 5},
		{"unregistered abandons timed", g.value("duroxide_provider_operation_duration_seconds", "operation=abandon_orchestration_item"), 1},
	}
	for _, a := range atLeast {
		if a.got < a.min {
			t.Errorf("%s: %v, want at least %v", a.what, a.got, a.min)
		}
	}
	// The orchestration name label holds registered names only.
	for _, name := range []string{"duroxide_orchestration_starts_total", "duroxide_orchestration_completions_total"} {
		for _, v := range g.labelValues(name, "orchestration_name") {
			switch v {
			case "MxParent", "MxChild", "MxWaiter", "MxMissing", "unknown":
			default:
				t.Errorf("%s has orchestration_name %q", name, v)
			}
		}
	}
	if t.Failed() {
		for _, n := range []string{"duroxide_orchestration_completions_total", "duroxide_activity_executions_total", "duroxide_turns_total"} {
			for _, m := range g[n].GetMetric() {
				t.Logf("%s %v", n, fmt.Sprint(m.GetLabel(), " ", m.GetCounter().GetValue()))
			}
		}
	}
}

// TestMetricsTwoRuntimesOneRegisterer: a second runtime on a registerer that holds
// the first one's metrics does not start (ErrMetricsAlreadyRegistered, no panic);
// after the first shuts down, one can.
func TestMetricsTwoRuntimesOneRegisterer(t *testing.T) {
	promReg := prometheus.NewRegistry()
	first, err := duroxide.Start(context.Background(), duroxide.NewRegistry(), duroxide.Options{DataDir: t.TempDir(), MetricsRegisterer: promReg})
	if err != nil {
		t.Fatal(err)
	}
	second, err := duroxide.Start(context.Background(), duroxide.NewRegistry(), duroxide.Options{DataDir: t.TempDir(), MetricsRegisterer: promReg})
	if !errors.Is(err, duroxide.ErrMetricsAlreadyRegistered) {
		if second != nil {
			_ = second.Shutdown(context.Background())
		}
		t.Fatalf("second Start on the same registerer: %v, want ErrMetricsAlreadyRegistered", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, first.Shutdown(ctx))
	startRuntime(t, duroxide.NewRegistry(), duroxide.Options{MetricsRegisterer: promReg})
	if fams := gatherAll(t, promReg); fams["duroxide_inbox_partitions_owned"] == nil {
		t.Fatalf("the third runtime's gauges are not registered")
	}
}

// TestMetricsPartitionsOwnedPerNode: two nodes, each with its own registry, report
// the inbox partitions each owns; together they own every partition once.
func TestMetricsPartitionsOwnedPerNode(t *testing.T) {
	opts := clusterOpts
	opts.Listen = "127.0.0.1:0"
	reg1, reg2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	opts.MetricsRegisterer = reg1
	first := startRuntime(t, duroxide.NewRegistry(), opts)
	opts.Listen, opts.NATSURL, opts.MetricsRegisterer = "", first.ClientURL(), reg2
	second := startRuntime(t, duroxide.NewRegistry(), opts)
	var owned1, owned2 float64
	waitFor(t, "both nodes to own partitions, as their gauges say", func() bool {
		owned1 = gatherAll(t, reg1).value("duroxide_inbox_partitions_owned")
		owned2 = gatherAll(t, reg2).value("duroxide_inbox_partitions_owned")
		return owned1 > 0 && owned2 > 0 && owned1+owned2 == float64(opts.Partitions) &&
			int(owned1) == len(first.Partitions()) && int(owned2) == len(second.Partitions())
	})
}
