package main

import (
	"context"
	"strings"
	"testing"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// helloHistory is a HelloWorld history as "node history h1 --json" writes it.
const helloHistory = `[{"event_id":1,"instance_id":"h1","execution_id":1,"timestamp_ms":1765000000000,"type":"OrchestrationStarted","name":"HelloWorld","version":"1.0.0","input":"\"World\""},` +
	`{"event_id":2,"instance_id":"h1","execution_id":1,"timestamp_ms":1765000000001,"type":"ActivityScheduled","name":"SayHello","input":"\"World\""},` +
	`{"event_id":3,"source_event_id":2,"instance_id":"h1","execution_id":1,"timestamp_ms":1765000000002,"type":"ActivityCompleted","output":"\"Hello, World!\""},` +
	`{"event_id":4,"instance_id":"h1","execution_id":1,"timestamp_ms":1765000000002,"type":"OrchestrationCompleted","output":"\"Hello, World!\""}]`

// FuzzReplayData: whatever a history file holds, node replay reports it on one line
// that names the file (ok, nondeterministic or an error) and never panics or hangs.
func FuzzReplayData(f *testing.F) {
	for _, s := range []string{
		helloHistory,
		strings.Replace(helloHistory, "SayHello", "SayHi", 1),
		strings.Replace(helloHistory, `"event_id":3`, `"event_id":5`, 1),
		strings.Replace(helloHistory, `"source_event_id":2`, `"source_event_id":1`, 1),
		strings.Replace(helloHistory, `"ActivityCompleted"`, `"TimerFired"`, 1),
		strings.Replace(helloHistory, `"HelloWorld"`, `"Countdown"`, 1),
		helloHistory[:len(helloHistory)/2],
		helloHistory + "\n" + helloHistory, // two arrays: two executions (here: of the same id, refused)
		helloHistory + " x",
		`[{"event_id":1,"instance_id":"c","execution_id":1,"type":"OrchestrationStarted","name":"Countdown","input":"0"}]`,
		`[{"event_id":1,"instance_id":"a","execution_id":1,"type":"OrchestrationStarted","name":"Approval"},` +
			`{"event_id":2,"instance_id":"a","execution_id":1,"type":"ExternalEvent","name":"approval","data":"\"x\""}]`,
		`[{"event_id":1,"instance_id":"f","execution_id":1,"type":"OrchestrationStarted","name":"FanOut","input":"1000000000"}]`,
		`{"instance_id":"h1","state":"Completed"}`, `[]`, `[1]`, `[{}]`, `[{"type":"Nope"}]`, `null`, ``, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := replayData(context.Background(), reg, "f.json", data)
		line, ok := r.line(), r.Result == resultOK
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "f.json: ") {
			t.Fatalf("report %q is not one line naming the file", line)
		}
		rest := strings.TrimPrefix(line, "f.json: ")
		switch {
		case ok && !strings.HasPrefix(rest, "ok ("):
			t.Fatalf("replayed, but reported %q", line)
		case !ok && !strings.HasPrefix(rest, "nondeterministic at event ") && !strings.HasPrefix(rest, "error: "):
			t.Fatalf("did not replay, but reported %q", line)
		}
	})
}

// The seeds' reports: the recorded history replays, a changed one is
// nondeterministic at the changed event, and malformed ones are errors.
func TestReplayDataReports(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ data, want string }{
		{helloHistory, `f: ok (instance "h1", HelloWorld 1.0.0, 4 events in 1 executions)`},
		{strings.Replace(helloHistory, `"output":"\"Hello, World!\""}]`, `"output":"\"Hi\""}]`, 1),
			`f: nondeterministic at event 4: history holds OrchestrationCompleted{output="Hi"}, but the code asked for OrchestrationCompleted{output="Hello, World!"}`},
		{strings.Replace(helloHistory, `"ActivityCompleted"`, `"TimerFired"`, 1),
			`f: nondeterministic at event 3: history holds TimerFired{source=2}, but the code asked for nothing it answers (TimerFired at event 3 answers event 2, which scheduled a activity)`},
		{strings.Replace(helloHistory, `"event_id":3`, `"event_id":5`, 1),
			`f: error: malformed history: event ids out of order: position 2 of execution 1 holds event 5, want 3`},
		{strings.Replace(helloHistory, `"HelloWorld"`, `"Nope"`, 1),
			`f: error: instance "h1" execution 1: duroxide: not registered: orchestration "Nope" version 1.0.0 is not in the registry`},
		// Code asking for many actions history does not hold stops at the first.
		{`[{"event_id":1,"instance_id":"f","execution_id":1,"type":"OrchestrationStarted","name":"FanOut","input":"10000"}]`,
			`f: nondeterministic at event 2: history holds nothing more (history ends at event 1), but the code asked for ActivityScheduled{name="Echo" input=1}`},
		{helloHistory + " x", `f: error: not a history file: malformed history: not JSON: invalid character 'x' looking for beginning of value`},
		{helloHistory + helloHistory, `f: error: malformed history: OrchestrationCompleted at event 4 is not the end of execution 1`},
		// FanOut refuses an input over demo.MaxFan (it used to allocate it first).
		{`[{"event_id":1,"instance_id":"f","execution_id":1,"type":"OrchestrationStarted","name":"FanOut","input":"10000000000"}]`,
			`f: nondeterministic at event 2: history holds nothing more (history ends at event 1), but the code asked for OrchestrationFailed{n must be 0..10000, got 10000000000}`},
		{`[1]`, `f: error: not a history file: malformed history: element 0 is a JSON number, not an event object`},
		{`[{"type":"Nope"}]`, `f: error: not a history file: malformed history: element 0 has the unknown event type "Nope"`},
		{`[{"event_id":1,"colour":"red"}]`, `f: error: not a history file: malformed history: element 0 is not a history event: json: unknown field "colour"`},
	} {
		r := replayData(context.Background(), reg, "f", []byte(c.data))
		if line := r.line(); !strings.HasPrefix(line, c.want) {
			t.Errorf("report %q, want %q", line, c.want)
		}
	}
}
