package benchload

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/internal/demo"
)

// Run keeps at most InFlight instances running, runs exactly Count, passes the
// configured input and counts failures without stopping.
func TestRunCountInFlightAndFailures(t *testing.T) {
	var running, peak, calls atomic.Int64
	run := func(_ context.Context, id string, in demo.BenchFanOutInput) error {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		calls.Add(1)
		if in.Activities != 3 || in.WorkMs != 2 || !strings.HasPrefix(id, "t-") {
			return errors.New("bad input " + id)
		}
		time.Sleep(time.Millisecond)
		if strings.HasSuffix(id, "7") {
			return errors.New("boom " + id)
		}
		return nil
	}
	res, err := Run(context.Background(), nil, Config{Activities: 3, Work: 2 * time.Millisecond, InFlight: 4, Count: 50,
		IDPrefix: "t-", Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 50 || res.Orchestrations != 50 || res.Activities != 150 {
		t.Fatalf("ran %d, result %+v; want 50 orchestrations, 150 activities", calls.Load(), res)
	}
	if peak.Load() > 4 {
		t.Fatalf("%d instances ran at once, want at most 4", peak.Load())
	}
	if res.Failed != 5 || res.FirstError == nil || !strings.Contains(res.FirstError.Error(), "boom") {
		t.Fatalf("failed %d (first %v), want the 5 ids ending in 7", res.Failed, res.FirstError)
	}
	if !(res.P50 > 0 && res.P50 <= res.P95 && res.P95 <= res.P99 && res.P99 <= res.Max) || res.OrchestrationsPerSec <= 0 {
		t.Fatalf("latencies or rate out of order: %+v", res)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Activities: 1, InFlight: 1}, "either a count or a duration"},
		{Config{Activities: 1, InFlight: 1, Count: 1, Duration: time.Second}, "either a count or a duration"},
		{Config{Activities: -1, InFlight: 1, Count: 1}, "activities must not be negative"},
		{Config{Activities: 10001, InFlight: 1, Count: 1}, "activities must be at most 10000"},
		{Config{Activities: 1, InFlight: 0, Count: 1}, "in-flight count"},
		{Config{Activities: 1, InFlight: 1, Count: 1, Work: time.Microsecond}, "whole milliseconds"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if percentile(d, 0.5) != 50 || percentile(d, 0.99) != 99 || percentile(d, 0.95) != 95 || percentile(nil, 0.5) != 0 {
		t.Fatalf("p50 %d p95 %d p99 %d", percentile(d, 0.5), percentile(d, 0.95), percentile(d, 0.99))
	}
}
