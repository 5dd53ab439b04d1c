package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file holds the process side of the chaos test: `node serve` processes built
// from cmd/node whose embedded servers form one JetStream cluster, started, killed
// with SIGKILL and restarted on their own data directories.

// buildNode builds the cmd/node binary into a temporary directory once per test.
func buildNode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "node")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/node").CombinedOutput()
	if err != nil {
		t.Fatalf("build cmd/node: %v\n%s", err, out)
	}
	return bin
}

// chaosFreeAddr returns a free loopback HOST:PORT (route ports of a cluster must be
// known before its servers start).
func chaosFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// chaosNode is one `node serve` process of the cluster, across its restarts.
type chaosNode struct {
	name   string
	client string // client HOST:PORT
	args   []string
	log    *os.File // stdout and stderr of every incarnation

	mu     sync.Mutex
	cmd    *exec.Cmd
	ready  chan struct{} // closed when the incarnation prints "serving on"
	exited chan struct{} // closed when the incarnation has exited
	starts int
}

// chaosCluster is the nodes of one cluster.
type chaosCluster struct {
	t     *testing.T
	bin   string
	nodes []*chaosNode
}

// newChaosCluster prepares n nodes (not started) whose embedded servers form one
// cluster with a partition lease of lease.
func newChaosCluster(t *testing.T, bin string, n int, lease time.Duration) *chaosCluster {
	t.Helper()
	dir := t.TempDir()
	logDir := dir
	if d := os.Getenv("DUROXIDE_CHAOS_LOGDIR"); d != "" {
		logDir = d // keep the node logs after the test
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var clients, routes []string
	for range n {
		clients = append(clients, chaosFreeAddr(t))
		routes = append(routes, chaosFreeAddr(t))
	}
	routeURLs := make([]string, n)
	for i, r := range routes {
		routeURLs[i] = "nats://" + r
	}
	c := &chaosCluster{t: t, bin: bin}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		log, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { log.Close() })
		c.nodes = append(c.nodes, &chaosNode{name: name, client: clients[i], log: log, args: []string{"serve",
			"--data-dir", filepath.Join(dir, name), "--listen", clients[i], "--server-name", name,
			"--cluster-name", "chaos", "--cluster-listen", routes[i], "--routes", strings.Join(routeURLs, ","),
			"--partition-lease", lease.String(), "--shutdown-timeout", "10s"}})
	}
	t.Cleanup(c.stopAll)
	return c
}

// urls returns the client URLs of all nodes, comma-separated.
func (c *chaosCluster) urls() string {
	var u []string
	for _, n := range c.nodes {
		u = append(u, "nats://"+n.client)
	}
	return strings.Join(u, ",")
}

// start starts a new incarnation of node n on its data directory.
func (c *chaosCluster) start(n *chaosNode) {
	c.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.starts++
	fmt.Fprintf(n.log, "=== %s incarnation %d started at %s\n", n.name, n.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, n.args...)
	ready := make(chan struct{})
	cmd.Stdout = &readyWriter{w: n.log, ready: ready}
	cmd.Stderr = n.log
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", n.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.cmd, n.ready, n.exited = cmd, ready, exited
}

// waitReady waits until node n's current incarnation serves, and fails the test if
// it exits or does not serve within timeout.
func (c *chaosCluster) waitReady(n *chaosNode, timeout time.Duration) {
	c.t.Helper()
	n.mu.Lock()
	ready, exited := n.ready, n.exited
	n.mu.Unlock()
	select {
	case <-ready:
	case <-exited:
		c.t.Fatalf("%s exited before serving; its log:\n%s", n.name, c.tail(n))
	case <-time.After(timeout):
		c.t.Fatalf("%s did not serve within %s; its log:\n%s", n.name, timeout, c.tail(n))
	}
}

// kill kills node n's current incarnation with SIGKILL and waits until it is gone.
func (c *chaosCluster) kill(n *chaosNode) {
	c.t.Helper()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if err := cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill %s: %v", n.name, err)
	}
	<-exited
	fmt.Fprintf(n.log, "=== %s killed at %s\n", n.name, time.Now().Format(time.RFC3339Nano))
}

// stopAll interrupts every running node and kills those that do not stop in time.
func (c *chaosCluster) stopAll() {
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(os.Interrupt)
		}
		n.mu.Unlock()
	}
	for _, n := range c.nodes {
		n.mu.Lock()
		cmd, exited := n.cmd, n.exited
		n.mu.Unlock()
		if cmd == nil {
			continue
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
}

// tail returns the last lines of node n's log.
func (c *chaosCluster) tail(n *chaosNode) string {
	b, err := os.ReadFile(n.log.Name())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// tails returns the last lines of every node's log.
func (c *chaosCluster) tails() string {
	var b strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "--- %s log:\n%s\n", n.name, c.tail(n))
	}
	return b.String()
}

// waitHealed waits until every stream and every consumer of the cluster has a
// leader and all its replicas current, so that killing any one node next keeps a
// quorum with every message on it. It returns how long that took.
func waitHealed(ctx context.Context, nc *nats.Conn) (time.Duration, error) {
	begin := time.Now()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	for {
		problem := unhealed(ctx, js)
		if problem == "" {
			return time.Since(begin), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(begin), fmt.Errorf("cluster not healed: %s: %w", problem, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// unhealed returns the first stream or consumer without a leader or with a replica
// that is not current, or "" when there is none.
func unhealed(ctx context.Context, js jetstream.JetStream) string {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	streams := js.ListStreams(rctx)
	for info := range streams.Info() {
		name := info.Config.Name
		if p := unhealedGroup("stream "+name, info.Cluster); p != "" {
			return p
		}
		s, err := js.Stream(rctx, name)
		if err != nil {
			return fmt.Sprintf("stream %s: %v", name, err)
		}
		consumers := s.ListConsumers(rctx)
		for ci := range consumers.Info() {
			if p := unhealedGroup("consumer "+name+"/"+ci.Name, ci.Cluster); p != "" {
				return p
			}
		}
		if err := consumers.Err(); err != nil {
			return fmt.Sprintf("consumers of %s: %v", name, err)
		}
	}
	if err := streams.Err(); err != nil {
		return "streams: " + err.Error()
	}
	return ""
}

func unhealedGroup(what string, ci *jetstream.ClusterInfo) string {
	if ci == nil || ci.Leader == "" {
		return what + " has no leader"
	}
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return fmt.Sprintf("%s: replica %s not current", what, r.Name)
		}
	}
	return ""
}

// readyWriter copies a process's stdout to w and closes ready once it has printed
// the node's "serving on" line.
type readyWriter struct {
	w     *os.File
	ready chan struct{}
	buf   []byte
	done  bool
}

func (r *readyWriter) Write(p []byte) (int, error) {
	if !r.done {
		r.buf = append(r.buf, p...)
		if bytes.Contains(r.buf, []byte("serving on")) {
			r.done = true
			r.buf = nil
			close(r.ready)
		}
	}
	return r.w.Write(p)
}
