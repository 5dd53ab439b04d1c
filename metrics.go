package duroxide

import "github.com/prometheus/client_golang/prometheus"

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
