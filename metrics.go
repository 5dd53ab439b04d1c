package duroxide

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Bucket bounds of the histograms: duroxide's specification gives the ranges.
var (
	orchestrationSecondsBuckets = []float64{0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600}
	historySizeBuckets          = []float64{10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
	turnCountBuckets            = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500}
	activitySecondsBuckets      = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	storeSecondsBuckets         = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

// metrics are the runtime's Prometheus metrics (the README's Observability section
// lists them), or a standalone client's four (newClientMetrics). Recording goes
// through nil-safe methods (metrics_record.go); the gauges are read when the
// registry is gathered (metrics_gauges.go).
type metrics struct {
	reg        *Registry     // bounds the name labels (metrics_labels.go); nil for a standalone client
	names      *boundedLabel // bounds orchestration names when reg is nil
	events     *boundedLabel
	registerer prometheus.Registerer
	unregMu    sync.Mutex // unregister may race (Client.Close)
	registered []prometheus.Collector
	where      string // the option the registerer came from, for errors

	// duroxide's specification
	orchStarts, orchCompletions, orchFailures  *prometheus.CounterVec
	orchDuration, orchHistorySize, orchTurns   *prometheus.HistogramVec
	orchInfraErrors, orchConfigErrors, orchCAN *prometheus.CounterVec
	actExecutions                              *prometheus.CounterVec
	actDuration                                *prometheus.HistogramVec
	actInfraErrors, actConfigErrors            *prometheus.CounterVec
	orchPoison, actPoison                      prometheus.Counter
	subCalls                                   *prometheus.CounterVec
	subDuration                                *prometheus.HistogramVec
	storeDuration                              *prometheus.HistogramVec
	storeErrors                                *prometheus.CounterVec
	clientStarts, clientEvents                 *prometheus.CounterVec
	clientCancels                              prometheus.Counter
	clientWait                                 prometheus.Histogram
	// what this design adds
	fenceConflicts                         prometheus.Counter
	turns                                  *prometheus.CounterVec
	turnDuration                           prometheus.Histogram
	cacheHits, cacheMisses, cacheEvictions prometheus.Counter
	deadLetters                            *prometheus.CounterVec
	publishDuration                        *prometheus.HistogramVec
	gauges                                 *gaugeCollector
}

func newMetrics(reg *Registry, registerer prometheus.Registerer) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &metrics{reg: reg, events: newBoundedLabel(maxEventNameLabels), registerer: registerer, where: "Options.MetricsRegisterer"}
	m.orchStarts = counter("duroxide_orchestration_starts_total",
		"Executions started, by how (client, suborchestration, orchestration, continue_as_new).",
		"orchestration_name", "version", "initiated_by")
	m.orchCompletions = counter("duroxide_orchestration_completions_total",
		"Executions ended, by status (completed, failed, continued_as_new) and turn-count range.",
		"orchestration_name", "version", "status", "final_turn_count")
	m.orchFailures = counter("duroxide_orchestration_failures_total",
		"Executions failed, by error kind and category.",
		"orchestration_name", "version", "error_type", "error_category")
	m.orchDuration = histogram("duroxide_orchestration_duration_seconds",
		"Execution time from start to end.", orchestrationSecondsBuckets, "orchestration_name", "version", "status")
	m.orchHistorySize = histogram("duroxide_orchestration_history_size",
		"History events of an execution when it ends.", historySizeBuckets, "orchestration_name")
	m.orchTurns = histogram("duroxide_orchestration_turns",
		"Turns of an execution when it ends.", turnCountBuckets, "orchestration_name")
	m.orchInfraErrors = counter("duroxide_orchestration_infrastructure_errors_total",
		"Executions failed by an infrastructure error.", "orchestration_name", "error_category")
	m.orchConfigErrors = counter("duroxide_orchestration_configuration_errors_total",
		"Executions failed by a configuration error (unregistered, nondeterministic).", "orchestration_name", "error_category")
	m.orchCAN = counter("duroxide_orchestration_continue_as_new_total",
		"Executions ended by continue-as-new.", "orchestration_name")
	m.actExecutions = counter("duroxide_activity_executions_total",
		"Activity work items finished by this node, by outcome and retry attempt (0: first attempt).",
		"activity_name", "outcome", "retry_attempt", "tag")
	m.actDuration = histogram("duroxide_activity_duration_seconds",
		"Activity work item time from fetch to completion.", activitySecondsBuckets, "activity_name", "outcome", "tag")
	m.actInfraErrors = counter("duroxide_activity_infrastructure_errors_total",
		"Activity results that could not be delivered, or infrastructure failures.", "activity_name")
	m.actConfigErrors = counter("duroxide_activity_configuration_errors_total",
		"Activities failed by a configuration error (unregistered).", "activity_name")
	m.orchPoison = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_orchestration_poison_total",
		Help: "Executions failed because their messages were delivered too often."})
	m.actPoison = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_activity_poison_total",
		Help: "Activities failed because their work item was delivered too often."})
	m.subCalls = counter("duroxide_suborchestration_calls_total",
		"Sub-orchestration results received by parents, by outcome (success, failed).",
		"parent_orchestration", "child_orchestration", "outcome")
	m.subDuration = histogram("duroxide_suborchestration_duration_seconds",
		"Sub-orchestration time from the parent's schedule to the parent receiving the result.",
		orchestrationSecondsBuckets, "parent_orchestration", "child_orchestration", "outcome")
	m.storeDuration = histogram("duroxide_provider_operation_duration_seconds",
		"Store calls of the runtime (fetches only when they return an item or an error).", storeSecondsBuckets, "operation", "status")
	m.storeErrors = counter("duroxide_provider_errors_total", "Store calls that failed, by error class.", "operation", "error_type")
	m.defineClientMetrics()

	m.fenceConflicts = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_history_fence_conflicts_total",
		Help: "Turns refused by the history fence: another holder committed to the instance first."})
	m.turns = counter("duroxide_turns_total", "Turn commits, by outcome (committed, fenced, error).", "outcome")
	m.turnDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "duroxide_turn_duration_seconds",
		Help: "Turn time from fetch to commit.", Buckets: storeSecondsBuckets})
	m.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_engine_cache_hits_total",
		Help: "Turns that resumed a cached engine."})
	m.cacheMisses = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_engine_cache_misses_total",
		Help: "Turns of a running execution that replayed its history (no usable cached engine)."})
	m.cacheEvictions = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_engine_cache_evictions_total",
		Help: "Cached engines evicted: to stay within Options.MaxCachedInstances, or parked longer than Options.CachedInstanceIdleTimeout."})
	m.deadLetters = counter("duroxide_dead_letters_total", "Inbox messages this node dead-lettered, by reason class.", "reason")
	m.publishDuration = histogram("duroxide_nats_publish_duration_seconds",
		"JetStream publishes of the store until acknowledged, by stream (outbox: a turn's whole outbox).",
		storeSecondsBuckets, "stream")
	m.gauges = newGaugeCollector()
	return m
}

// newClientMetrics returns the metrics of a standalone client ([NewClient]): only
// the four client metrics, defined as for a runtime, with orchestration names
// bounded to the first maxClientOrchestrationLabels seen.
func newClientMetrics(registerer prometheus.Registerer) *metrics {
	m := &metrics{names: newBoundedLabel(maxClientOrchestrationLabels), events: newBoundedLabel(maxEventNameLabels),
		registerer: registerer, where: "ClientOptions.MetricsRegisterer"}
	m.defineClientMetrics()
	return m
}

// defineClientMetrics defines the four client metrics: the one definition the
// runtime's metrics and a standalone client's share.
func (m *metrics) defineClientMetrics() {
	m.clientStarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duroxide_client_orchestration_starts_total",
		Help: "Starts published by the client."}, []string{"orchestration_name"})
	m.clientEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "duroxide_client_external_events_raised_total",
		Help: "External events raised by the client."}, []string{"event_name"})
	m.clientCancels = prometheus.NewCounter(prometheus.CounterOpts{Name: "duroxide_client_cancellations_total",
		Help: "Cancellations published by the client."})
	m.clientWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "duroxide_client_wait_duration_seconds",
		Help: "WaitForOrchestration calls of the client, however they ended.", Buckets: orchestrationSecondsBuckets})
}

// collectors lists every collector of m, in registration order: the four client
// metrics only for a standalone client's.
func (m *metrics) collectors() []prometheus.Collector {
	if m.gauges == nil {
		return []prometheus.Collector{m.clientStarts, m.clientEvents, m.clientCancels, m.clientWait}
	}
	return []prometheus.Collector{m.orchStarts, m.orchCompletions, m.orchFailures, m.orchDuration, m.orchHistorySize,
		m.orchTurns, m.orchInfraErrors, m.orchConfigErrors, m.orchCAN, m.actExecutions, m.actDuration,
		m.actInfraErrors, m.actConfigErrors, m.orchPoison, m.actPoison, m.subCalls, m.subDuration,
		m.storeDuration, m.storeErrors, m.clientStarts, m.clientEvents, m.clientCancels, m.clientWait,
		m.fenceConflicts, m.turns, m.turnDuration, m.cacheHits, m.cacheMisses, m.cacheEvictions,
		m.deadLetters, m.publishDuration, m.gauges}
}

// register registers every collector, or none: on an error it unregisters what it
// registered and returns an error wrapping [ErrMetricsAlreadyRegistered] (the
// metrics are there already) or the registerer's error.
func (m *metrics) register() error {
	for _, c := range m.collectors() {
		if err := m.registerer.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("%w on %s (another runtime or client of this process uses it: give each its own registry or a constant label, see ErrMetricsAlreadyRegistered): %v",
					ErrMetricsAlreadyRegistered, m.where, err)
			}
			return fmt.Errorf("duroxide: register metrics on %s: %w", m.where, err)
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

// unregister removes the registered collectors (Shutdown), so a later runtime may
// register on the same registerer.
func (m *metrics) unregister() {
	m.unregMu.Lock()
	defer m.unregMu.Unlock()
	for _, c := range m.registered {
		m.registerer.Unregister(c)
	}
	m.registered = nil
}

// unregisterIfFailed unregisters the metrics when *err is set (a failed Start).
func (m *metrics) unregisterIfFailed(err *error) {
	if *err != nil {
		m.unregister()
	}
}

// wireMetrics connects the runtime's client, engine cache and gauges to its
// metrics, once its store is open.
func (r *Runtime) wireMetrics() {
	r.client.metrics, r.client.gatherer = r.metrics, r.gatherer
	r.cache.onEvict = r.metrics.cacheEvicted
	r.metrics.gauges.setSource(runtimeGauges{r})
}

// newMetricsRegistry picks where the runtime's metrics are registered and where
// they are read back: the registerer of [Options.MetricsRegisterer] or, when it is
// nil, a new registry of the runtime's own.
func newMetricsRegistry(reg prometheus.Registerer) (prometheus.Registerer, prometheus.Gatherer) {
	if reg == nil {
		own := prometheus.NewRegistry()
		return own, own
	}
	g, _ := reg.(prometheus.Gatherer)
	return reg, g
}

// MetricsGatherer returns where the runtime's metrics can be read (for a /metrics
// handler: promhttp.HandlerFor(r.MetricsGatherer(), promhttp.HandlerOpts{})): the
// runtime's own registry when [Options.MetricsRegisterer] was nil, the given
// registerer when it is also a [prometheus.Gatherer] (a *prometheus.Registry, or
// prometheus.DefaultRegisterer), and nil otherwise (the caller then gathers from
// wherever its registerer forwards to).
func (r *Runtime) MetricsGatherer() prometheus.Gatherer { return r.gatherer }
