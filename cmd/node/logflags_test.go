package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Bad --log-format and --log-level values are usage errors naming the flag.
func TestServeLogFlagUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--log-format", "xml"}, `--log-format "xml": want text or json`},
		{[]string{"serve", "--log-level", "verbose"}, `--log-level "verbose": want debug, info, warn or error`},
		{[]string{"serve", "--log-level", ""}, `--log-level "": want debug`},
	} {
		code, stdout, stderr := cli(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%q exited %d, want %d (stderr %q)", tc.args, code, exitUsage, stderr)
		}
		if stdout != "" {
			t.Errorf("%q printed %q on stdout", tc.args, stdout)
		}
		checkOneLineError(t, tc.args, stderr, tc.want)
	}
}

// "node serve --log-format json --log-level debug" writes one JSON object per line,
// and its turn and activity records carry the instance and execution.
func TestServeJSONLogsCarryInstanceAndExecution(t *testing.T) {
	t.Parallel()
	node := startNode(t, "serve", "--data-dir", t.TempDir(), "--listen", freeAddr(t), "--no-service",
		"--log-format", "json", "--log-level", "debug")
	url := node.serving(t)
	if code, _, stderr := cli(t, "start", "HelloWorld", "--id", "logged-1", "--input", `"World"`, "--nats-url", url); code != 0 {
		t.Fatalf("start exited %d: %s", code, stderr)
	}
	if code, stdout, stderr := cli(t, "wait", "logged-1", "--nats-url", url); code != 0 || stdout != "\"Hello, World!\"\n" {
		t.Fatalf("wait exited %d: %q %s", code, stdout, stderr)
	}
	// The last turn's record follows its commit, which wait saw: wait for it.
	type record struct {
		Msg       string  `json:"msg"`
		Level     string  `json:"level"`
		Instance  string  `json:"instance"`
		Execution float64 `json:"execution"`
		Activity  string  `json:"activity"`
		Outcome   string  `json:"outcome"`
	}
	var turns, activities []record
	deadline := time.Now().Add(20 * time.Second)
	for {
		turns, activities = nil, nil
		for _, line := range strings.Split(strings.TrimSpace(node.stderr.String()), "\n") {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("log line is not JSON (%v): %q", err, line)
			}
			if r.Instance != "logged-1" {
				continue
			}
			switch r.Msg {
			case "turn":
				turns = append(turns, r)
			case "activity":
				activities = append(activities, r)
			}
		}
		if len(turns) > 0 && turns[len(turns)-1].Outcome == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completing turn record for logged-1 within 20s; stderr:\n%s", node.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, r := range turns {
		if r.Level != "DEBUG" || r.Execution != 1 || r.Outcome == "" {
			t.Errorf("turn record %+v", r)
		}
	}
	if len(activities) == 0 || activities[0].Execution != 1 || activities[0].Activity == "" || activities[0].Outcome != "completed" {
		t.Errorf("activity records %+v", activities)
	}
}
