package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestServeCluster runs three `node serve` nodes whose embedded servers form one
// cluster, drives an instance through one node's client port and reads it through
// another's, and checks a node started with --nats-url joins the same work.
func TestServeCluster(t *testing.T) {
	client := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	route := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var routes []string
	for _, r := range route {
		routes = append(routes, "nats://"+r)
	}
	type node struct {
		stdout, stderr syncBuffer
		done           chan int
	}
	t0 := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	nodes := make([]*node, 3)
	for i := range nodes {
		nd := &node{done: make(chan int, 1)}
		nodes[i] = nd
		args := []string{"serve", "--data-dir", t.TempDir(), "--listen", client[i], "--server-name", fmt.Sprintf("n%d", i+1),
			"--cluster-name", "dx", "--cluster-listen", route[i], "--routes", strings.Join(routes, ","),
			"--partition-lease", "3s"}
		go func() { nd.done <- execute(ctx, args, &nd.stdout, &nd.stderr) }()
	}
	t.Cleanup(func() {
		cancel()
		defer func() { t.Logf("%v: nodes stopped", time.Since(t0)) }()
		for i, nd := range nodes {
			select {
			case code := <-nd.done:
				if code != 0 {
					t.Errorf("node %d exited %d: %s", i+1, code, nd.stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Errorf("node %d did not stop", i+1)
			}
		}
	})
	for i, nd := range nodes {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(nd.stdout.String(), "serving on") {
			if time.Now().After(deadline) {
				t.Fatalf("node %d did not start: %s %s", i+1, nd.stdout.String(), nd.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%v: cluster up", time.Since(t0))
	// A fourth node without an embedded server, on the cluster's client port.
	serveNode(t, "--nats-url", "nats://"+client[0])

	if code, out, errOut := cli(t, "start", "FanOut", "--id", "cl-1", "--input", "10", "--nats-url", "nats://"+client[0]); code != 0 {
		t.Fatalf("start: %d %s %s", code, out, errOut)
	}
	code, out, errOut := cli(t, "wait", "cl-1", "--timeout", "60s", "--nats-url", "nats://"+client[2])
	if code != 0 || strings.TrimSpace(out) != "55" {
		t.Fatalf("wait through another node: %d %q %s", code, out, errOut)
	}
	t.Logf("%v: instance done", time.Since(t0))
}
