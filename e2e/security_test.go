package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// securityServer starts a nats-server configured by the conf block of
// docs/SECURITY.md, so the documented permissions are the tested ones.
func securityServer(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/SECURITY.md")
	must(t, err)
	_, rest, ok := strings.Cut(string(doc), "```conf\n")
	conf, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/SECURITY.md has no ```conf block")
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	must(t, os.WriteFile(path, []byte(conf), 0o600))
	opts, err := server.ProcessConfigFile(path)
	must(t, err)
	opts.StoreDir = t.TempDir()
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	must(t, err)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv.ClientURL()
}

// asyncErrs collects a connection's asynchronous errors (permission violations).
type asyncErrs struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err.Error())
	a.mu.Unlock()
}

// waitFor reports whether an error naming subject arrives within a generous bound.
func (a *asyncErrs) waitFor(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for _, e := range a.errs {
			if strings.Contains(strings.ToLower(e), "permissions violation") && strings.Contains(e, subject) {
				a.mu.Unlock()
				return
			}
		}
		a.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t.Errorf("no permissions violation for %q; async errors: %v", subject, a.errs)
}

func connectAs(t *testing.T, url, user, pass, inboxPrefix string) (*nats.Conn, *asyncErrs) {
	t.Helper()
	errs := &asyncErrs{}
	opts := []nats.Option{nats.UserInfo(user, pass), nats.ErrorHandler(errs.handler)}
	if inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(inboxPrefix))
	}
	nc, err := nats.Connect(url, opts...)
	must(t, err)
	t.Cleanup(nc.Close)
	return nc, errs
}

func startSecureNode(t *testing.T, url, user, pass, ns string) *duroxide.Runtime {
	t.Helper()
	reg := duroxide.NewRegistry()
	must(t, demo.Register(reg))
	rt := startRuntime(t, reg, duroxide.Options{NATSURL: url, NATSOptions: []nats.Option{nats.UserInfo(user, pass)}, Namespace: ns})
	svc, err := duroxide.StartService(rt.Client())
	must(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	return rt
}

// svcStatus reads an instance's state and output through the management service.
func svcStatus(t *testing.T, nc *nats.Conn, ns, id string) (state, output string) {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"instance": id})
	m, err := nc.Request(ns+".api.status", req, 5*time.Second)
	must(t, err)
	if e := m.Header.Get("Nats-Service-Error"); e != "" {
		t.Fatalf("status of %s: %s", id, e)
	}
	var s struct {
		State  string          `json:"state"`
		Output json.RawMessage `json:"output"`
	}
	must(t, json.Unmarshal(m.Data, &s))
	return s.State, string(s.Output)
}

func svcWaitState(t *testing.T, nc *nats.Conn, ns, id, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, out := svcStatus(t, nc, ns, id)
		if state == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", id, state, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func svcPublish(ctx context.Context, js jetstream.JetStream, subject string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = js.Publish(ctx, subject, data)
	return err
}

// TestLeastPrivilege checks the setup of docs/SECURITY.md with real NATS accounts,
// users and permissions.
func TestLeastPrivilege(t *testing.T) {
	url := securityServer(t)
	rt := startSecureNode(t, url, "duroxide-node", "node-secret", "duroxide")
	acmeNode := startSecureNode(t, url, "acme-node", "acme-node-secret", "acme")
	_ = acmeNode

	svc, svcErrs := connectAs(t, url, "duroxide-svc", "svc-secret", "_INBOX_duroxide_svc")
	js, err := jetstream.New(svc)
	must(t, err)
	ctx := context.Background()

	// Watch the namespace's notices from the other account, unrestricted there.
	acmeAdmin, _ := connectAs(t, url, "acme-node", "acme-node-secret", "")
	leak, err := acmeAdmin.SubscribeSync("duroxide.>")
	must(t, err)
	must(t, acmeAdmin.Flush())

	const id = "sec-1"
	must(t, svcPublish(ctx, js, "duroxide.inbox."+id, map[string]string{"type": "StartOrchestration", "instance": id, "name": demo.Approval}))
	svcWaitState(t, svc, "duroxide", id, "Running")

	// The timer Approval waits on, as a forger would learn it.
	var timerID uint64
	deadline := time.Now().Add(30 * time.Second)
	for timerID == 0 && time.Now().Before(deadline) {
		evs, err := rt.Client().ReadHistory(ctx, id, 0)
		must(t, err)
		for _, e := range evs {
			if e.Type == history.TimerCreated {
				timerID = e.EventID
			}
		}
		if timerID == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if timerID == 0 {
		t.Fatal("Approval created no timer")
	}
	forged := map[string]any{"type": "TimerFired", "instance": id, "execution_id": 1, "id": timerID, "fire_at_ms": time.Now().UnixMilli()}

	t.Run("runtime subjects are refused", func(t *testing.T) {
		if err := svcPublish(ctx, js, "duroxide.rt."+id, forged); err == nil {
			t.Error("publish of TimerFired on duroxide.rt was acknowledged")
		}
		svcErrs.waitFor(t, "duroxide.rt."+id)
		sched := nats.NewMsg("duroxide.timer." + id + ".1.99")
		sched.Header.Set(jetstream.ScheduleHeader, "@at "+time.Now().UTC().Format(time.RFC3339))
		sched.Header.Set(jetstream.ScheduleTargetHeader, "duroxide.rt."+id)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := js.PublishMsg(pctx, sched); err == nil {
			t.Error("a timer schedule was acknowledged")
		}
		svcErrs.waitFor(t, "duroxide.timer."+id+".1.99")
	})

	t.Run("a runtime message on the client subject is dead-lettered", func(t *testing.T) {
		must(t, svcPublish(ctx, js, "duroxide.inbox."+id, forged))
		reason := deadLetterReason(t, rt, "duroxide.dead."+id)
		if !strings.Contains(reason, "sent only by the runtime") {
			t.Errorf("reason %q", reason)
		}
		// Messages of one instance are handled in order: had the forged timer been
		// applied, Approval would have returned "timeout" before seeing the event.
		must(t, svcPublish(ctx, js, "duroxide.inbox."+id, map[string]string{"type": "ExternalRaised", "instance": id, "name": demo.ApprovalEvent, "data": `"yes"`}))
		if out := svcWaitState(t, svc, "duroxide", id, "Completed"); out != `"approved:yes"` {
			t.Errorf("output %s, want \"approved:yes\"", out)
		}
	})

	t.Run("no raw history, no deletes", func(t *testing.T) {
		req, _ := json.Marshal(map[string]string{"instance": id})
		if m, err := svc.Request("duroxide.api.history", req, 2*time.Second); err == nil {
			t.Errorf("history request answered: %s", m.Data)
		}
		svcErrs.waitFor(t, "duroxide.api.history")
		if _, err := svc.Request("$JS.API.DIRECT.GET.DUROXIDE_HISTORY", []byte(`{"next_by_subj":"duroxide.hist.>"}`), 2*time.Second); err == nil {
			t.Error("direct get of the history stream answered")
		}
		svcErrs.waitFor(t, "$JS.API.DIRECT.GET.DUROXIDE_HISTORY")
		if _, err := svc.Request("$JS.API.STREAM.PURGE.DUROXIDE_HISTORY", nil, 2*time.Second); err == nil {
			t.Error("purge answered")
		}
		svcErrs.waitFor(t, "$JS.API.STREAM.PURGE.DUROXIDE_HISTORY")
		sub, err := svc.SubscribeSync("_INBOX.>")
		must(t, err)
		defer func() { _ = sub.Unsubscribe() }()
		svcErrs.waitFor(t, "_INBOX.>")
		if evs, err := rt.Client().ReadHistory(ctx, id, 0); err != nil || len(evs) == 0 {
			t.Errorf("history after the refused purge: %d events, %v", len(evs), err)
		}
	})

	t.Run("namespaces are isolated", func(t *testing.T) {
		if m, err := leak.NextMsg(200 * time.Millisecond); err == nil {
			t.Errorf("the acme account saw %s", m.Subject)
		}
		ajs, err := jetstream.New(acmeAdmin)
		must(t, err)
		if _, err := ajs.Stream(ctx, "DUROXIDE_INBOX"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("acme looks up DUROXIDE_INBOX: %v", err)
		}
		acmeSvc, acmeErrs := connectAs(t, url, "acme-svc", "acme-svc-secret", "_INBOX_acme_svc")
		if _, err := acmeSvc.Request("duroxide.api.status", []byte(`{"instance":"sec-1"}`), 2*time.Second); err == nil {
			t.Error("acme's service user read duroxide's status")
		}
		acmeErrs.waitFor(t, "duroxide.api.status")
		acmeJS, err := jetstream.New(acmeSvc)
		must(t, err)
		must(t, svcPublish(ctx, acmeJS, "acme.inbox.a1", map[string]string{"type": "StartOrchestration", "instance": "a1", "name": demo.HelloWorld, "input": `"acme"`}))
		if out := svcWaitState(t, acmeSvc, "acme", "a1", "Completed"); out != `"Hello, acme!"` {
			t.Errorf("acme output %s", out)
		}
	})
}

// deadLetterReason waits for a dead letter on subject and returns its reason.
func deadLetterReason(t *testing.T, rt *duroxide.Runtime, subject string) string {
	t.Helper()
	js, err := jetstream.New(rt.Conn())
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := strings.SplitN(subject, ".", 2)[0]
	cons, err := js.OrderedConsumer(ctx, strings.ToUpper(ns)+"_DEADLETTER", jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	must(t, err)
	m, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter on %s: %v", subject, err)
	}
	return m.Headers().Get("Duroxide-Reason")
}
