// Package demo holds the example orchestrations that the node command registers and
// its demo runs. HelloWorld, FanOut and Approval are stable: users and scripts start
// them by name against a serving node, so keep their names, inputs and outputs.
package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/duroxide-go/duroxide"
)

// Orchestration names.
const (
	// HelloWorld takes a name and returns "Hello, <name>!", made by an activity.
	HelloWorld = "HelloWorld"
	// FanOut takes n (at most MaxFan), runs n activities in parallel (activity i
	// returns i) and returns their sum, n(n+1)/2.
	FanOut = "FanOut"
	// Approval waits for the external event ApprovalEvent, with a durable timer of
	// ApprovalTimeout as the alternative. It returns "approved:<event data>" (the data
	// unquoted when it is a JSON string) or "timeout".
	Approval = "Approval"
	// TimerRace races the SlowWork activity against a durable timer and returns
	// "activity:<result>" or "timer".
	TimerRace = "TimerRace"
	// GreetAll runs HelloWorld as a sub-orchestration for each name, in parallel, and
	// returns the greetings in order.
	GreetAll = "GreetAll"
	// Countdown continues as new once per step until its input reaches zero, then
	// returns how many executions it took.
	Countdown = "Countdown"
	// Tour uses every kind of step once per execution, for load and crash tests: see
	// TourInput and TourOutput.
	Tour = "Tour"
	// BenchFanOut is node bench's workload: it runs BenchFanOutInput.Activities
	// BenchWork activities in parallel, each sleeping BenchFanOutInput.WorkMs, and
	// returns how many completed.
	BenchFanOut = "BenchFanOut"
	// BenchIdle is node bench --idle's workload: it sets the custom status
	// BenchIdleWaiting, waits for the external event BenchIdleEvent (no timer: it
	// waits for ever) and returns the event's data.
	BenchIdle = "BenchIdle"
)

// BenchIdleEvent is the external event BenchIdle waits for.
const BenchIdleEvent = "go"

// BenchIdleWaiting is BenchIdle's custom status while it waits for BenchIdleEvent,
// so a client sees (custom status version 1) that its first turn is committed.
const BenchIdleWaiting = "waiting"

// Activity names.
const (
	// SayHello returns "Hello, <name>!".
	SayHello = "SayHello"
	// Echo returns its integer input.
	Echo = "Echo"
	// SlowWork sleeps for its input in milliseconds (or until the runtime stops) and
	// returns "done".
	SlowWork = "SlowWork"
	// BenchWork sleeps for its input in milliseconds (or until the runtime stops) and
	// returns 1.
	BenchWork = "BenchWork"
)

// BenchFanOutInput is BenchFanOut's input.
type BenchFanOutInput struct {
	// Activities is how many BenchWork activities run in parallel.
	Activities int `json:"activities"`
	// WorkMs is how long each takes, in milliseconds.
	WorkMs int `json:"work_ms"`
}

// ApprovalEvent is the external event Approval waits for.
const ApprovalEvent = "approval"

// TourEvent is the external event Tour's first execution waits for; its data is a
// JSON string.
const TourEvent = "go"

// TourQueue is the queue Tour's last execution dequeues one JSON string from.
const TourQueue = "tour"

// MaxFan bounds how many activities one FanOut, BenchFanOut or Tour step runs: a
// larger input fails the orchestration instead of making it allocate and schedule
// without bound (one turn's commit holds them all).
const MaxFan = 10000

// ApprovalTimeout is how long Approval waits for ApprovalEvent.
const ApprovalTimeout = 60 * time.Second

// TimerRaceInput is TimerRace's input.
type TimerRaceInput struct {
	// WorkMs is how long the SlowWork activity takes.
	WorkMs int `json:"work_ms"`
	// TimeoutMs is when the durable timer fires.
	TimeoutMs int `json:"timeout_ms"`
}

// TourInput is Tour's input. Only Name, Steps and Fan are set by the caller; Step,
// Acc and Event carry state across continue-as-new.
type TourInput struct {
	// Name is passed, with the step number, to a HelloWorld sub-orchestration.
	Name string `json:"name"`
	// Steps is how many times Tour continues as new (Steps+1 executions).
	Steps int `json:"steps"`
	// Fan is how many Echo activities each execution runs in parallel.
	Fan   int    `json:"fan"`
	Step  int    `json:"step,omitempty"`
	Acc   int    `json:"acc,omitempty"`
	Event string `json:"event,omitempty"`
}

// TourOutput returns the output Tour gives for in when its event carried event and
// its queue message was queued.
func TourOutput(in TourInput, event, queued string) string {
	sum := (in.Steps + 1) * in.Fan * (in.Fan + 1) / 2
	return fmt.Sprintf("%s|%s|%d|%d|Hello, %s-%d!", event, queued, sum, in.Steps+1, in.Name, in.Steps)
}

// Register registers the demo orchestrations and activities in reg.
func Register(reg *duroxide.Registry) error {
	return errors.Join(
		duroxide.RegisterActivity(reg, SayHello, sayHello),
		duroxide.RegisterActivity(reg, Echo, echo),
		duroxide.RegisterActivity(reg, SlowWork, slowWork),
		duroxide.RegisterActivity(reg, BenchWork, benchWork),
		duroxide.RegisterOrchestration(reg, HelloWorld, helloWorld),
		duroxide.RegisterOrchestration(reg, FanOut, fanOut),
		duroxide.RegisterOrchestration(reg, Approval, approval),
		duroxide.RegisterOrchestration(reg, TimerRace, timerRace),
		duroxide.RegisterOrchestration(reg, GreetAll, greetAll),
		duroxide.RegisterOrchestration(reg, Countdown, countdown),
		duroxide.RegisterOrchestration(reg, Tour, tour),
		duroxide.RegisterOrchestration(reg, BenchFanOut, benchFanOut),
		duroxide.RegisterOrchestration(reg, BenchIdle, benchIdle),
	)
}

func sayHello(_ *duroxide.ActivityContext, name string) (string, error) {
	return fmt.Sprintf("Hello, %s!", name), nil
}

func echo(_ *duroxide.ActivityContext, i int) (int, error) { return i, nil }

func slowWork(ctx *duroxide.ActivityContext, ms int) (string, error) {
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return "done", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func benchWork(ctx *duroxide.ActivityContext, ms int) (int, error) {
	if ms <= 0 {
		return 1, nil
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return 1, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func benchFanOut(ctx *duroxide.OrchestrationContext, in BenchFanOutInput) (int, error) {
	if in.Activities < 0 || in.Activities > MaxFan || in.WorkMs < 0 {
		return 0, fmt.Errorf("activities must be 0..%d and work_ms not negative, got %d and %d", MaxFan, in.Activities, in.WorkMs)
	}
	futures := make([]*duroxide.Future, in.Activities)
	for i := range futures {
		futures[i] = ctx.ScheduleActivity(BenchWork, in.WorkMs)
	}
	ctx.Join(futures...)
	done := 0
	for _, f := range futures {
		v, err := duroxide.Await[int](f)
		if err != nil {
			return 0, err
		}
		done += v
	}
	return done, nil
}

func benchIdle(ctx *duroxide.OrchestrationContext, _ json.RawMessage) (json.RawMessage, error) {
	ctx.SetCustomStatus(BenchIdleWaiting)
	return duroxide.Await[json.RawMessage](ctx.WaitForEvent(BenchIdleEvent))
}

func helloWorld(ctx *duroxide.OrchestrationContext, name string) (string, error) {
	return duroxide.Await[string](ctx.ScheduleActivity(SayHello, name))
}

func fanOut(ctx *duroxide.OrchestrationContext, n int) (int, error) {
	if n < 0 || n > MaxFan {
		return 0, fmt.Errorf("n must be 0..%d, got %d", MaxFan, n)
	}
	futures := make([]*duroxide.Future, n)
	for i := range futures {
		futures[i] = ctx.ScheduleActivity(Echo, i+1)
	}
	ctx.Join(futures...)
	sum := 0
	for _, f := range futures {
		v, err := duroxide.Await[int](f)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

func approval(ctx *duroxide.OrchestrationContext, _ json.RawMessage) (string, error) {
	event := ctx.WaitForEvent(ApprovalEvent)
	timeout := ctx.ScheduleTimer(ApprovalTimeout)
	if ctx.Select(event, timeout) == 1 {
		return "timeout", nil
	}
	var data json.RawMessage
	if err := event.Get(&data); err != nil {
		return "", err
	}
	var s string
	if json.Unmarshal(data, &s) == nil {
		return "approved:" + s, nil
	}
	return "approved:" + string(data), nil
}

func timerRace(ctx *duroxide.OrchestrationContext, in TimerRaceInput) (string, error) {
	work := ctx.ScheduleActivity(SlowWork, in.WorkMs)
	timer := ctx.ScheduleTimer(time.Duration(in.TimeoutMs) * time.Millisecond)
	if ctx.Select(work, timer) == 1 {
		return "timer", nil
	}
	res, err := duroxide.Await[string](work)
	if err != nil {
		return "", err
	}
	return "activity:" + res, nil
}

func greetAll(ctx *duroxide.OrchestrationContext, names []string) ([]string, error) {
	futures := make([]*duroxide.Future, len(names))
	for i, name := range names {
		futures[i] = ctx.ScheduleSubOrchestration(HelloWorld, name)
	}
	ctx.Join(futures...)
	out := make([]string, len(names))
	for i, f := range futures {
		if err := f.Get(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func countdown(ctx *duroxide.OrchestrationContext, n int) (string, error) {
	if n > 0 {
		return "", ctx.ContinueAsNew(n - 1)
	}
	return fmt.Sprintf("done after %d executions", ctx.ExecutionID()), nil
}

// tour: the first execution waits for TourEvent; every execution runs in.Fan Echo
// activities in parallel, a 100 ms durable timer and a HelloWorld sub-orchestration
// (instance "<id>::tour::<step>"),
// then continues as new until in.Steps is reached; the last execution dequeues one
// message from TourQueue and returns TourOutput.
func tour(ctx *duroxide.OrchestrationContext, in TourInput) (string, error) {
	if in.Fan < 0 || in.Fan > MaxFan || in.Steps < 0 {
		return "", fmt.Errorf("fan must be 0..%d and steps not negative, got %d and %d", MaxFan, in.Fan, in.Steps)
	}
	if in.Step == 0 {
		ev, err := duroxide.Await[string](ctx.WaitForEvent(TourEvent))
		if err != nil {
			return "", err
		}
		in.Event = ev
	}
	futures := make([]*duroxide.Future, in.Fan)
	for i := range futures {
		futures[i] = ctx.ScheduleActivity(Echo, i+1)
	}
	ctx.Join(futures...)
	for _, f := range futures {
		v, err := duroxide.Await[int](f)
		if err != nil {
			return "", err
		}
		in.Acc += v
	}
	if err := ctx.ScheduleTimer(100 * time.Millisecond).Get(nil); err != nil {
		return "", err
	}
	// An explicit child id per step: the generated "<parent>::sub::<event id>" would
	// repeat in the next execution, whose events are numbered from 1 again.
	child := fmt.Sprintf("%s::tour::%d", ctx.InstanceID(), in.Step)
	greeting, err := duroxide.Await[string](ctx.ScheduleSubOrchestration(HelloWorld, fmt.Sprintf("%s-%d", in.Name, in.Step),
		duroxide.WithInstanceID(child)))
	if err != nil {
		return "", err
	}
	if in.Step < in.Steps {
		in.Step++
		return "", ctx.ContinueAsNew(in)
	}
	queued, err := duroxide.Await[string](ctx.DequeueEvent(TourQueue))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s|%s|%d|%d|%s", in.Event, queued, in.Acc, ctx.ExecutionID(), greeting), nil
}
