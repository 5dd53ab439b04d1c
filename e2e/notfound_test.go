package e2e

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
)

// Waiting for an id that never existed ends with ErrInstanceNotFound after the grace
// for a start in flight, not at the caller's deadline.
func TestWaitForMissingInstanceSaysNotFound(t *testing.T) {
	rt := startRuntime(t, duroxide.NewRegistry(), duroxide.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	_, err := rt.Client().WaitForOrchestration(ctx, "never-existed")
	took := time.Since(began)
	if !errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("wait for a missing instance: %v, want ErrInstanceNotFound", err)
	}
	if took < duroxide.NotFoundGrace || took > duroxide.NotFoundGrace+20*time.Second {
		t.Errorf("not found after %v, want just after the %v grace", took, duroxide.NotFoundGrace)
	}
}

// A start that was dead-lettered never ran: the wait says why.
func TestWaitForDeadLetteredStartSaysWhy(t *testing.T) {
	rt := startRuntime(t, duroxide.NewRegistry(), duroxide.Options{})
	js, err := jetstream.New(rt.Conn())
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = js.Publish(ctx, "duroxide.inbox.bad-version", []byte(`{"type":"StartOrchestration","instance":"bad-version","name":"X","version":"banana"}`))
	must(t, err)
	_, err = rt.Client().WaitForOrchestration(ctx, "bad-version")
	if !errors.Is(err, duroxide.ErrInstanceNotFound) || !strings.Contains(err.Error(), `dead-lettered: version "banana" is not MAJOR.MINOR.PATCH`) {
		t.Fatalf("wait for a dead-lettered start: %v", err)
	}
}

// A start of an orchestration no node has registered is logged at warn by the node,
// shown as Pending with what it waits for (status and listing), and waited for (not
// reported NotFound).
func TestStartWithoutHandlerIsPending(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	logger := slog.New(captureHandler{mu: &mu, msgs: &msgs})
	rt := startRuntime(t, duroxide.NewRegistry(), duroxide.Options{Logger: logger})
	c := rt.Client()
	ctx := context.Background()
	must(t, c.StartOrchestration(ctx, "orphan-1", "Later", nil))

	st, err := c.GetStatus(ctx, "orphan-1")
	must(t, err)
	if st.State != duroxide.StatePending || st.Name != "Later" || !strings.Contains(st.WaitingFor, `orchestration "Later"`) {
		t.Fatalf("status %+v, want Pending waiting for Later", st)
	}
	for name, want := range map[string]bool{"": true, "Later": true, "Other": false} {
		page, err := c.ListInstances(ctx, duroxide.ListOptions{Status: "Pending", Name: name})
		must(t, err)
		if got := slices.Contains(page.InstanceIDs, "orphan-1"); got != want {
			t.Errorf("Pending listing for name %q: %v, want orphan-1 listed: %v", name, page.InstanceIDs, want)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		logged := slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "orphan-1:start waits for a handler") })
		mu.Unlock()
		if logged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the missing handler; logged %q", msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Well past the not-found grace the wait goes on: the start exists.
	wctx, cancel := context.WithTimeout(ctx, duroxide.NotFoundGrace+2*time.Second)
	defer cancel()
	if _, err := c.WaitForOrchestration(wctx, "orphan-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for a pending instance: %v, want the deadline", err)
	}
}
