package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	url := serveNode(t, "--data-dir", t.TempDir(), "--listen", addr)
	c := func(args ...string) (int, string, string) {
		t.Helper()
		return cli(t, append(args, "--nats-url", url)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := c(args...)
		if code != 0 {
			t.Fatalf("%q exited %d: %s", args, code, errOut)
		}
		return out
	}
	ok("start", "HelloWorld", "--id", "h1", "--input", `"World"`)
	ok("wait", "h1")
	ok("start", "Approval", "--id", "a1")
	// A start is only a message until the runtime's first turn creates the instance:
	// the listing shows a1 once that turn committed.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, out, _ := c("status", "a1"); code == 0 && strings.Contains(out, "state:     Running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a1 not Running after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if out := ok("list"); !strings.Contains(out, "h1") || !strings.Contains(out, "a1") {
		t.Fatalf("list: %q", out)
	}
	var page struct {
		Instances []string `json:"instances"`
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(json.Unmarshal([]byte(ok("list", "--status", "Completed", "--json")), &page))
	if len(page.Instances) != 1 || page.Instances[0] != "h1" {
		t.Fatalf("list --status Completed: %v", page.Instances)
	}
	if out := ok("list", "--name", "Approval", "--limit", "5"); strings.TrimSpace(out) != "a1" {
		t.Fatalf("list --name: %q", out)
	}
	if out := ok("info", "h1"); !strings.Contains(out, "Completed") || !strings.Contains(out, "HelloWorld") {
		t.Fatalf("info: %q", out)
	}
	if out := ok("history", "h1", "--execution", "1"); !strings.Contains(out, "OrchestrationCompleted") {
		t.Fatalf("history: %q", out)
	}
	var m struct {
		TotalInstances   int `json:"total_instances"`
		RunningInstances int `json:"running_instances"`
	}
	must(json.Unmarshal([]byte(ok("metrics", "--json")), &m))
	if m.TotalInstances != 2 || m.RunningInstances != 1 {
		t.Fatalf("metrics: %+v", m)
	}
	if out := ok("queues"); !strings.Contains(out, "timers:") {
		t.Fatalf("queues: %q", out)
	}
	if out := ok("stats", "h1"); !strings.Contains(out, "history events:") {
		t.Fatalf("stats: %q", out)
	}
	if out := ok("tree", "h1"); strings.TrimSpace(out) != "h1" {
		t.Fatalf("tree: %q", out)
	}
	if out := ok("prune", "h1", "--keep-last", "1"); !strings.Contains(out, "pruned h1: 0 executions") {
		t.Fatalf("prune: %q", out)
	}

	// Errors: one line, exit 1 for a failed operation, 2 for usage.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"delete", "a1"}, 1, "still running"},
		{[]string{"info", "nope"}, 1, "not found"},
		{[]string{"list", "--status", "Bogus"}, 2, "unknown --status"},
		{[]string{"prune", "h1"}, 2, "--keep-last"},
		{[]string{"stats"}, 2, "missing instance ID"},
	} {
		code, _, errOut := c(tc.args...)
		if code != tc.code {
			t.Errorf("%q exited %d, want %d (%s)", tc.args, code, tc.code, errOut)
		}
		checkOneLineError(t, tc.args, errOut, tc.want)
	}
	if out := ok("delete", "a1", "--force"); !strings.Contains(out, "deleted a1: 1 instances") {
		t.Fatalf("delete: %q", out)
	}
	if out := ok("delete", "h1", "--json"); !strings.Contains(out, `"instances_deleted":1`) {
		t.Fatalf("delete --json: %q", out)
	}
	if out := ok("list"); strings.TrimSpace(out) != "" {
		t.Fatalf("list after deletes: %q", out)
	}
}
