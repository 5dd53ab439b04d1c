package duroxide

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// forwardingRegisterer is a Registerer that is not a Gatherer.
type forwardingRegisterer struct{ prometheus.Registerer }

func TestNewMetricsRegistry(t *testing.T) {
	reg, g := newMetricsRegistry(nil)
	if reg == nil || g == nil || reg.(*prometheus.Registry) != g.(*prometheus.Registry) {
		t.Fatalf("nil registerer: want one own registry as registerer and gatherer, got %T %T", reg, g)
	}
	given := prometheus.NewRegistry()
	reg, g = newMetricsRegistry(given)
	if reg != prometheus.Registerer(given) || g != prometheus.Gatherer(given) {
		t.Fatalf("a *Registry: want it back as both, got %v %v", reg, g)
	}
	fwd := forwardingRegisterer{given}
	reg, g = newMetricsRegistry(fwd)
	if reg != prometheus.Registerer(fwd) || g != nil {
		t.Fatalf("a registerer that is no gatherer: want it and a nil gatherer, got %v %v", reg, g)
	}
}
