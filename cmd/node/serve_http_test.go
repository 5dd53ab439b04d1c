package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
	"github.com/duroxide-go/duroxide/jetstream"
)

// httpURL waits for the node to print its dashboard URL.
func (p *nodeProc) httpURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-p.http:
		return u
	case <-p.exited:
		t.Fatalf("node exited before serving HTTP: %v; stderr: %s", p.cmd.ProcessState, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("node not serving HTTP after 60s; stderr: %s", p.stderr.String())
	}
	return ""
}

// get fetches url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// runHello runs a HelloWorld instance through the node at natsURL and waits for it.
func runHello(t *testing.T, natsURL, id string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartOrchestration(ctx, id, demo.HelloWorld, "http"); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForOrchestration(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != duroxide.StateCompleted {
		t.Fatalf("%s is %s: %v", id, st.State, st.Err())
	}
}

// node serve --http serves the probes, the metrics and the dashboard on the
// address it prints.
func TestServeHTTPServesProbesMetricsAndDashboard(t *testing.T) {
	t.Parallel()
	p := startNode(t, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--no-service")
	natsURL := p.serving(t)
	base := p.httpURL(t)
	runHello(t, natsURL, "http-1")
	if code, body := get(t, base+"healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %q", code, body)
	}
	code, body := get(t, base+"metrics")
	if code != http.StatusOK || !strings.Contains(body, "\ngo_goroutines ") {
		t.Errorf("/metrics: %d, no go_goroutines in %.300q", code, body)
	}
	// The runtime's metrics, moved by the instance that ran.
	for _, re := range []string{`(?m)^duroxide_orchestration_completions_total\{[^}]*orchestration_name="HelloWorld"[^}]*\} [1-9]`,
		`(?m)^duroxide_activity_executions_total\{[^}]*activity_name="SayHello"[^}]*\} [1-9]`,
		`(?m)^duroxide_turns_total\{[^}]*\} [1-9]`} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics has no line matching %s", re)
		}
	}
	code, body = get(t, base+"instances")
	if code != http.StatusOK || !strings.Contains(body, `href="instance?id=http-1"`) {
		t.Errorf("/instances: %d, http-1 not listed in %.2000s", code, body)
	}
}

// When the default address is taken (another node on the machine), the node warns
// and keeps serving orchestrations without HTTP.
func TestServeHTTPDefaultAddressTakenWarns(t *testing.T) {
	// Not parallel: it holds the default port, which other tests' nodes try.
	if ln, err := net.Listen("tcp", defaultHTTP); err == nil {
		t.Cleanup(func() { ln.Close() })
	} // else someone already holds it: taken either way
	p := startProcess(t, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--no-service")
	natsURL := p.serving(t)
	runHello(t, natsURL, "no-http")
	if s := p.stderr.String(); !strings.Contains(s, "HTTP disabled: the default address cannot be bound") || !strings.Contains(s, defaultHTTP) {
		t.Errorf("no warning naming %s in stderr: %s", defaultHTTP, s)
	}
}

// An address given explicitly that cannot be bound fails the start with one line
// naming it.
func TestServeHTTPExplicitAddressTakenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	args := []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", addr, "--no-service"}
	code, _, stderr := cli(t, args...)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	checkOneLineError(t, args, stderr, "--http "+addr+": cannot listen")

	args = []string{"serve", "--data-dir", t.TempDir(), "--http", "nonsense"}
	code, _, stderr = cli(t, args...)
	if code == 0 {
		t.Errorf("--http nonsense: exit 0")
	}
	if !strings.Contains(stderr, `--http "nonsense"`) {
		t.Errorf("--http nonsense: stderr %q does not name the flag", stderr)
	}
}

// /readyz fails while the node's NATS server is down and recovers when it is back.
func TestServeReadyzFollowsJetStream(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	start := func() *serverHandle {
		srv, err := jetstream.StartServer(jetstream.ServerOptions{DataDir: dir, Listen: addr})
		if err != nil {
			t.Fatal(err)
		}
		return &serverHandle{srv.Shutdown, srv.WaitForShutdown}
	}
	srv := start()
	t.Cleanup(func() { srv.stop() })
	p := startNode(t, "serve", "--nats-url", "nats://"+addr, "--http", "127.0.0.1:0", "--no-service")
	p.serving(t)
	base := p.httpURL(t)
	waitReadyz(t, base, http.StatusOK, "")
	srv.stop()
	waitReadyz(t, base, http.StatusServiceUnavailable, "not ready")
	// The pages answer 503 with the failed read, neither hanging nor a 500.
	for _, page := range []string{"instances", "system", "instance?id=x"} {
		if code, body := get(t, base+page); code != http.StatusServiceUnavailable || !strings.Contains(body, "Store unavailable") {
			t.Errorf("/%s with NATS down: %d %.300q", page, code, body)
		}
	}
	if code, _ := get(t, base+"healthz"); code != http.StatusOK {
		t.Errorf("/healthz with NATS down: %d", code)
	}
	srv = start()
	waitReadyz(t, base, http.StatusOK, "")
}

type serverHandle struct{ shutdown, wait func() }

func (s *serverHandle) stop() { s.shutdown(); s.wait() }

// waitReadyz polls /readyz until it answers code (with want in the body), for at
// most 90s.
func waitReadyz(t *testing.T, base string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		c, body := get(t, base+"readyz")
		if c == code && strings.Contains(body, want) {
			return
		}
		last = body
		time.Sleep(200 * time.Millisecond) // polling interval, not a wait for an event
	}
	t.Fatalf("/readyz never answered %d %q within 90s; last: %q", code, want, last)
}
