package duroxide

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// The failure paths the e2e workload does not reach: a poisoned execution, an
// infrastructure failure, a poisoned activity and an undeliverable result.
func TestMetricsRecordPoisonAndInfrastructureFailures(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterOrchestration(reg, "O", func(*OrchestrationContext, string) (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}
	m := newMetrics(reg, prometheus.NewRegistry())
	started := history.Event{EventID: 1, ExecutionID: 1, TimestampMs: 1000, Type: history.OrchestrationStarted, Name: "O", Version: DefaultVersion}
	fail := func(cat history.Category, kind string) {
		item := &store.OrchestrationItem{Instance: "i", ExecutionID: 1, History: []history.Event{started}}
		m.committed(item, &store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{{EventID: 2, ExecutionID: 1, TimestampMs: 3500,
			Type: history.OrchestrationFailed, Details: &history.ErrorDetails{Category: cat, Kind: kind}}}})
	}
	fail(history.Poison, history.KindPoison)
	fail(history.Infrastructure, history.KindStore)
	checks := []struct {
		what string
		got  float64
		want float64
	}{
		{"orchestration poison", read(t, m.orchPoison), 1},
		{"poison failure", read(t, m.orchFailures.WithLabelValues("O", DefaultVersion, history.KindPoison, "poison")), 1},
		{"infrastructure errors", read(t, m.orchInfraErrors.WithLabelValues("O", "infrastructure")), 1},
		{"failed completions (2 turns)", read(t, m.orchCompletions.WithLabelValues("O", DefaultVersion, "failed", "1-5")), 2},
		{"committed turns", read(t, m.turns.WithLabelValues("committed")), 2},
	}
	lease := &store.WorkLease{Item: store.WorkItem{Type: store.ActivityExecute, Name: "A", RetryAttempt: 12}}
	m.activityDone(lease, &store.WorkItem{Type: store.ActivityFailed, Details: &history.ErrorDetails{Category: history.Poison, Kind: history.KindPoison}}, time.Now())
	m.activityUndelivered(lease)
	checks = append(checks, []struct {
		what string
		got  float64
		want float64
	}{
		{"activity poison", read(t, m.actPoison), 1},
		{"poisoned execution (unregistered name, retry 10+)", read(t, m.actExecutions.WithLabelValues(unknownLabel, "poison", "10+", "default")), 1},
		{"undelivered result", read(t, m.actInfraErrors.WithLabelValues(unknownLabel)), 1},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	// Duration from the start event to the failure: 2.5 s each.
	var d dto.Metric
	if err := m.orchDuration.WithLabelValues("O", DefaultVersion, "failed").(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	if h := d.GetHistogram(); h.GetSampleCount() != 2 || h.GetSampleSum() != 5 {
		t.Errorf("duration: %d samples summing %v s, want 2 summing 5", h.GetSampleCount(), h.GetSampleSum())
	}
}

// read is a counter's value.
func read(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}
