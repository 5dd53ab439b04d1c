package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs the command line and returns its exit status, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// checkOneLineError checks that a failed command wrote exactly one line to stderr,
// containing want.
func checkOneLineError(t *testing.T, args []string, stderr, want string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("%q: stderr is not one line: %q", args, stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("%q: stderr %q does not contain %q", args, stderr, want)
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDemo(t *testing.T) {
	t.Parallel()
	start := time.Now()
	code, stdout, stderr := cli(t, "demo")
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, dc := range demoCases {
		line := ""
		for l := range strings.Lines(stdout) {
			if strings.Contains(l, " "+dc.id+" ") {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, dc.name) || !strings.HasSuffix(strings.TrimSpace(line), dc.want) {
			t.Errorf("no line for %s %s with result %s in:\n%s", dc.name, dc.id, dc.want, stdout)
		}
	}
	if !strings.Contains(stdout, "6 of 6 instances completed as expected") {
		t.Errorf("no summary line in:\n%s", stdout)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("demo took %s; it should take a few seconds", d)
	}
	if stderr != "" {
		t.Logf("stderr:\n%s", stderr)
	}
}

// serveNode runs "node serve" with args until the test ends and returns the URL it
// prints.
func serveNode(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- execute(ctx, noDefaultHTTP(append([]string{"serve"}, args...)), &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "shutting down") {
				t.Errorf("serve did not say it was shutting down: %q", stdout.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of its context ending")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d early; stdout: %s; stderr: %s", code, stdout.String(), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		out := stdout.String()
		if i := strings.Index(out, "nats://"); i >= 0 && strings.Contains(out, "\n") {
			return strings.Fields(out[i:])[0]
		}
	}
	t.Fatalf("serve printed no URL within 20s; stdout: %s", stdout.String())
	return ""
}

func TestServeAndClientCommands(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	url := serveNode(t, "--data-dir", t.TempDir(), "--listen", addr)
	if url != "nats://"+addr {
		t.Fatalf("serve printed URL %q, want nats://%s", url, addr)
	}
	// c runs a client command against the node.
	c := func(args ...string) (int, string, string) {
		t.Helper()
		return cli(t, append(args, "--nats-url", url)...)
	}
	mustOK := func(want string, args ...string) string {
		t.Helper()
		code, stdout, stderr := c(args...)
		if code != 0 {
			t.Fatalf("%q exited %d: %s", args, code, stderr)
		}
		if want != "" && stdout != want+"\n" {
			t.Fatalf("%q printed %q, want %q", args, stdout, want)
		}
		return stdout
	}

	// HelloWorld: the flags may come before or after NAME.
	mustOK("hello-1", "start", "HelloWorld", "--id", "hello-1", "--input", `"World"`)
	mustOK(`"Hello, World!"`, "wait", "hello-1")

	mustOK("fan-1", "start", "--id", "fan-1", "FanOut", "--input", "10")
	var st statusJSON
	if err := json.Unmarshal([]byte(mustOK("", "wait", "fan-1", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "Completed" || string(st.Output) != "55" || st.Name != "FanOut" || st.InstanceID != "fan-1" {
		t.Fatalf("wait --json: %+v", st)
	}

	// Approval waits for the event; raise it once the instance runs.
	mustOK("approval-1", "start", "Approval", "--id", "approval-1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, stdout, _ := c("status", "approval-1")
		if code == 0 && strings.Contains(stdout, "state:     Running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approval-1 not Running after 10s: exit %d, %q", code, stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustOK("", "raise", "approval-1", "approval", `"yes"`)
	mustOK(`"approved:yes"`, "wait", "approval-1", "--timeout", "20s")
	st = statusJSON{}
	if err := json.Unmarshal([]byte(mustOK("", "status", "approval-1", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "Completed" || string(st.Output) != `"approved:yes"` || st.CreatedAt == nil {
		t.Fatalf("status --json: %+v", st)
	}
	if out := mustOK("", "status", "approval-1"); !strings.Contains(out, `output:    "approved:yes"`) {
		t.Fatalf("status printed %q", out)
	}

	// A failed instance: wait reports the failure and exits 1.
	mustOK("bad-1", "start", "HelloWorld", "--id", "bad-1", "--input", "42")
	code, stdout, stderr := c("wait", "bad-1")
	if code != 1 || stdout != "" {
		t.Fatalf("wait for a failed instance: exit %d, stdout %q", code, stdout)
	}
	checkOneLineError(t, []string{"wait", "bad-1"}, stderr, `instance "bad-1" failed: `)
	if out := mustOK("", "status", "bad-1"); !strings.Contains(out, "state:     Failed") || !strings.Contains(out, "failure:") {
		t.Fatalf("status of a failed instance: %q", out)
	}

	// A start of an orchestration no node has registered is visible as Pending.
	mustOK("nohandler-1", "start", "NoSuchOrchestration", "--id", "nohandler-1")
	if out := mustOK("", "status", "nohandler-1"); !strings.Contains(out, "state:     Pending") ||
		!strings.Contains(out, `waiting:   for a node with orchestration "NoSuchOrchestration" registered`) {
		t.Fatalf("status of a start without a handler: %q", out)
	}
	if out := mustOK("", "list", "--status", "Pending"); out != "nohandler-1\n" {
		t.Fatalf("list --status Pending printed %q", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"wait", "nohandler-1", "--timeout", "1s"}, `instance "nohandler-1" did not start within 1s: its start is waiting for a node with orchestration "NoSuchOrchestration" registered`},
		{[]string{"start", "HelloWorld", "--id", "hello-1", "--input", `"again"`}, "already exists"},
		{[]string{"status", "missing-1"}, `instance "missing-1" not found`},
		{[]string{"wait", "missing-1", "--timeout", "200ms"}, "did not finish within 200ms"},
		// Past the grace for a start in flight, an id that never existed is named so.
		{[]string{"wait", "missing-2", "--timeout", "60s"}, `instance "missing-2" does not exist`},
	} {
		code, _, stderr := c(tc.args...)
		if code != 1 {
			t.Errorf("%q exited %d, want 1", tc.args, code)
		}
		checkOneLineError(t, tc.args, stderr, tc.want)
	}
}

func TestServeListenPortZeroPicksAFreePort(t *testing.T) {
	t.Parallel()
	url := serveNode(t, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if url == "nats://127.0.0.1:4222" || url == "nats://127.0.0.1:0" || !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("serve --listen 127.0.0.1:0 printed %q", url)
	}
	code, stdout, stderr := cli(t, "status", "nobody", "--json", "--nats-url", url)
	if code != 1 || strings.TrimSpace(stdout) != `{"instance_id":"nobody","state":"NotFound"}` {
		t.Fatalf("status on %s: exit %d, stdout %q, stderr %q", url, code, stdout, stderr)
	}
	// Run an instance before the node stops. (This also keeps the node from being
	// stopped while its first fetches are still creating the store's consumers, which
	// the race detector flags in jetstream.Store: the inbox and work consumer
	// start-ups share the startErr field without synchronisation.)
	if code, _, stderr := cli(t, "start", "HelloWorld", "--id", "h", "--input", `"port zero"`, "--nats-url", url); code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = cli(t, "wait", "h", "--nats-url", url)
	if code != 0 || stdout != "\"Hello, port zero!\"\n" {
		t.Fatalf("wait: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	closed := "nats://" + freeAddr(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"start", "HelloWorld", "--input", `"World"`}, 2, "missing --id"},
		{[]string{"start", "--id", "x"}, 2, "missing orchestration NAME"},
		{[]string{"start", "HelloWorld", "extra", "--id", "x"}, 2, `unexpected argument "extra"`},
		{[]string{"start", "HelloWorld", "--id", "x", "--input", "World"}, 2, "--input is not valid JSON"},
		{[]string{"start", "HelloWorld", "--id", "x", "--input", ""}, 2, "--input is not valid JSON"},
		{[]string{"start", "HelloWorld", "--id", "x", "--input", "{\n\"a\":"}, 2, "--input is not valid JSON"},
		{[]string{"start", "HelloWorld", "--id", "x", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"raise", "x"}, 2, "want ID EVENT [JSON]"},
		{[]string{"raise", "x", "approval", "{bad"}, 2, "event data is not valid JSON"},
		{[]string{"raise", "x", "approval", "-1"}, 2, "put -- before a negative number"},
		{[]string{"status"}, 2, "missing instance ID"},
		{[]string{"status", "a", "b"}, 2, `unexpected argument "b"`},
		{[]string{"wait"}, 2, "missing instance ID"},
		{[]string{"wait", "x", "--timeout", "soon"}, 2, "invalid value"},
		{[]string{"wait", "x", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{[]string{"serve", "--listen", "nowhere"}, 2, `--listen "nowhere"`},
		{[]string{"serve", "--listen", "127.0.0.1:99999"}, 2, "port must be a number"},
		{[]string{"demo", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"start", "HelloWorld", "--id", "x", "--nats-url", closed}, 1, "connect to " + closed},
		{[]string{"wait", "x", "--nats-url", closed}, 1, "connect to " + closed},
	} {
		code, stdout, stderr := cli(t, tc.args...)
		if code != tc.code {
			t.Errorf("%q exited %d, want %d (stderr %q)", tc.args, code, tc.code, stderr)
		}
		if stdout != "" {
			t.Errorf("%q printed %q on stdout", tc.args, stdout)
		}
		checkOneLineError(t, tc.args, stderr, tc.want)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := cli(t)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "Usage:") {
		t.Errorf("no args: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, stderr := cli(t, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "node serve") || !strings.Contains(stdout, "node demo") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	for _, cmd := range []string{"demo", "serve", "start", "raise", "status", "wait"} {
		code, stdout, stderr := cli(t, cmd, "-h")
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: node "+cmd) {
			t.Errorf("%s -h: exit %d, stdout %q, stderr %q", cmd, code, stdout, stderr)
		}
	}
}
