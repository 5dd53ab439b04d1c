package duroxide

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricSpec is one metric family: its name, type and label names.
type metricSpec struct {
	name   string
	typ    dto.MetricType
	labels []string
}

var (
	counter   = dto.MetricType_COUNTER
	gauge     = dto.MetricType_GAUGE
	histogram = dto.MetricType_HISTOGRAM
)

// duroxideMetricSpec is duroxide 0.1.26's metrics specification (its
// docs/metrics-specification.md, as the project's reference notes on duroxide's
// metrics list it), with one change the notes ask for: continue_as_new_total drops
// its execution_id label (unbounded).
var duroxideMetricSpec = []metricSpec{
	{"duroxide_orchestration_starts_total", counter, []string{"orchestration_name", "version", "initiated_by"}},
	{"duroxide_orchestration_completions_total", counter, []string{"orchestration_name", "version", "status", "final_turn_count"}},
	{"duroxide_orchestration_failures_total", counter, []string{"orchestration_name", "version", "error_type", "error_category"}},
	{"duroxide_orchestration_duration_seconds", histogram, []string{"orchestration_name", "version", "status"}},
	{"duroxide_orchestration_history_size", histogram, []string{"orchestration_name"}},
	{"duroxide_orchestration_turns", histogram, []string{"orchestration_name"}},
	{"duroxide_orchestration_infrastructure_errors_total", counter, []string{"orchestration_name", "error_category"}},
	{"duroxide_orchestration_configuration_errors_total", counter, []string{"orchestration_name", "error_category"}},
	{"duroxide_orchestration_continue_as_new_total", counter, []string{"orchestration_name"}},
	{"duroxide_active_orchestrations", gauge, []string{"state"}},
	{"duroxide_orchestrator_queue_depth", gauge, nil},
	{"duroxide_worker_queue_depth", gauge, nil},
	{"duroxide_activity_executions_total", counter, []string{"activity_name", "outcome", "retry_attempt", "tag"}},
	{"duroxide_activity_duration_seconds", histogram, []string{"activity_name", "outcome", "tag"}},
	{"duroxide_activity_infrastructure_errors_total", counter, []string{"activity_name"}},
	{"duroxide_activity_configuration_errors_total", counter, []string{"activity_name"}},
	{"duroxide_orchestration_poison_total", counter, nil},
	{"duroxide_activity_poison_total", counter, nil},
	{"duroxide_suborchestration_calls_total", counter, []string{"parent_orchestration", "child_orchestration", "outcome"}},
	{"duroxide_suborchestration_duration_seconds", histogram, []string{"parent_orchestration", "child_orchestration", "outcome"}},
	{"duroxide_provider_operation_duration_seconds", histogram, []string{"operation", "status"}},
	{"duroxide_provider_errors_total", counter, []string{"operation", "error_type"}},
	{"duroxide_client_orchestration_starts_total", counter, []string{"orchestration_name"}},
	{"duroxide_client_external_events_raised_total", counter, []string{"event_name"}},
	{"duroxide_client_cancellations_total", counter, nil},
	{"duroxide_client_wait_duration_seconds", histogram, nil},
}

// addedMetricSpec are the metrics this design adds (README, Observability).
var addedMetricSpec = []metricSpec{
	{"duroxide_history_fence_conflicts_total", counter, nil},
	{"duroxide_turns_total", counter, []string{"outcome"}},
	{"duroxide_turn_duration_seconds", histogram, nil},
	{"duroxide_engine_cache_hits_total", counter, nil},
	{"duroxide_engine_cache_misses_total", counter, nil},
	{"duroxide_engine_cache_evictions_total", counter, nil},
	{"duroxide_projector_lag_records", gauge, nil},
	{"duroxide_projector_lag_seconds", gauge, nil},
	{"duroxide_inbox_partitions_owned", gauge, nil},
	{"duroxide_dead_letters_total", counter, []string{"reason"}},
	{"duroxide_nats_publish_duration_seconds", histogram, []string{"stream"}},
	{"duroxide_sessions_owned", gauge, nil},
	{"duroxide_timer_queue_depth", gauge, nil},
}

type fakeGauges struct{}

func (fakeGauges) queueDepths(context.Context) (*QueueDepths, error) {
	return &QueueDepths{OrchestratorQueue: 1, WorkerQueue: 2, TimerQueue: 3}, nil
}
func (fakeGauges) systemMetrics(context.Context) (*SystemMetrics, error) {
	return &SystemMetrics{RunningInstances: 4}, nil
}
func (fakeGauges) projectorLag(context.Context) (*ProjectorLag, error) {
	return &ProjectorLag{Records: 5}, nil
}
func (fakeGauges) ownedPartitions() int { return 6 }
func (fakeGauges) ownedSessions() int   { return 7 }

var fqNameRe = regexp.MustCompile(`fqName: "([^"]+)"`)

// TestMetricsMatchSpecification checks that the runtime registers exactly the
// metrics of duroxide's specification and of this design, each with its type and
// label names.
func TestMetricsMatchSpecification(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(NewRegistry(), reg)
	if err := m.register(); err != nil {
		t.Fatal(err)
	}
	m.gauges.setSource(fakeGauges{})
	specs := map[string]metricSpec{}
	for _, s := range slices.Concat(duroxideMetricSpec, addedMetricSpec) {
		specs[s.name] = s
	}
	// Give every vector one child (a vector without children is not gathered),
	// with as many label values as the specification has label names.
	for _, c := range m.collectors() {
		descs := make(chan *prometheus.Desc, 16)
		c.Describe(descs)
		close(descs)
		for d := range descs {
			name := fqNameRe.FindStringSubmatch(d.String())[1]
			s, ok := specs[name]
			if !ok {
				t.Errorf("%s is registered but in no specification list (document it)", name)
				continue
			}
			values := make([]string, len(s.labels))
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s: the specification's %d labels do not fit: %v", name, len(s.labels), p)
					}
				}()
				switch v := c.(type) {
				case *prometheus.CounterVec:
					v.WithLabelValues(values...)
				case *prometheus.HistogramVec:
					v.WithLabelValues(values...)
				}
			}()
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	for _, s := range specs {
		f := got[s.name]
		if f == nil {
			t.Errorf("%s is missing", s.name)
			continue
		}
		if f.GetType() != s.typ {
			t.Errorf("%s is a %v, want a %v", s.name, f.GetType(), s.typ)
		}
		for _, mt := range f.GetMetric() {
			var names []string
			for _, l := range mt.GetLabel() {
				names = append(names, l.GetName())
			}
			want := slices.Clone(s.labels)
			slices.Sort(want)
			if !slices.Equal(names, want) { // Gather sorts label pairs by name
				t.Errorf("%s has labels %v, want %v", s.name, names, want)
			}
		}
	}
	if len(got) != len(specs) {
		t.Errorf("gathered %d families, the specification lists %d", len(got), len(specs))
	}
}

// TestMetricsRegisterTwice: a second registration on the same registerer fails with
// ErrMetricsAlreadyRegistered and leaves nothing behind; a constant label tells two
// runtimes apart; unregistering frees the names.
func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := newMetrics(NewRegistry(), reg)
	if err := first.register(); err != nil {
		t.Fatal(err)
	}
	second := newMetrics(NewRegistry(), reg)
	err := second.register()
	if !errors.Is(err, ErrMetricsAlreadyRegistered) || !strings.Contains(err.Error(), "MetricsRegisterer") {
		t.Fatalf("second register: %v, want ErrMetricsAlreadyRegistered naming the option", err)
	}
	if len(second.registered) != 0 {
		t.Fatalf("a failed register left %d collectors registered", len(second.registered))
	}
	first.unregister()
	again := newMetrics(NewRegistry(), reg)
	if err := again.register(); err != nil {
		t.Fatalf("register after the first unregistered: %v", err)
	}
	shared := prometheus.NewRegistry()
	a := newMetrics(NewRegistry(), prometheus.WrapRegistererWith(prometheus.Labels{"node": "a"}, shared))
	b := newMetrics(NewRegistry(), prometheus.WrapRegistererWith(prometheus.Labels{"node": "b"}, shared))
	if err := a.register(); err != nil {
		t.Fatalf("node a: %v", err)
	}
	if err := b.register(); err != nil {
		t.Fatalf("node b: %v", err)
	}
}
