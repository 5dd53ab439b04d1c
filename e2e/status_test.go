package e2e

// Behaviours of duroxide's tests/custom_status.rs and the copilot chat scenario:
// set, reset and read the custom status; every change advances its version;
// WaitForStatusChange follows the changes; the status survives continue-as-new and
// replay; a status over 256 KiB fails the orchestration.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

func TestCustomStatusSetResetAndVersions(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Step", func(_ *duroxide.ActivityContext, in string) (string, error) { return in, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "Statusy", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		if _, ok := ctx.CustomStatus(); ok {
			return "", errors.New("a new instance has no custom status")
		}
		ctx.SetCustomStatus("one")
		if _, err := duroxide.Await[string](ctx.ScheduleActivity("Step", "")); err != nil {
			return "", err
		}
		ctx.ResetCustomStatus()
		if _, ok := ctx.CustomStatus(); ok {
			return "", errors.New("reset left a status")
		}
		if err := ctx.WaitForEvent("next").Get(nil); err != nil {
			return "", err
		}
		ctx.SetCustomStatus("two")
		ctx.SetCustomStatus("three") // two changes in one turn
		s, _ := ctx.CustomStatus()
		return s, nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "custom-status"
	must(t, c.StartOrchestration(ctx, id, "Statusy", ""))
	sampleWaitSubscribed(t, c, id, "next", sampleWait)
	st, err := c.GetStatus(ctx, id)
	must(t, err)
	if st.CustomStatus != nil || st.CustomStatusVersion != 2 {
		t.Fatalf("after set and reset: status %v version %d, want none at version 2", st.CustomStatus, st.CustomStatusVersion)
	}
	must(t, c.RaiseEvent(ctx, id, "next", nil))
	st = waitDone(t, c, id, sampleWait)
	if out := sampleOutput[string](t, st); out != "three" || st.CustomStatus == nil || *st.CustomStatus != "three" || st.CustomStatusVersion != 4 {
		t.Fatalf("final: output %q status %v version %d, want three at version 4", out, st.CustomStatus, st.CustomStatusVersion)
	}
	if n := countType(mustHistory(t, c, id), history.CustomStatusUpdated); n != 4 {
		t.Fatalf("%d CustomStatusUpdated events, want 4", n)
	}
}

func TestCustomStatusSurvivesContinueAsNewAndReplay(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Keeper", func(ctx *duroxide.OrchestrationContext, n int) (string, error) {
		prev, _ := ctx.CustomStatus()
		if n < 3 {
			ctx.SetCustomStatus(fmt.Sprintf("%s|%d", prev, n))
			return "", ctx.ContinueAsNew(n + 1)
		}
		return prev, nil
	}))
	// MaxCachedInstances 1 with two instances forces replays from history.
	c := startRuntime(t, reg, duroxide.Options{MaxCachedInstances: 1}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "keeper-a", "Keeper", 0))
	must(t, c.StartOrchestration(ctx, "keeper-b", "Keeper", 0))
	for _, id := range []string{"keeper-a", "keeper-b"} {
		st := waitDone(t, c, id, sampleWait)
		if out := sampleOutput[string](t, st); out != "|0|1|2" || st.CustomStatus == nil || *st.CustomStatus != "|0|1|2" {
			t.Fatalf("%s: output %q status %v, want |0|1|2", id, out, st.CustomStatus)
		}
	}
}

func TestCustomStatusTooLargeFailsOrchestration(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Huge", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		ctx.SetCustomStatus(strings.Repeat("x", duroxide.MaxCustomStatusBytes+1))
		return "unreachable", nil
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "huge-status", "Huge", ""))
	st := waitDone(t, c, "huge-status", sampleWait)
	if st.State != duroxide.StateFailed || st.Failure.Category != history.Application || !strings.Contains(st.Failure.Message, "custom status") {
		t.Fatalf("%s %+v, want an application failure naming the custom status", st.State, st.Failure)
	}
}

// copilot_chat.rs: a chat bot dequeues messages, replies through an activity,
// publishes its state as custom status and continues as new after each message; the
// client follows it with WaitForStatusChange.
type chatMessage struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

type chatStatus struct {
	State        string `json:"state"`
	LastResponse string `json:"last_response"`
	MsgSeq       int    `json:"msg_seq"`
}

func TestScenarioCopilotChat(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "GenerateResponse", func(_ *duroxide.ActivityContext, msg string) (string, error) {
		return "Echo: " + msg, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "ChatBot", func(ctx *duroxide.OrchestrationContext, count int) (string, error) {
		msg, err := duroxide.Await[chatMessage](ctx.DequeueEvent("inbox"))
		if err != nil {
			return "", err
		}
		resp, err := duroxide.Await[string](ctx.ScheduleActivity("GenerateResponse", msg.Text))
		if err != nil {
			return "", err
		}
		status, _ := jsonString(chatStatus{State: "replied", LastResponse: resp, MsgSeq: msg.Seq})
		ctx.SetCustomStatus(status)
		count++
		if msg.Text == "Bye!" {
			return fmt.Sprintf("Chat ended after %d messages", count), nil
		}
		return "", ctx.ContinueAsNew(count)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	const id = "copilot-chat"
	must(t, c.StartOrchestration(ctx, id, "ChatBot", 0))
	var version uint64
	for i, text := range []string{"Hello!", "How are you?", "Bye!"} {
		must(t, c.EnqueueEvent(ctx, id, "inbox", chatMessage{Seq: i + 1, Text: text}))
		for {
			wctx, cancel := context.WithTimeout(ctx, sampleWait)
			st, err := c.WaitForStatusChange(wctx, id, version)
			cancel()
			must(t, err)
			version = st.CustomStatusVersion
			var cs chatStatus
			if st.CustomStatus != nil {
				must(t, jsonDecode(*st.CustomStatus, &cs))
			}
			if cs.MsgSeq == i+1 {
				if cs.State != "replied" || cs.LastResponse != "Echo: "+text {
					t.Fatalf("status after %q: %+v", text, cs)
				}
				break
			}
			if st.State.IsTerminal() {
				t.Fatalf("chat ended early: %s", st.State)
			}
		}
	}
	st := waitDone(t, c, id, sampleWait)
	if out := sampleOutput[string](t, st); out != "Chat ended after 3 messages" {
		t.Fatalf("output %q", out)
	}
	var cs chatStatus
	must(t, jsonDecode(*st.CustomStatus, &cs))
	if cs.LastResponse != "Echo: Bye!" {
		t.Fatalf("final custom status %+v, want last response Echo: Bye!", cs)
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func jsonDecode(s string, out any) error { return json.Unmarshal([]byte(s), out) }

// WaitForStatusChange also returns when the instance ends without a new status.
func TestWaitForStatusChangeReturnsAtEnd(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Silent", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return "quiet", ctx.WaitForEvent("end").Get(nil)
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "silent", "Silent", ""))
	sampleWaitSubscribed(t, c, "silent", "end", sampleWait)
	must(t, c.RaiseEvent(ctx, "silent", "end", nil))
	wctx, cancel := context.WithTimeout(ctx, sampleWait)
	defer cancel()
	st, err := c.WaitForStatusChange(wctx, "silent", 0)
	must(t, err)
	if st.State != duroxide.StateCompleted || st.CustomStatusVersion != 0 {
		t.Fatalf("%s version %d, want Completed at version 0", st.State, st.CustomStatusVersion)
	}
}

// An activity can use the runtime's client, here to read its own instance.
func TestActivityClientHandle(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "SelfStatus", func(ctx *duroxide.ActivityContext, _ string) (string, error) {
		st, err := ctx.Client().GetStatus(ctx, ctx.InstanceID())
		if err != nil {
			return "", err
		}
		return string(st.State) + ":" + st.Name, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "AsksAboutItself", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("SelfStatus", ""))
	}))
	c := startRuntime(t, reg, duroxide.Options{}).Client()
	must(t, c.StartOrchestration(context.Background(), "self-aware", "AsksAboutItself", ""))
	if out := sampleOutput[string](t, waitDone(t, c, "self-aware", sampleWait)); out != "Running:AsksAboutItself" {
		t.Fatalf("output %q", out)
	}
}
