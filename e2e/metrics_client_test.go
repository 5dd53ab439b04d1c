package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duroxide-go/duroxide"
)

// standaloneClient connects a client made by NewClient to rt's embedded server.
func standaloneClient(t *testing.T, rt *duroxide.Runtime, opts duroxide.ClientOptions) *duroxide.Client {
	t.Helper()
	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	t.Cleanup(nc.Close)
	c, err := duroxide.NewClient(context.Background(), nc, opts)
	must(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestMetricsStandaloneClient: a client of NewClient with a registry of its own
// records its starts, raises, cancels and waits on instances a runtime on another
// registry runs; the runtime's registry counts none of them.
func TestMetricsStandaloneClient(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "CmWait", func(ctx *duroxide.OrchestrationContext, _ string) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	rtReg := prometheus.NewRegistry()
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", MetricsRegisterer: rtReg})
	cliReg := prometheus.NewRegistry()
	c := standaloneClient(t, rt, duroxide.ClientOptions{MetricsRegisterer: cliReg})
	if c.MetricsGatherer() != prometheus.Gatherer(cliReg) {
		t.Fatalf("MetricsGatherer is not the given registry")
	}
	ctx := context.Background()

	for i := range 3 {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("cm-%d", i), "CmWait", ""))
	}
	if err := c.StartOrchestration(ctx, "", "CmWait", ""); !errors.Is(err, duroxide.ErrInvalidInput) {
		t.Fatalf("start with an empty id: %v, want ErrInvalidInput (and not counted)", err)
	}
	must(t, c.RaiseEvent(ctx, "cm-0", "go", "a"))
	must(t, c.RaiseEvent(ctx, "cm-1", "go", "b"))
	must(t, c.CancelInstance(ctx, "cm-2", "stop"))
	for i := range 3 {
		waitDone(t, c, fmt.Sprintf("cm-%d", i), sampleWait)
	}

	got := gatherAll(t, cliReg)
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"duroxide_client_orchestration_starts_total", []string{"orchestration_name=CmWait"}, 3},
		{"duroxide_client_external_events_raised_total", []string{"event_name=go"}, 2},
		{"duroxide_client_cancellations_total", nil, 1},
		{"duroxide_client_wait_duration_seconds", nil, 3},
	} {
		if v := got.value(w.name, w.labels...); v != w.want {
			t.Errorf("client registry: %s%v = %v, want %v", w.name, w.labels, v, w.want)
		}
	}
	if len(got) != 4 {
		t.Errorf("client registry holds %d metric families, want only the four client metrics", len(got))
	}
	// The runtime's registry: its own client did nothing, so its client metrics have
	// no sample; its executions are counted as started by a client.
	rtGot := gatherAll(t, rtReg)
	for _, name := range []string{"duroxide_client_orchestration_starts_total", "duroxide_client_external_events_raised_total"} {
		if v := rtGot.value(name); v > 0 {
			t.Errorf("runtime registry: %s = %v, want none (the standalone client's calls counted twice)", name, v)
		}
	}
	for _, name := range []string{"duroxide_client_cancellations_total", "duroxide_client_wait_duration_seconds"} {
		if v := rtGot.value(name); v != 0 {
			t.Errorf("runtime registry: %s = %v, want 0 (the standalone client's calls counted twice)", name, v)
		}
	}
	if v := rtGot.value("duroxide_orchestration_starts_total", "orchestration_name=CmWait", "initiated_by=client"); v != 3 {
		t.Errorf("runtime registry: starts by client = %v, want 3", v)
	}
}

// TestMetricsStandaloneClientBoundedNames: 1,000 distinct orchestration and event
// names a standalone client cannot check against a registry make 100 series each
// plus "other", not 1,000.
func TestMetricsStandaloneClientBoundedNames(t *testing.T) {
	rt := startRuntime(t, duroxide.NewRegistry(), duroxide.Options{Listen: "127.0.0.1:0", OrchestrationConcurrency: -1, ActivityConcurrency: -1})
	c := standaloneClient(t, rt, duroxide.ClientOptions{})
	ctx := context.Background()
	const n = 1000
	for i := range n {
		must(t, c.StartOrchestration(ctx, fmt.Sprintf("bn-%d", i), fmt.Sprintf("Made%d", i), ""))
		must(t, c.RaiseEvent(ctx, "bn-0", fmt.Sprintf("ev%d", i), ""))
	}
	got := gatherAll(t, c.MetricsGatherer())
	for _, w := range []struct{ name, label, first string }{
		{"duroxide_client_orchestration_starts_total", "orchestration_name", "Made0"},
		{"duroxide_client_external_events_raised_total", "event_name", "ev0"},
	} {
		if series := len(got[w.name].GetMetric()); series != 101 {
			t.Errorf("%s: %d series, want 101 (the first 100 names and other)", w.name, series)
		}
		if v := got.value(w.name, w.label+"=other"); v != n-100 {
			t.Errorf("%s{%s=other} = %v, want %d", w.name, w.label, v, n-100)
		}
		if v := got.value(w.name, w.label+"="+w.first); v != 1 {
			t.Errorf("%s{%s=%s} = %v, want 1", w.name, w.label, w.first, v)
		}
	}
}

// TestMetricsTwoClientsOneRegisterer: a second client on a registerer that holds
// the first one's metrics fails with ErrMetricsAlreadyRegistered until the first
// is closed; so does a client on the registerer of a running runtime.
func TestMetricsTwoClientsOneRegisterer(t *testing.T) {
	rtReg := prometheus.NewRegistry()
	rt := startRuntime(t, duroxide.NewRegistry(), duroxide.Options{Listen: "127.0.0.1:0", MetricsRegisterer: rtReg})
	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{MetricsRegisterer: rtReg}); !errors.Is(err, duroxide.ErrMetricsAlreadyRegistered) {
		t.Fatalf("client on the runtime's registerer: %v, want ErrMetricsAlreadyRegistered", err)
	}
	promReg := prometheus.NewRegistry()
	first, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{MetricsRegisterer: promReg})
	must(t, err)
	if _, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{MetricsRegisterer: promReg}); !errors.Is(err, duroxide.ErrMetricsAlreadyRegistered) {
		t.Fatalf("second client on the same registerer: %v, want ErrMetricsAlreadyRegistered", err)
	}
	first.Close()
	first.Close() // twice does nothing
	second, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{MetricsRegisterer: promReg})
	must(t, err)
	defer second.Close()
	must(t, second.CancelInstance(ctx, "nobody", "x"))
	must(t, first.CancelInstance(ctx, "nobody", "x")) // a closed client still works, unrecorded
	if v := gatherAll(t, promReg).value("duroxide_client_cancellations_total"); v != 1 {
		t.Fatalf("cancellations after a closed and a new client = %v, want 1 (the new client's)", v)
	}
}
