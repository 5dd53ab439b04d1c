package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runNodeProcess runs "node args..." as a child process to its end and returns its
// exit status, stdout and stderr.
func runNodeProcess(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), execEnv+"=1")
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run node %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// "node replay" replays files written by "node history ID --json" against the
// node's orchestrations: recorded histories replay (exit 0); a history the code does
// not reproduce is reported nondeterministic at its event; corrupted and
// wrong-format files are errors naming the file; any failure exits 1.
func TestReplayCommand(t *testing.T) {
	t.Parallel()
	url := serveNode(t, "--data-dir", t.TempDir(), "--listen", freeAddr(t))
	c := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(t, append(args, "--nats-url", url)...)
		if code != 0 {
			t.Fatalf("%q exited %d: %s", args, code, errOut)
		}
		return out
	}
	c("start", "HelloWorld", "--id", "h1", "--input", `"World"`)
	c("start", "Countdown", "--id", "cd1", "--input", "2")
	c("start", "Approval", "--id", "a1")
	c("start", "GreetAll", "--id", "g1", "--input", `["Ada","Grace"]`)
	c("start", "TimerRace", "--id", "tr1", "--input", `{"work_ms":5000,"timeout_ms":100}`)
	c("wait", "h1")
	c("wait", "cd1")
	c("wait", "g1")
	if out := c("wait", "tr1"); out != "\"timer\"\n" {
		t.Fatalf("TimerRace ended with %q, want the timer to win", out)
	}
	// Approval runs: its history holds the subscription to "approval" and the timer.
	var approval string
	for deadline := time.Now().Add(20 * time.Second); ; {
		if code, out, _ := cli(t, "history", "a1", "--json", "--nats-url", url); code == 0 && strings.Contains(out, `"ExternalSubscribed"`) {
			approval = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a1 has not subscribed to its event after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hello := c("history", "h1", "--json")
	timerRace := c("history", "tr1", "--json")
	if !strings.Contains(timerRace, `"type":"ActivityCancelRequested"`) {
		t.Fatalf("TimerRace's history holds no cancellation of its losing activity: %s", timerRace)
	}
	good := []string{
		write("hello.json", hello),
		write("countdown.json", c("history", "cd1", "--json")), // its last execution, the third
		write("approval.json", approval),
		write("greet-all.json", c("history", "g1", "--json")),               // two sub-orchestrations
		write("greet-all-child.json", c("history", "g1::sub::2", "--json")), // one of them
		write("timer-race.json", timerRace),                                 // the losing activity's cancellation
		// All three executions, one array after another: replayed in order.
		write("countdown-all.json", c("history", "cd1", "--execution", "1", "--json")+
			c("history", "cd1", "--execution", "2", "--json")+c("history", "cd1", "--execution", "3", "--json")),
	}
	// The code asks for SayHello where this history holds SayHi: the history of an
	// earlier version of HelloWorld.
	renamed := write("renamed.json", strings.Replace(hello, `"name":"SayHello"`, `"name":"SayHi"`, 1))
	if !strings.Contains(hello, `"name":"SayHello"`) {
		t.Fatalf("HelloWorld's history does not schedule SayHello: %s", hello)
	}
	truncated := write("truncated.json", hello[:len(hello)/2])
	status := write("status.json", c("status", "h1", "--json"))
	random := write("random.bin", "\x8f\x00\xff\x13garbage\x01")
	empty := write("empty.json", "")
	missing := filepath.Join(dir, "missing.json")

	code, stdout, stderr := runNodeProcess(t, nil, append([]string{"replay"}, good...)...)
	if code != exitOK || stderr != "" {
		t.Fatalf("replay of recorded histories exited %d: %s%s", code, stdout, stderr)
	}
	for _, f := range good {
		if !strings.Contains(stdout, f+": ok (") {
			t.Errorf("no ok line for %s in %q", f, stdout)
		}
	}
	if !strings.Contains(stdout, `countdown.json: ok (instance "cd1", Countdown 1.0.0, 2 events in 1 executions)`) ||
		!strings.Contains(stdout, `countdown-all.json: ok (instance "cd1", Countdown 1.0.0, 6 events in 3 executions)`) {
		t.Errorf("countdown's lines do not describe its last execution and all three: %q", stdout)
	}

	// Standard input: node history ID --json | node replay -
	if code, stdout, _ := runNodeProcess(t, []byte(hello), "replay", "-"); code != exitOK || !strings.HasPrefix(stdout, "-: ok (") {
		t.Errorf("replay - exited %d: %q", code, stdout)
	}

	for _, tc := range []struct {
		file, want string
	}{
		{renamed, `: nondeterministic at event 2: history holds ActivityScheduled{name="SayHi" input="World"}, but the code asked for ActivityScheduled{name="SayHello" input="World"} (instance "h1", execution 1)`},
		{truncated, ": error: not a history file: malformed history: not JSON: unexpected end of input (truncated?)"},
		{status, ": error: not a history file: malformed history: a JSON object, not an array of history events"},
		{random, ": error: not a history file: malformed history: not JSON: invalid character"},
		{empty, ": error: not a history file: malformed history: empty: want a JSON array of history events"},
		{missing, ": error: open " + missing + ": no such file or directory"},
	} {
		code, stdout, stderr := runNodeProcess(t, nil, "replay", good[0], tc.file)
		if code != exitFailure {
			t.Errorf("replay %s exited %d, want %d: %s%s", tc.file, code, exitFailure, stdout, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], good[0]+": ok (") || !strings.HasPrefix(lines[1], tc.file+tc.want) {
			t.Errorf("replay %s printed %q, want an ok line, then %q", tc.file, stdout, tc.file+tc.want)
		}
		checkOneLineError(t, []string{"replay", tc.file}, stderr, "node replay: 1 of 2 histories did not replay")
	}

	// --json: one array of results, for a pipeline to read.
	code, stdout, stderr = runNodeProcess(t, nil, "replay", "--json", good[0], renamed)
	var results []replayResult
	if err := json.Unmarshal([]byte(stdout), &results); err != nil || code != exitFailure {
		t.Fatalf("replay --json exited %d, printed %q (%v); stderr %q", code, stdout, err, stderr)
	}
	want := []replayResult{
		{File: good[0], Result: "ok", Instance: "h1", Name: "HelloWorld", Version: "1.0.0", Events: 4, Executions: 1},
		{File: renamed, Result: "nondeterministic", Instance: "h1", Name: "HelloWorld", Version: "1.0.0", Events: 4, Executions: 1,
			Execution: 1, EventID: 2, History: `ActivityScheduled{name="SayHi" input="World"}`, Code: `ActivityScheduled{name="SayHello" input="World"}`},
	}
	if len(results) != 2 || results[0] != want[0] || results[1] != want[1] {
		t.Errorf("replay --json: %+v, want %+v", results, want)
	}

	if code, _, stderr := runNodeProcess(t, nil, "replay"); code != exitUsage || !strings.Contains(stderr, "at least one history FILE") {
		t.Errorf("replay without files exited %d: %q", code, stderr)
	}
}
