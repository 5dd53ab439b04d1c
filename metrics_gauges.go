package duroxide

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/duroxide-go/duroxide/store"
)

// gaugeReadTimeout bounds the reads one gather of the gauges makes.
const gaugeReadTimeout = 3 * time.Second

// gaugeSource is what the gauges read when the registry is gathered. A runtime is
// one (runtimeGauges); tests use fakes.
type gaugeSource interface {
	queueDepths(ctx context.Context) (*QueueDepths, error)
	systemMetrics(ctx context.Context) (*SystemMetrics, error)
	projectorLag(ctx context.Context) (*ProjectorLag, error)
	ownedPartitions() int
	ownedSessions() int
}

// gaugeCollector reads the gauges when the registry is gathered, so they cost
// nothing between scrapes. A value whose read fails (no projector yet, the store
// unreachable) is left out of that gather rather than reported stale.
type gaugeCollector struct {
	src atomic.Pointer[gaugeSource] // set once the runtime's store is open

	active, orchDepth, workDepth, timerDepth *prometheus.Desc
	lagRecords, lagSeconds                   *prometheus.Desc
	partitions, sessions                     *prometheus.Desc
}

func newGaugeCollector() *gaugeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &gaugeCollector{
		active: d("duroxide_active_orchestrations",
			"Instances of the namespace with an execution under way, by state (running, continued_as_new), as the management views hold them (see the projector lag).", "state"),
		orchDepth:  d("duroxide_orchestrator_queue_depth", "Unprocessed instance messages of the namespace (timers excluded)."),
		workDepth:  d("duroxide_worker_queue_depth", "Activity work items of the namespace not yet completed."),
		timerDepth: d("duroxide_timer_queue_depth", "Durable timers of the namespace not yet fired."),
		lagRecords: d("duroxide_projector_lag_records", "History records the management views have not applied yet."),
		lagSeconds: d("duroxide_projector_lag_seconds", "Age of the oldest history record the management views have not applied (0: caught up)."),
		partitions: d("duroxide_inbox_partitions_owned", "Inbox partitions this node owns (runs the orchestrations of)."),
		sessions:   d("duroxide_sessions_owned", "Activity sessions this node owns."),
	}
}

func (g *gaugeCollector) setSource(s gaugeSource) { g.src.Store(&s) }

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.active, g.orchDepth, g.workDepth, g.timerDepth, g.lagRecords, g.lagSeconds, g.partitions, g.sessions} {
		ch <- d
	}
}

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	p := g.src.Load()
	if p == nil {
		return
	}
	src := *p
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(g.partitions, float64(src.ownedPartitions()))
	gauge(g.sessions, float64(src.ownedSessions()))
	ctx, cancel := context.WithTimeout(context.Background(), gaugeReadTimeout)
	defer cancel()
	if q, err := src.queueDepths(ctx); err == nil {
		gauge(g.orchDepth, float64(q.OrchestratorQueue))
		gauge(g.workDepth, float64(q.WorkerQueue))
		gauge(g.timerDepth, float64(q.TimerQueue))
	}
	if l, err := src.projectorLag(ctx); err == nil {
		gauge(g.lagRecords, float64(l.Records))
		gauge(g.lagSeconds, l.Behind.Seconds())
	}
	if s, err := src.systemMetrics(ctx); err == nil {
		gauge(g.active, float64(s.RunningInstances), "running")
		gauge(g.active, float64(s.ContinuedAsNewInstances), "continued_as_new")
	}
}

// runtimeGauges reads the gauges of a runtime.
type runtimeGauges struct{ r *Runtime }

func (s runtimeGauges) queueDepths(ctx context.Context) (*QueueDepths, error) {
	return s.r.client.QueueDepths(ctx)
}

// systemMetrics reads the views as they are, without waiting for the projector
// (the lag gauges say how far behind they are), so a gather under load does not
// stall; a store with views of its own answers as it does.
func (s runtimeGauges) systemMetrics(ctx context.Context) (*SystemMetrics, error) {
	if now, ok := s.r.client.mgmt().(interface {
		SystemMetricsNow(context.Context) (*store.SystemMetrics, error)
	}); ok {
		return now.SystemMetricsNow(ctx)
	}
	return s.r.client.SystemMetrics(ctx)
}

func (s runtimeGauges) projectorLag(ctx context.Context) (*ProjectorLag, error) {
	return s.r.client.ProjectorLag(ctx)
}

func (s runtimeGauges) ownedPartitions() int { return len(s.r.Partitions()) }
func (s runtimeGauges) ownedSessions() int   { return len(s.r.OwnedSessions()) }
