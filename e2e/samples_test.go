package e2e

// Ports of duroxide's tests/e2e_samples.rs, samples 1–19: one test per sample, each
// with its own registry and runtime on an embedded nats-server with file storage.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

const sampleWait = 20 * time.Second

// sampleOutput fails the test unless st is Completed, and returns its output
// decoded as T.
func sampleOutput[T any](t *testing.T, st *duroxide.Status) T {
	t.Helper()
	var out T
	switch st.State {
	case duroxide.StateCompleted:
		if err := st.Decode(&out); err != nil {
			t.Fatalf("%s: decode output %s: %v", st.InstanceID, st.Output, err)
		}
	case duroxide.StateFailed:
		t.Fatalf("%s: orchestration failed: %s", st.InstanceID, st.Failure.DisplayMessage())
	default:
		t.Fatalf("%s: unexpected orchestration state %s", st.InstanceID, st.State)
	}
	return out
}

// sampleWaitSubscribed polls the instance's history until it holds an
// ExternalSubscribed event for name, so an event raised afterwards reaches the wait.
func sampleWaitSubscribed(t *testing.T, c *duroxide.Client, id, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs, err := c.ReadHistory(context.Background(), id, 0)
		if err == nil {
			for _, ev := range evs {
				if ev.Type == history.ExternalSubscribed && ev.Name == name {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no subscription to %q after %v (last read error: %v)", id, name, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// 1. sample_hello_world_fs
func TestSampleHelloWorld(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Hello", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return fmt.Sprintf("Hello, %s!", in), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "HelloWorld", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("Hello", "Rust")); err != nil {
			return "", err
		}
		return duroxide.Await[string](ctx.ScheduleActivity("Hello", in))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sample-hello-1", "HelloWorld", "World"))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sample-hello-1", sampleWait))
	if out != "Hello, World!" {
		t.Fatalf("output %q, want %q", out, "Hello, World!")
	}
}

// 2. sample_basic_control_flow_fs
func TestSampleBasicControlFlow(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "GetFlag", func(_ *duroxide.ActivityContext, _ string) (string, error) {
		return "yes", nil
	}))
	must(t, duroxide.RegisterActivity(reg, "SayYes", func(_ *duroxide.ActivityContext, _ string) (string, error) {
		return "picked_yes", nil
	}))
	must(t, duroxide.RegisterActivity(reg, "SayNo", func(_ *duroxide.ActivityContext, _ string) (string, error) {
		return "picked_no", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ControlFlow", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		flag, err := duroxide.Await[string](ctx.ScheduleActivity("GetFlag", ""))
		if err != nil {
			return "", err
		}
		if flag == "yes" {
			return duroxide.Await[string](ctx.ScheduleActivity("SayYes", ""))
		}
		return duroxide.Await[string](ctx.ScheduleActivity("SayNo", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sample-cflow-1", "ControlFlow", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sample-cflow-1", sampleWait))
	if out != "picked_yes" {
		t.Fatalf("output %q, want %q", out, "picked_yes")
	}
}

// 3. sample_loop_fs
func TestSampleLoop(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Append", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return in + "x", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "LoopOrchestration", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		acc := "start"
		for i := 0; i < 3; i++ {
			var err error
			if acc, err = duroxide.Await[string](ctx.ScheduleActivity("Append", acc)); err != nil {
				return "", err
			}
			ctx.Logger().Info("loop iteration completed", "i", i, "acc", acc)
		}
		return acc, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sample-loop-1", "LoopOrchestration", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sample-loop-1", sampleWait))
	if out != "startxxx" {
		t.Fatalf("output %q, want %q", out, "startxxx")
	}
}

// 4. sample_error_handling_fs
func TestSampleErrorHandling(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Fragile", func(_ *duroxide.ActivityContext, in string) (string, error) {
		if in == "bad" {
			return "", errors.New("boom")
		}
		return "ok", nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Recover", func(_ *duroxide.ActivityContext, _ string) (string, error) {
		return "recovered", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ErrorHandling", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		v, err := duroxide.Await[string](ctx.ScheduleActivity("Fragile", "bad"))
		if err == nil {
			return v, nil
		}
		var te *duroxide.TaskError
		if !errors.As(err, &te) || te.Details.Message != "boom" {
			return "", fmt.Errorf("Fragile: unexpected error %v (%T)", err, err)
		}
		ctx.Logger().Warn("fragile failed", "err", err)
		return duroxide.Await[string](ctx.ScheduleActivity("Recover", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sample-err-1", "ErrorHandling", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sample-err-1", sampleWait))
	if out != "recovered" {
		t.Fatalf("output %q, want %q", out, "recovered")
	}
}

// 5. sample_timeout_with_timer_race_fs
func TestSampleTimeoutWithTimerRace(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "LongOp", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "done", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TimeoutSample", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		act := ctx.ScheduleActivity("LongOp", "")
		timer := ctx.ScheduleTimer(100 * time.Millisecond)
		if ctx.Select(act, timer) == 1 {
			return "", errors.New("timeout")
		}
		return duroxide.Await[string](act)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-timeout-sample", "TimeoutSample", ""))

	st := waitDone(t, c, "inst-timeout-sample", sampleWait)
	if st.State != duroxide.StateFailed {
		t.Fatalf("state %s (output %s), want Failed with \"timeout\"", st.State, st.Output)
	}
	if msg := st.Failure.DisplayMessage(); msg != "timeout" {
		t.Fatalf("failure %q, want %q", msg, "timeout")
	}
}

// 6. sample_select2_activity_vs_external_fs
func TestSampleSelect2ActivityVsExternal(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Sleep", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "slept", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Select2ActVsEvt", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		act := ctx.ScheduleActivity("Sleep", "")
		evt := ctx.WaitForEvent("Go")
		switch ctx.Select(act, evt) {
		case 0:
			s, err := duroxide.Await[string](act)
			return "activity:" + s, err
		default:
			payload, err := duroxide.Await[string](evt)
			return "event:" + payload, err
		}
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	const id = "inst-s2-mixed"
	must(t, c.StartOrchestration(context.Background(), id, "Select2ActVsEvt", ""))
	// Raise the event once the subscription is recorded (the original waits up to 1 s
	// for it too; the activity sleeps 300 ms, so the event wins).
	sampleWaitSubscribed(t, c, id, "Go", 10*time.Second)
	must(t, c.RaiseEvent(context.Background(), id, "Go", "ok"))

	out := sampleOutput[string](t, waitDone(t, c, id, sampleWait))
	if out != "event:ok" {
		t.Fatalf("output %q, want %q", out, "event:ok")
	}
}

// 7. dtf_legacy_gabbar_greetings_fs
func TestSampleGabbarGreetings(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Greetings", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return fmt.Sprintf("Hello, %s!", in), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Greetings", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		a := ctx.ScheduleActivity("Greetings", "Gabbar")
		b := ctx.ScheduleActivity("Greetings", "Samba")
		ctx.Join(a, b)
		va, err := duroxide.Await[string](a)
		if err != nil {
			return "", err
		}
		vb, err := duroxide.Await[string](b)
		if err != nil {
			return "", err
		}
		vals := []string{va, vb}
		if vals[1] < vals[0] { // canonical order for a stable assertion, as the original sorts
			vals[0], vals[1] = vals[1], vals[0]
		}
		return vals[0] + ", " + vals[1], nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-dtf-greetings", "Greetings", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-dtf-greetings", sampleWait))
	if want := "Hello, Gabbar!, Hello, Samba!"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

// 8. sample_system_activities_fs
func TestSampleSystemActivities(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "SystemActivities", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		now := ctx.Now()
		guid := ctx.NewGUID()
		return fmt.Sprintf("n=%d,g=%s", now.UnixMilli(), guid), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-system-acts", "SystemActivities", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-system-acts", sampleWait))
	if !strings.Contains(out, "n=") || !strings.Contains(out, ",g=") {
		t.Fatalf("output %q lacks n= / ,g=", out)
	}
	parts := strings.FieldsFunc(out, func(r rune) bool { return r == ',' || r == '=' })
	if len(parts) < 4 {
		t.Fatalf("output %q: parts %q", out, parts)
	}
	nowMs, _ := strconv.ParseUint(parts[1], 10, 64)
	if nowMs == 0 {
		t.Fatalf("output %q: now %q is not a positive number", out, parts[1])
	}
	guid := parts[3]
	if len(guid) != 36 {
		t.Fatalf("guid %q has %d chars, want 36", guid, len(guid))
	}
	for _, r := range strings.ReplaceAll(guid, "-", "") {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			t.Fatalf("guid %q has non-hex character %q", guid, r)
		}
	}
}

// 9. sample_status_polling_fs
func TestSampleStatusPolling(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "StatusSample", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if err := ctx.ScheduleTimer(20 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		return "done", nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	const id = "inst-status-sample"
	must(t, c.StartOrchestration(context.Background(), id, "StatusSample", ""))

	// Poll until the start is visible: then the instance is Running or (already)
	// Completed, never Failed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.GetStatus(context.Background(), id)
		must(t, err)
		if st.State == duroxide.StateRunning || st.State == duroxide.StateCompleted {
			break
		}
		if st.State != duroxide.StateNotFound && st.State != duroxide.StatePending {
			t.Fatalf("status %s, want Running or Completed", st.State)
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance still %s after 10s", st.State)
		}
		time.Sleep(5 * time.Millisecond)
	}

	out := sampleOutput[string](t, waitDone(t, c, id, sampleWait))
	if out != "done" {
		t.Fatalf("output %q, want %q", out, "done")
	}
}

// 10. sample_sub_orchestration_basic_fs
func TestSampleSubOrchestrationBasic(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Upper", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return strings.ToUpper(in), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ChildUpper", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Upper", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		r, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("ChildUpper", in))
		if err != nil {
			return "", err
		}
		return "parent:" + r, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sub-basic", "Parent", "hi"))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sub-basic", sampleWait))
	if out != "parent:HI" {
		t.Fatalf("output %q, want %q", out, "parent:HI")
	}
}

// 11. sample_sub_orchestration_fanout_fs
func TestSampleSubOrchestrationFanout(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Add", func(_ *duroxide.ActivityContext, in string) (string, error) {
		a, b, _ := strings.Cut(in, ",")
		x, _ := strconv.ParseInt(a, 10, 64)
		y, _ := strconv.ParseInt(b, 10, 64)
		return strconv.FormatInt(x+y, 10), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ChildSum", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Add", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ParentFan", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		fs := []*duroxide.Future{
			ctx.ScheduleSubOrchestration("ChildSum", "1,2"),
			ctx.ScheduleSubOrchestration("ChildSum", "3,4"),
		}
		ctx.Join(fs...)
		var total int64
		for _, f := range fs {
			s, err := duroxide.Await[string](f)
			if err != nil {
				return "", fmt.Errorf("child failed: %w", err)
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return "", err
			}
			total += n
		}
		return fmt.Sprintf("total=%d", total), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sub-fan", "ParentFan", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sub-fan", sampleWait))
	if out != "total=10" {
		t.Fatalf("output %q, want %q", out, "total=10")
	}
}

// 12. sample_sub_orchestration_chained_fs
func TestSampleSubOrchestrationChained(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "AppendX", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return in + "x", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Leaf", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("AppendX", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Mid", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		r, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("Leaf", in))
		if err != nil {
			return "", err
		}
		return r + "-mid", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Root", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		r, err := duroxide.Await[string](ctx.ScheduleSubOrchestration("Mid", in))
		if err != nil {
			return "", err
		}
		return "root:" + r, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-sub-chain", "Root", "a"))

	out := sampleOutput[string](t, waitDone(t, c, "inst-sub-chain", sampleWait))
	if out != "root:ax-mid" {
		t.Fatalf("output %q, want %q", out, "root:ax-mid")
	}
}

// 13. sample_detached_orchestration_scheduling_fs
func TestSampleDetachedOrchestrationScheduling(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Chained", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if err := ctx.ScheduleTimer(5 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		return duroxide.Await[string](ctx.ScheduleActivity("Echo", in))
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Coordinator", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if err := ctx.StartOrchestration("W1", "Chained", "A"); err != nil {
			return "", err
		}
		if err := ctx.StartOrchestration("W2", "Chained", "B"); err != nil {
			return "", err
		}
		return "scheduled", nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "CoordinatorRoot", "Coordinator", ""))

	out := sampleOutput[string](t, waitDone(t, c, "CoordinatorRoot", sampleWait))
	if out != "scheduled" {
		t.Fatalf("output %q, want %q", out, "scheduled")
	}
	// The scheduled instances are plain W1/W2 (no prefixing) and independent roots.
	for id, want := range map[string]string{"W1": "A", "W2": "B"} {
		st := waitDone(t, c, id, sampleWait)
		if got := sampleOutput[string](t, st); got != want {
			t.Fatalf("%s: output %q, want %q", id, got, want)
		}
		if st.ParentInstanceID != "" {
			t.Fatalf("%s: detached instance has parent %q", id, st.ParentInstanceID)
		}
	}
}

// 14. sample_detached_then_activity_fs
func TestSampleDetachedThenActivity(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Child", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if err := ctx.ScheduleTimer(5 * time.Millisecond).Get(nil); err != nil {
			return "", err
		}
		return "child-" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		// Fire-and-forget, then an awaited activity: replay must match the recorded
		// detached start before the activity (no nondeterminism).
		if err := ctx.StartOrchestration("detached-child", "Child", "payload"); err != nil {
			return "", err
		}
		return duroxide.Await[string](ctx.ScheduleActivity("Echo", "hello"))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "ParentInstance", "Parent", ""))

	if out := sampleOutput[string](t, waitDone(t, c, "ParentInstance", sampleWait)); out != "hello" {
		t.Fatalf("parent output %q, want %q", out, "hello")
	}
	if out := sampleOutput[string](t, waitDone(t, c, "detached-child", sampleWait)); out != "child-payload" {
		t.Fatalf("child output %q, want %q", out, "child-payload")
	}
}

// 15. sample_continue_as_new_fs
func TestSampleContinueAsNew(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "CanSample", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		n, _ := strconv.Atoi(in)
		if n < 3 {
			ctx.Logger().Info("CAN sample: continue", "n", n)
			return "", ctx.ContinueAsNew(strconv.Itoa(n + 1))
		}
		return fmt.Sprintf("final:%d", n), nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	const id = "inst-sample-can"
	must(t, c.StartOrchestration(context.Background(), id, "CanSample", "0"))

	out := sampleOutput[string](t, waitDone(t, c, id, sampleWait))
	if out != "final:3" {
		t.Fatalf("output %q, want %q", out, "final:3")
	}
	execs, err := c.ListExecutions(context.Background(), id)
	must(t, err)
	if fmt.Sprint(execs) != fmt.Sprint([]uint64{1, 2, 3, 4}) {
		t.Fatalf("executions %v, want [1 2 3 4]", execs)
	}
}

// Typed samples.

type sampleAddReq struct {
	A int32 `json:"a"`
	B int32 `json:"b"`
}

type sampleAddRes struct {
	Sum int32 `json:"sum"`
}

type sampleAck struct {
	OK bool `json:"ok"`
}

func registerSampleAdd(t *testing.T, reg *duroxide.Registry) {
	t.Helper()
	must(t, duroxide.RegisterActivity(reg, "Add", func(_ *duroxide.ActivityContext, req sampleAddReq) (sampleAddRes, error) {
		return sampleAddRes{Sum: req.A + req.B}, nil
	}))
}

// 16. sample_typed_activity_and_orchestration_fs
func TestSampleTypedActivityAndOrchestration(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerSampleAdd(t, reg)
	must(t, duroxide.RegisterOrchestration(reg, "Adder", func(ctx *duroxide.OrchestrationContext, req sampleAddReq) (sampleAddRes, error) {
		return duroxide.Await[sampleAddRes](ctx.ScheduleActivity("Add", req))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-typed-add", "Adder", sampleAddReq{A: 2, B: 3}))

	out := sampleOutput[sampleAddRes](t, waitDone(t, c, "inst-typed-add", sampleWait))
	if out != (sampleAddRes{Sum: 5}) {
		t.Fatalf("output %+v, want {Sum:5}", out)
	}
}

// 17. sample_typed_event_fs
func TestSampleTypedEvent(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "WaitAck", func(ctx *duroxide.OrchestrationContext, _ struct{}) (string, error) {
		a, err := duroxide.Await[sampleAck](ctx.WaitForEvent("Ready"))
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(a)
		return string(b), err
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	const id = "inst-typed-ack"
	must(t, c.StartOrchestration(context.Background(), id, "WaitAck", struct{}{}))
	sampleWaitSubscribed(t, c, id, "Ready", 10*time.Second)
	must(t, c.RaiseEvent(context.Background(), id, "Ready", sampleAck{OK: true}))

	out := sampleOutput[string](t, waitDone(t, c, id, sampleWait))
	want, _ := json.Marshal(sampleAck{OK: true})
	if out != string(want) {
		t.Fatalf("output %q, want %q", out, want)
	}
}

// sampleSelectSumOrUpper races the typed Add activity against the string Upper activity and
// formats whichever resolves first in history order.
func sampleSelectSumOrUpper(ctx *duroxide.OrchestrationContext, req sampleAddReq, word string) (string, error) {
	fTyped := ctx.ScheduleActivity("Add", req)
	fStr := ctx.ScheduleActivity("Upper", word)
	if ctx.Select(fTyped, fStr) == 0 {
		r, err := duroxide.Await[sampleAddRes](fTyped)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("sum=%d", r.Sum), nil
	}
	s, err := duroxide.Await[string](fStr)
	if err != nil {
		return "", err
	}
	return "up=" + s, nil
}

func registerSampleUpper(t *testing.T, reg *duroxide.Registry) {
	t.Helper()
	must(t, duroxide.RegisterActivity(reg, "Upper", func(_ *duroxide.ActivityContext, in string) (string, error) {
		return strings.ToUpper(in), nil
	}))
}

// 18. sample_mixed_string_and_typed_typed_orch_fs
func TestSampleMixedStringAndTypedTypedOrch(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerSampleUpper(t, reg)
	registerSampleAdd(t, reg)
	must(t, duroxide.RegisterOrchestration(reg, "MixedTypedOrch", func(ctx *duroxide.OrchestrationContext, req sampleAddReq) (string, error) {
		return sampleSelectSumOrUpper(ctx, req, "hello")
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-mixed-typed", "MixedTypedOrch", sampleAddReq{A: 1, B: 2}))

	out := sampleOutput[string](t, waitDone(t, c, "inst-mixed-typed", sampleWait))
	if out != "sum=3" && out != "up=HELLO" {
		t.Fatalf("output %q, want \"sum=3\" or \"up=HELLO\"", out)
	}
}

// 19. sample_mixed_string_and_typed_string_orch_fs
func TestSampleMixedStringAndTypedStringOrch(t *testing.T) {
	reg := duroxide.NewRegistry()
	registerSampleUpper(t, reg)
	registerSampleAdd(t, reg)
	must(t, duroxide.RegisterOrchestration(reg, "MixedStringOrch", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return sampleSelectSumOrUpper(ctx, sampleAddReq{A: 5, B: 7}, "race")
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "inst-mixed-string", "MixedStringOrch", ""))

	out := sampleOutput[string](t, waitDone(t, c, "inst-mixed-string", sampleWait))
	if out != "sum=12" && out != "up=RACE" {
		t.Fatalf("output %q, want \"sum=12\" or \"up=RACE\"", out)
	}
}
