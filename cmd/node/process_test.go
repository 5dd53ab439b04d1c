package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/jetstream"
)

// execEnv makes the test binary run the node command line instead of the tests, so
// tests can run real "node" processes (and kill them) without building the binary.
const execEnv = "DUROXIDE_NODE_TEST_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// nodeProc is a "node" process run by a test.
type nodeProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	url    chan string // the URL from the "serving on" line
	http   chan string // the URL from the "dashboard ... on" line (serve_http_test.go)
	exited chan struct{}
}

// noDefaultHTTP adds "--http off" to a serve command that names no --http address:
// a test's node must not take the machine's default dashboard address (127.0.0.1:8233),
// which another node (a test running beside it, a developer's own) may hold; its
// warning would also add a line to stderr. The tests of --http name their address.
func noDefaultHTTP(args []string) []string {
	if len(args) == 0 || args[0] != "serve" {
		return args
	}
	for _, a := range args {
		if a == "--http" || strings.HasPrefix(a, "--http=") {
			return args
		}
	}
	return append(append([]string(nil), args...), "--http", "off")
}

// startNode runs "node args..." as a child process (a serve without --http gets
// "--http off"). The process is stopped (SIGINT, then SIGKILL) when the test ends if
// it still runs.
func startNode(t *testing.T, args ...string) *nodeProc {
	t.Helper()
	return startProcess(t, noDefaultHTTP(args)...)
}

// startProcess is startNode with args as given (a serve without --http takes the
// default dashboard address).
func startProcess(t *testing.T, args ...string) *nodeProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: exec.Command(exe, args...), stderr: &syncBuffer{}, url: make(chan string, 1), http: make(chan string, 1), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), execEnv+"=1")
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "nats://"); i >= 0 && strings.Contains(sc.Text(), "serving on") {
				p.url <- strings.Fields(sc.Text()[i:])[0]
			}
			if i := strings.Index(sc.Text(), "http://"); i >= 0 && strings.HasPrefix(sc.Text(), "dashboard") {
				p.http <- strings.Fields(sc.Text()[i:])[0]
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// serving waits for the node to print its URL.
func (p *nodeProc) serving(t *testing.T) string {
	t.Helper()
	select {
	case u := <-p.url:
		return u
	case <-p.exited:
		t.Fatalf("node exited before serving: %v; stderr: %s", p.cmd.ProcessState, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("node not serving after 30s; stderr: %s", p.stderr.String())
	}
	return ""
}

// kill kills the node with SIGKILL and waits for it to be gone.
func (p *nodeProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// A second "node serve" on a data directory that a running node serves refuses to
// start, naming the directory and the running node's process.
func TestServeRefusesADataDirInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startNode(t, "serve", "--data-dir", dir, "--listen", freeAddr(t))
	first.serving(t)

	second := startNode(t, "serve", "--data-dir", dir, "--listen", freeAddr(t))
	select {
	case <-second.exited:
	case u := <-second.url:
		t.Fatalf("a second node serves the same data directory on %s", u)
	case <-time.After(30 * time.Second):
		t.Fatal("the second node neither served nor exited within 30s")
	}
	if code := second.cmd.ProcessState.ExitCode(); code != exitFailure {
		t.Errorf("second node exited %d, want %d", code, exitFailure)
	}
	checkOneLineError(t, []string{"serve", "--data-dir", dir}, second.stderr.String(),
		fmt.Sprintf("is held by process %d", first.cmd.Process.Pid))
	if !strings.Contains(second.stderr.String(), dir) {
		t.Errorf("error %q does not name the directory %s", second.stderr.String(), dir)
	}
}

// A node killed with SIGKILL and restarted on its data directory takes back every
// partition at once: new instances on all partitions complete promptly, not after
// the dead process's partition lease (30s here) runs out.
func TestRestartAfterKillServesEveryPartitionAtOnce(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	killAndRestart(t, []string{"serve", "--data-dir", dir, "--listen", addr, "--partition-lease", "30s", "--no-service"})
}

// The same for a node on a NATS server that outlives it, restarted with the same
// --node-id: the pins its dead connection held on the partition consumers are
// released at once.
func TestRestartAfterKillWithNodeIDOnExternalNATS(t *testing.T) {
	t.Parallel()
	srv, err := jetstream.StartServer(jetstream.ServerOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	killAndRestart(t, []string{"serve", "--nats-url", srv.ClientURL(), "--node-id", "pod-1", "--partition-lease", "30s", "--no-service"})
}

// killAndRestart runs "node args", runs an instance, kills the node with SIGKILL,
// starts it again with the same args and checks 32 new instances all complete
// within 20s (well under the 30s partition lease of the args: a loaded machine
// running this under -race needs up to ~10s to start 32 CLI processes).
func killAndRestart(t *testing.T, args []string) {
	t.Helper()
	first := startNode(t, args...)
	url := first.serving(t)
	c := func(args ...string) {
		t.Helper()
		if code, _, stderr := cli(t, append(args, "--nats-url", url)...); code != 0 {
			t.Fatalf("%q exited %d: %s", args, code, stderr)
		}
	}
	c("start", "HelloWorld", "--id", "before", "--input", `"kill"`)
	c("wait", "before", "--timeout", "20s")
	first.kill(t)

	second := startNode(t, args...)
	second.serving(t)
	start := time.Now()
	const n = 32
	for i := range n {
		c("start", "HelloWorld", "--id", fmt.Sprintf("after-%d", i), "--input", `"again"`)
	}
	var slowest time.Duration
	for i := range n {
		c("wait", fmt.Sprintf("after-%d", i), "--timeout", "60s")
		slowest = time.Since(start)
	}
	t.Logf("%d instances done %s after the restart", n, slowest)
	if slowest > 20*time.Second {
		t.Fatalf("instances took %s after the killed node restarted; the dead process (its heartbeat or its pins) held partitions until its 30s lease ran out", slowest)
	}
}
