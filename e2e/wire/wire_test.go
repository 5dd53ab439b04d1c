// Package wire tests duroxide-go the way a microservice in any language uses it: over
// plain NATS, against a running `node serve`, importing no duroxide package. Every
// subject, header and field used here is documented in docs/PROTOCOL.md.
package wire

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// encode is the documented instance-id encoding: ASCII letters, digits, '-' and '_'
// stay; every other byte becomes '=' and two upper-case hex digits.
func encode(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// serve builds the node binary and runs `node serve` on a free port.
func serve(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "node")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/node")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build node: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving on") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("node serve did not start")
	}
	return "nats://" + addr
}

type summary struct {
	InstanceID string          `json:"instance_id"`
	State      string          `json:"state"`
	Output     json.RawMessage `json:"output"`
	Failure    *struct {
		Message string `json:"message"`
	} `json:"failure"`
}

// status asks the management service for an instance's status.
func status(t *testing.T, nc *nats.Conn, id string) summary {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"instance": id})
	m, err := nc.Request("duroxide.api.status", req, 5*time.Second)
	if err != nil {
		t.Fatalf("status request: %v", err)
	}
	if e := m.Header.Get("Nats-Service-Error"); e != "" {
		t.Fatalf("status error: %s", e)
	}
	var s summary
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatalf("status reply %q: %v", m.Data, err)
	}
	return s
}

// waitDone waits for an instance to finish: it listens for the documented status
// notices on duroxide.evt.<id> and re-reads the status through the service.
func waitDone(t *testing.T, nc *nats.Conn, id string) summary {
	t.Helper()
	notices, err := nc.SubscribeSync("duroxide.evt." + encode(id))
	if err != nil {
		t.Fatal(err)
	}
	defer notices.Unsubscribe()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s := status(t, nc, id); s.State == "Completed" || s.State == "Failed" {
			return s
		}
		_, _ = notices.NextMsg(time.Second)
	}
	t.Fatalf("%s did not finish", id)
	return summary{}
}

func publish(t *testing.T, js jetstream.JetStream, subject string, body any, msgID string) error {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case []byte:
		data = b
	default:
		data, _ = json.Marshal(b)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	if msgID != "" {
		m.Header.Set("Nats-Msg-Id", msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := js.PublishMsg(ctx, m)
	return err
}

func TestWireProtocol(t *testing.T) {
	url := serve(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("start and wait", func(t *testing.T) {
		id := "wire/hello ü.1"
		start := map[string]string{"type": "StartOrchestration", "instance": id, "name": "HelloWorld", "input": `"Wire"`}
		for i := 0; i < 2; i++ { // a retried publish with the same Msg-Id is deduplicated
			if err := publish(t, js, "duroxide.inbox."+encode(id), start, "start-"+encode(id)); err != nil {
				t.Fatal(err)
			}
		}
		s := waitDone(t, nc, id)
		if s.State != "Completed" || string(s.Output) != `"Hello, Wire!"` {
			t.Fatalf("%+v", s)
		}
	})

	t.Run("wait with a KV watch on the instance view", func(t *testing.T) {
		id := "wire.watched"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		views, err := js.KeyValue(ctx, "duroxide_views")
		if err != nil {
			t.Fatal(err)
		}
		w, err := views.Watch(ctx, "i."+encode(id))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := publish(t, js, "duroxide.inbox."+encode(id), map[string]string{"type": "StartOrchestration", "instance": id, "name": "FanOut", "input": "10"}, ""); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case e := <-w.Updates():
				if e == nil {
					continue // end of the initial values
				}
				var view struct {
					Status string `json:"status"`
					Output string `json:"output"`
				}
				if err := json.Unmarshal(e.Value(), &view); err != nil {
					t.Fatal(err)
				}
				if view.Status == "Completed" {
					if view.Output != "55" {
						t.Fatalf("output %q", view.Output)
					}
					return
				}
			case <-ctx.Done():
				t.Fatal("the instance view never showed Completed")
			}
		}
	})

	t.Run("raise an event", func(t *testing.T) {
		id := "wire-approval"
		if err := publish(t, js, "duroxide.inbox."+id, map[string]string{"type": "StartOrchestration", "instance": id, "name": "Approval"}, ""); err != nil {
			t.Fatal(err)
		}
		if err := publish(t, js, "duroxide.inbox."+id, map[string]string{"type": "ExternalRaised", "instance": id, "name": "approval", "data": `"yes"`}, ""); err != nil {
			t.Fatal(err)
		}
		s := waitDone(t, nc, id)
		if s.State != "Completed" || string(s.Output) != `"approved:yes"` {
			t.Fatalf("%+v", s)
		}
	})

	t.Run("bad messages are dead-lettered with a reason", func(t *testing.T) {
		cases := []struct {
			name, subject string
			body          any
			reason        string
		}{
			{"malformed JSON", "duroxide.inbox.bad-json", []byte(`{"type":`), "not valid JSON"},
			{"unknown type", "duroxide.inbox.bad-type", map[string]string{"type": "Explode"}, `unknown message type "Explode"`},
			{"no type", "duroxide.inbox.no-type", map[string]string{"instance": "no-type"}, `no "type"`},
			{"instance mismatch", "duroxide.inbox.one", map[string]string{"type": "CancelInstance", "instance": "two"}, "does not match"},
			{"bad id escape", "duroxide.inbox.x=ZZ", map[string]string{"type": "CancelInstance"}, "does not name a valid instance"},
			{"oversized input", "duroxide.inbox.big", map[string]string{"type": "StartOrchestration", "name": "HelloWorld", "input": `"` + strings.Repeat("x", 2<<20) + `"`}, "the limit is"},
			{"start without a name", "duroxide.inbox.noname", map[string]string{"type": "StartOrchestration"}, "orchestration name"},
			{"name over 256 bytes", "duroxide.inbox.longname", map[string]string{"type": "ExternalRaised", "name": strings.Repeat("n", 257)}, "the limit is 256"},
			{"version not semver", "duroxide.inbox.banana", map[string]string{"type": "StartOrchestration", "name": "HelloWorld", "version": "banana"}, `version "banana" is not MAJOR.MINOR.PATCH`},
			{"non-canonical token", "duroxide.inbox.nc=2e0", map[string]string{"type": "CancelInstance", "instance": "nc.0"}, "not canonical"},
			{"runtime type on the client subject", "duroxide.inbox.forged", map[string]any{"type": "TimerFired", "execution_id": 1, "id": 2}, "sent only by the runtime"},
			{"start naming a parent", "duroxide.inbox.child", map[string]any{"type": "StartOrchestration", "name": "HelloWorld", "parent_instance": "p", "parent_id": 2}, "may not name a parent"},
			{"literal wildcard subject", "duroxide.inbox.*", map[string]string{"type": "CancelInstance"}, "wildcard token"},
		}
		for _, c := range cases {
			if err := publish(t, js, c.subject, c.body, ""); err != nil {
				t.Fatalf("%s: publish: %v", c.name, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cons, err := js.OrderedConsumer(ctx, "DUROXIDE_DEADLETTER", jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]string{}
		for len(reasons) < len(cases) {
			m, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
			if err != nil {
				t.Fatalf("dead letters so far %v: %v", reasons, err)
			}
			reasons[m.Headers().Get("Duroxide-Original-Subject")] = m.Headers().Get("Duroxide-Reason")
		}
		for _, c := range cases {
			stored := strings.Replace(c.subject, "duroxide.inbox.", "duroxide.in.", 1)
			got := reasons[c.subject] // stored untransformed
			for subj, r := range reasons {
				if strings.HasPrefix(subj, "duroxide.in.") && strings.HasSuffix(subj, "."+strings.TrimPrefix(c.subject, "duroxide.inbox.")+".inbox") {
					got = r
				}
			}
			if !strings.Contains(got, c.reason) {
				t.Errorf("%s (%s): reason %q, want it to mention %q", c.name, stored, got, c.reason)
			}
		}
	})

	t.Run("status of a start no node can run, and of a missing instance", func(t *testing.T) {
		id := "wire-nohandler"
		if err := publish(t, js, "duroxide.inbox."+id, map[string]string{"type": "StartOrchestration", "instance": id, "name": "NoSuchOrchestration"}, ""); err != nil {
			t.Fatal(err)
		}
		fields := func(id string) map[string]any {
			req, _ := json.Marshal(map[string]string{"instance": id})
			m, err := nc.Request("duroxide.api.status", req, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var f map[string]any
			if err := json.Unmarshal(m.Data, &f); err != nil {
				t.Fatal(err)
			}
			return f
		}
		f := fields(id)
		if f["state"] != "Pending" || f["name"] != "NoSuchOrchestration" || !strings.Contains(fmt.Sprint(f["waiting_for"]), `"NoSuchOrchestration"`) {
			t.Errorf("status of a start without a handler: %v", f)
		}
		if _, ok := f["created_at"]; ok {
			t.Errorf("a Pending status has created_at: %v", f)
		}
		// Empty fields are omitted: a missing instance has only its id and state.
		if f := fields("wire-missing"); len(f) != 2 || f["state"] != "NotFound" || f["instance_id"] != "wire-missing" {
			t.Errorf("status of a missing instance: %v", f)
		}
	})

	t.Run("publishes the server refuses", func(t *testing.T) {
		// A subject with more tokens matches no stream: the publish itself fails.
		if err := publish(t, js, "duroxide.inbox.a.b", map[string]string{"type": "CancelInstance"}, ""); err == nil {
			t.Error("publish to a multi-token inbox subject succeeded")
		}
		// Larger than the server's max payload (8 MiB for the embedded server).
		if err := publish(t, js, "duroxide.inbox.huge", make([]byte, 9<<20), ""); err == nil {
			t.Error("publish of 9 MiB succeeded")
		}
	})

	t.Run("the service is discoverable", func(t *testing.T) {
		m, err := nc.Request("$SRV.INFO.duroxide", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Name      string `json:"name"`
			Endpoints []struct {
				Subject string `json:"subject"`
			} `json:"endpoints"`
		}
		if err := json.Unmarshal(m.Data, &info); err != nil {
			t.Fatal(err)
		}
		subjects := map[string]bool{}
		for _, e := range info.Endpoints {
			subjects[e.Subject] = true
		}
		for _, op := range []string{"status", "history", "executions", "list", "info", "execution", "metrics", "queues", "stats", "tree", "values"} {
			if !subjects["duroxide.api."+op] {
				t.Errorf("service has no %s endpoint: %s", op, m.Data)
			}
		}
		if info.Name != "duroxide" {
			t.Fatalf("service info %s", m.Data)
		}
		m, err = nc.Request("duroxide.api.list", []byte(`{"status":"Completed","limit":100}`), 5*time.Second)
		if err != nil || m.Header.Get("Nats-Service-Error") != "" {
			t.Fatalf("list: %v %v", err, m.Header)
		}
		var page struct {
			IDs []string `json:"instance_ids"`
		}
		if err := json.Unmarshal(m.Data, &page); err != nil || !slices.Contains(page.IDs, "wire-approval") {
			t.Fatalf("list of completed instances %s: %v", m.Data, err)
		}
		m, err = nc.Request("duroxide.api.list", []byte(`{"status":"Sleeping"}`), 5*time.Second)
		if err != nil || m.Header.Get("Nats-Service-Error-Code") != "400" {
			t.Fatalf("list with an unknown status: %v %v", err, m.Header)
		}
		m, err = nc.Request("duroxide.api.metrics", nil, 5*time.Second)
		var metrics struct {
			Total int `json:"total_instances"`
		}
		if err != nil || json.Unmarshal(m.Data, &metrics) != nil || metrics.Total < 3 {
			t.Fatalf("metrics %s: %v", m.Data, err)
		}
		if s := status(t, nc, "never-started"); s.State != "NotFound" {
			t.Fatalf("status of a missing instance: %+v", s)
		}
		m, err = nc.Request("duroxide.api.status", []byte(`{"instance":""}`), 5*time.Second)
		if err != nil || m.Header.Get("Nats-Service-Error-Code") != "400" {
			t.Fatalf("empty id: %v %v", err, m.Header)
		}
	})
}
