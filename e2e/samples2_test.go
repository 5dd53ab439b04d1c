package e2e

// Ports of duroxide's tests/e2e_samples.rs, samples 20–31 (27 needs management and
// 32–34 need KV: they are not here). Same assertions as the originals; delays are
// shorter.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// waitHistory polls the instance's latest-execution history until cond holds.
func waitHistory(t *testing.T, c *duroxide.Client, id, what string, cond func([]history.Event) bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		evs, err := c.ReadHistory(context.Background(), id, 0)
		return err == nil && cond(evs)
	})
}

func hasEvent(evs []history.Event, typ history.EventType, name string) bool {
	for _, ev := range evs {
		if ev.Type == typ && (name == "" || ev.Name == name) {
			return true
		}
	}
	return false
}

func registerVersionedString(t *testing.T, reg *duroxide.Registry, name, version, out string) {
	t.Helper()
	must(t, duroxide.RegisterOrchestrationVersion(reg, name, version, func(*duroxide.OrchestrationContext, string) (string, error) {
		return out, nil
	}))
}

// 20. sample_versioning_start_latest_vs_exact_fs
func TestSampleVersioningStartLatestVsExact(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerVersionedString(t, reg, "Versioned", "1.0.0", "v1")
	registerVersionedString(t, reg, "Versioned", "2.0.0", "v2")
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "inst-vers-latest", "Versioned", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "inst-vers-latest", sampleWait)); out != "v2" {
		t.Fatalf("latest policy: output %q, want v2", out)
	}
	must(t, reg.SetVersionPolicy("Versioned", "1.0.0"))
	must(t, c.StartOrchestration(ctx, "inst-vers-exact", "Versioned", ""))
	st := waitDone(t, c, "inst-vers-exact", sampleWait)
	if out := sampleOutput[string](t, st); out != "v1" || st.Version != "1.0.0" {
		t.Fatalf("exact policy: output %q version %s, want v1 at 1.0.0", out, st.Version)
	}
}

// 21. sample_versioning_sub_orchestration_explicit_vs_policy_fs
func TestSampleVersioningSubOrchestrationExplicitVsPolicy(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerVersionedString(t, reg, "Child", "1.0.0", "c1")
	registerVersionedString(t, reg, "Child", "2.0.0", "c2")
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		a, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("Child", "", duroxide.WithVersion("1.0.0")))
		if err != nil {
			return "", err
		}
		b, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("Child", ""))
		return a + "-" + b, err
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sub-vers", "Parent", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "inst-sub-vers", sampleWait)); out != "c1-c2" {
		t.Fatalf("output %q, want c1-c2", out)
	}
}

// 22. sample_versioning_continue_as_new_upgrade_fs
func TestSampleVersioningContinueAsNewUpgrade(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestrationVersion(reg, "LongRunner", "1.0.0", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		// No explicit version: the default policy (latest registered) picks 2.0.0.
		return "", ctx.ContinueAsNew("v1:state")
	}))
	must(t, duroxide.RegisterOrchestrationVersion(reg, "LongRunner", "2.0.0", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return "upgraded:" + in, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "inst-can-upgrade"
	must(t, c.StartOrchestration(ctx, id, "LongRunner", "", duroxide.StartVersion("1.0.0")))
	st := waitDone(t, c, id, sampleWait)
	if out := sampleOutput[string](t, st); out != "upgraded:v1:state" || st.Version != "2.0.0" {
		t.Fatalf("output %q version %s, want upgraded:v1:state at 2.0.0", out, st.Version)
	}
	execs, err := c.ListExecutions(ctx, id)
	must(t, err)
	if !slices.Equal(execs, []uint64{1, 2}) {
		t.Fatalf("executions %v, want [1 2]", execs)
	}
	e1, err := c.ReadHistory(ctx, id, 1)
	must(t, err)
	if !hasEvent(e1, history.OrchestrationContinuedAsNew, "") || e1[0].Version != "1.0.0" {
		t.Fatalf("execution 1 %+v: want version 1.0.0 and ContinuedAsNew", e1)
	}
	e2, err := c.ReadHistory(ctx, id, 2)
	must(t, err)
	if e2[0].Type != history.OrchestrationStarted || e2[0].Input != `"v1:state"` || e2[0].Version != "2.0.0" {
		t.Fatalf("execution 2 starts with %+v, want OrchestrationStarted v2.0.0 input \"v1:state\"", e2[0])
	}
}

// 23. sample_cancellation_parent_cascades_to_children_fs
func TestSampleCancellationParentCascadesToChildren(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "ChildWaiter", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("Go"))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ParentWaiter", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleSubOrchestration("ChildWaiter", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const parent = "inst-sample-cancel"
	must(t, c.StartOrchestration(ctx, parent, "ParentWaiter", ""))
	var child string
	waitHistory(t, c, parent, "the child to be scheduled", func(evs []history.Event) bool {
		for _, ev := range evs {
			if ev.Type == history.SubOrchestrationScheduled {
				child = ev.Instance
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(child, parent+"::") {
		t.Fatalf("child id %q, want prefix %q", child, parent+"::")
	}
	sampleWaitSubscribed(t, c, child, "Go", 10*time.Second)
	must(t, c.CancelInstance(ctx, parent, "user_request"))

	st := waitDone(t, c, parent, sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Kind != history.KindCancelled || st.Failure.Message != "user_request" {
		t.Fatalf("parent %s %+v, want Failed Cancelled{user_request}", st.State, st.Failure)
	}
	cst := waitDone(t, c, child, sampleWait)
	if cst.State != duroxide.StateFailed || cst.Failure.Kind != history.KindCancelled || cst.Failure.Message != "parent canceled" {
		t.Fatalf("child %s %+v, want Failed Cancelled{parent canceled}", cst.State, cst.Failure)
	}
	evs := mustHistory(t, c, child)
	if !hasEvent(evs, history.OrchestrationCancelRequested, "") {
		t.Fatalf("child history lacks OrchestrationCancelRequested: %+v", evs)
	}
	if got := cst.Failure.DisplayMessage(); got != "canceled: parent canceled" {
		t.Fatalf("child display message %q", got)
	}
}

// 24. sample_basic_error_handling_fs
func TestSampleBasicErrorHandling(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "ValidateInput", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if in == "" {
			return "", errors.New("Input cannot be empty")
		}
		return "Valid: " + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "BasicErrorHandling", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("ValidateInput", in))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "inst-basic-err-ok", "BasicErrorHandling", "test"))
	must(t, c.StartOrchestration(ctx, "inst-basic-err-bad", "BasicErrorHandling", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "inst-basic-err-ok", sampleWait)); out != "Valid: test" {
		t.Fatalf("output %q, want Valid: test", out)
	}
	st := waitDone(t, c, "inst-basic-err-bad", sampleWait)
	if st.State != duroxide.StateFailed || !strings.Contains(st.Failure.DisplayMessage(), "Input cannot be empty") {
		t.Fatalf("%s %+v, want Failed containing \"Input cannot be empty\"", st.State, st.Failure)
	}
}

// 25. sample_nested_function_error_handling_fs
func TestSampleNestedFunctionErrorHandling(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "ProcessData", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if in == "error" {
			return "", errors.New("Processing failed")
		}
		return "Processed: " + in, nil
	}))
	process := func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		out, err := duroxide.Await[string](ctx.ScheduleActivity("ProcessData", in))
		if err != nil {
			return "", err
		}
		return "Final: " + out, nil
	}
	must(t, duroxide.RegisterOrchestration(reg, "NestedErrorHandling", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return process(ctx, in)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "inst-nested-ok", "NestedErrorHandling", "test"))
	must(t, c.StartOrchestration(ctx, "inst-nested-bad", "NestedErrorHandling", "error"))
	if out := sampleOutput[string](t, waitDone(t, c, "inst-nested-ok", sampleWait)); out != "Final: Processed: test" {
		t.Fatalf("output %q", out)
	}
	st := waitDone(t, c, "inst-nested-bad", sampleWait)
	if st.State != duroxide.StateFailed || !strings.Contains(st.Failure.DisplayMessage(), "Processing failed") {
		t.Fatalf("%s %+v, want Failed containing \"Processing failed\"", st.State, st.Failure)
	}
}

// 26. sample_error_recovery_fs
func TestSampleErrorRecovery(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "ProcessData", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if in == "error" {
			return "", errors.New("Processing failed")
		}
		return "Processed: " + in, nil
	}))
	must(t, duroxide.RegisterActivity(reg, "LogError", func(_ *duroxide.ActivityContext, msg string) (string, error) {
		return "Logged: " + msg, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ErrorRecovery", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		out, err := duroxide.Await[string](ctx.ScheduleActivity("ProcessData", in))
		if err == nil {
			return out, nil
		}
		if _, lerr := duroxide.Await[string](ctx.ScheduleActivity("LogError", err.Error())); lerr != nil {
			return "", lerr
		}
		return "", fmt.Errorf("Failed to process '%s': %w", in, err)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "inst-recovery-ok", "ErrorRecovery", "test"))
	must(t, c.StartOrchestration(ctx, "inst-recovery-bad", "ErrorRecovery", "error"))
	if out := sampleOutput[string](t, waitDone(t, c, "inst-recovery-ok", sampleWait)); out != "Processed: test" {
		t.Fatalf("output %q", out)
	}
	st := waitDone(t, c, "inst-recovery-bad", sampleWait)
	msg := st.Failure.DisplayMessage()
	if st.State != duroxide.StateFailed || !strings.Contains(msg, "Failed to process 'error'") || !strings.Contains(msg, "Processing failed") {
		t.Fatalf("%s %q, want Failed with both messages", st.State, msg)
	}
}

// 28. sample_config_hot_reload_persistent_events_fs: every cycle drains the
// "ConfigUpdate" queue (each dequeue races a short timer; a lost race consumes
// nothing), applies what it got, then works and sleeps. The orchestration runs at
// least 3 cycles and until it has applied 3 configs.
func TestSampleConfigHotReloadPersistentEvents(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "DoWork", func(_ *duroxide.ActivityContext, cycle int) (string, error) {
		return fmt.Sprintf("cycle:%d", cycle), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ConfigHotReload", func(ctx *duroxide.OrchestrationContext, _ string) ([]string, error) {
		var log []string
		applied := 0
		for cycle := 0; cycle < 3 || applied < 3; cycle++ {
			if cycle > 200 {
				return log, errors.New("configs never arrived")
			}
			for {
				upd := ctx.DequeueEvent("ConfigUpdate")
				if ctx.Select(upd, ctx.ScheduleTimer(100*time.Millisecond)) == 1 {
					break
				}
				v, err := duroxide.Await[string](upd)
				if err != nil {
					return nil, err
				}
				log = append(log, "apply:"+v)
				applied++
			}
			done, err := duroxide.Await[string](ctx.ScheduleActivity("DoWork", cycle))
			if err != nil {
				return nil, err
			}
			log = append(log, done)
			ctx.SetCustomStatus(done)
			if err := ctx.ScheduleTimer(50 * time.Millisecond).Get(nil); err != nil {
				return nil, err
			}
		}
		return log, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "inst-config-reload"
	must(t, c.StartOrchestration(ctx, id, "ConfigHotReload", ""))
	// v1 and v2 may arrive before the instance has started: the queue messages of a
	// brand-new instance wait in its inbox with the start (they are dropped only when
	// no start comes), so make sure it exists first.
	waitFor(t, "the instance to start", func() bool {
		st, err := c.GetStatus(ctx, id)
		return err == nil && st.State != duroxide.StateNotFound
	})
	must(t, c.EnqueueEvent(ctx, id, "ConfigUpdate", "v1"))
	must(t, c.EnqueueEvent(ctx, id, "ConfigUpdate", "v2"))
	wctx, cancel := context.WithTimeout(ctx, sampleWait)
	defer cancel()
	// The first status change is "cycle:0" (each cycle sets its own).
	st, err := c.WaitForStatusChange(wctx, id, 0)
	must(t, err)
	if st.CustomStatus == nil || !strings.HasPrefix(*st.CustomStatus, "cycle:") {
		t.Fatalf("status %s %v, want a cycle custom status", st.State, st.CustomStatus)
	}
	must(t, c.EnqueueEvent(ctx, id, "ConfigUpdate", "v3"))

	log := sampleOutput[[]string](t, waitDone(t, c, id, sampleWait))
	idx := func(s string) int { return slices.Index(log, s) }
	i1, i2, i3, c0 := idx("apply:v1"), idx("apply:v2"), idx("apply:v3"), idx("cycle:0")
	if i1 < 0 || i2 < 0 || i3 < 0 || c0 < 0 || !(i1 < i2 && i2 < i3) || i3 < c0 {
		t.Fatalf("log %v: want v1 < v2 < v3 all applied and v3 after cycle:0", log)
	}
}

// 29. sample_heterogeneous_workers_with_tags
func TestSampleHeterogeneousWorkersWithTags(t *testing.T) {
	reg := duroxide.NewRegistry()
	for _, name := range []string{"Render", "Encode", "Upload"} {
		prefix := map[string]string{"Render": "rendered:", "Encode": "encoded:", "Upload": "uploaded:"}[name]
		must(t, duroxide.RegisterActivity(reg, name, func(_ *duroxide.ActivityContext, in string) (string, error) {
			return prefix + in, nil
		}))
	}
	must(t, duroxide.RegisterOrchestration(reg, "MediaPipeline", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		r, err := duroxide.Await[string](ctx.ScheduleActivity("Render", in, duroxide.WithTag("gpu")))
		if err != nil {
			return "", err
		}
		e, err := duroxide.Await[string](ctx.ScheduleActivity("Encode", r, duroxide.WithTag("cpu")))
		if err != nil {
			return "", err
		}
		return duroxide.Await[string](ctx.ScheduleActivity("Upload", e))
	}))
	c := startRuntime(t, reg, duroxide.Options{WorkerTags: duroxide.DefaultAndTags("gpu", "cpu")}).Client()
	const id = "inst-media"
	must(t, c.StartOrchestration(context.Background(), id, "MediaPipeline", "frame42"))
	if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "uploaded:encoded:rendered:frame42" {
		t.Fatalf("output %q", out)
	}
	if tags := scheduledTags(t, c, id); !slices.Equal(tags, []string{"gpu", "cpu", ""}) {
		t.Fatalf("scheduled tags %q, want [gpu cpu \"\"]", tags)
	}
}

func scheduledTags(t *testing.T, c *duroxide.Client, id string) []string {
	t.Helper()
	var tags []string
	for _, ev := range mustHistory(t, c, id) {
		if ev.Type == history.ActivityScheduled {
			tags = append(tags, ev.Tag)
		}
	}
	return tags
}

// 30. sample_starvation_safe_tagged_activity
func TestSampleStarvationSafeTaggedActivity(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "GpuInference", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "gpu:" + in, nil
	}))
	must(t, duroxide.RegisterActivity(reg, "CpuInference", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "cpu_fallback:" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "StarvationSafe", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		gpu := ctx.ScheduleActivity("GpuInference", in, duroxide.WithTag("gpu"))
		if ctx.Select(gpu, ctx.ScheduleTimer(500*time.Millisecond)) == 1 {
			return duroxide.Await[string](ctx.ScheduleActivity("CpuInference", in))
		}
		return duroxide.Await[string](gpu)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client() // DefaultOnly: nobody serves gpu
	const id = "inst-starvation"
	must(t, c.StartOrchestration(context.Background(), id, "StarvationSafe", "model-v3"))
	if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "cpu_fallback:model-v3" {
		t.Fatalf("output %q", out)
	}
	evs := mustHistory(t, c, id)
	if !hasEvent(evs, history.ActivityCancelRequested, "") {
		t.Fatalf("the starved gpu activity was not cancelled: %+v", evs)
	}
}

// 31. sample_dual_runtime_tag_cooperation
func TestSampleDualRuntimeTagCooperation(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Preprocess", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "preprocessed:" + in, nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Train", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "trained:" + in, nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Save", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return "saved:" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "MLPipeline", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		p, err := duroxide.Await[string](ctx.ScheduleActivity("Preprocess", in))
		if err != nil {
			return "", err
		}
		tr, err := duroxide.Await[string](ctx.ScheduleActivity("Train", p, duroxide.WithTag("gpu")))
		if err != nil {
			return "", err
		}
		return duroxide.Await[string](ctx.ScheduleActivity("Save", tr))
	}))
	a := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0"})
	startRuntime(t, reg, duroxide.Options{NATSURL: a.ClientURL(), OrchestrationConcurrency: -1,
		WorkerTags: duroxide.OnlyTags("gpu")})
	c := a.Client()
	const id = "inst-dual-runtime"
	must(t, c.StartOrchestration(context.Background(), id, "MLPipeline", "dataset-v5"))
	if out := sampleOutput[string](t, waitDone(t, c, id, sampleWait)); out != "saved:trained:preprocessed:dataset-v5" {
		t.Fatalf("output %q", out)
	}
	if tags := scheduledTags(t, c, id); !slices.Equal(tags, []string{"", "gpu", ""}) {
		t.Fatalf("scheduled tags %q, want [\"\" gpu \"\"]", tags)
	}
}
