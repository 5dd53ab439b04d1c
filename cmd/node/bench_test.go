package main

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

func TestBenchJSONSummary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := cli(t, "bench", "--count", "20", "--inflight", "4", "--json")
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var s benchSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	if s.Orchestrations != 20 || s.Failed != 0 || s.ActivitiesDone != 100 || s.Activities != 5 || s.InFlight != 4 || s.WorkMs != 10 {
		t.Errorf("counts: %+v, want 20 orchestrations, none failed, 100 activities (5 x 10 ms, 4 in flight)", s)
	}
	if !(s.P50Ms > 0 && s.P50Ms <= s.P95Ms && s.P95Ms <= s.P99Ms && s.P99Ms <= s.MaxMs) {
		t.Errorf("percentiles not ordered: p50 %v p95 %v p99 %v max %v", s.P50Ms, s.P95Ms, s.P99Ms, s.MaxMs)
	}
	// Each instance runs activities of 10 ms, so no result comes sooner.
	if s.P50Ms < 10 {
		t.Errorf("p50 %v ms is shorter than one activity", s.P50Ms)
	}
	if s.OrchPerSec <= 0 || math.Abs(s.ActPerSec-5*s.OrchPerSec) > 1e-6*s.ActPerSec || s.ElapsedSec <= 0 {
		t.Errorf("rates: %v orchestrations/s, %v activities/s over %v s", s.OrchPerSec, s.ActPerSec, s.ElapsedSec)
	}
	if s.LagError != "" || s.LagSec < 0 || s.LastSeq < 20 || s.AppliedSeq > s.LastSeq || s.LagRecords != s.LastSeq-s.AppliedSeq {
		t.Errorf("projector lag: %d records (applied %d of %d), %v s, error %q; want at least one history record per instance",
			s.LagRecords, s.AppliedSeq, s.LastSeq, s.LagSec, s.LagError)
	}
	if s.CPUSec <= 0 || s.DiskBytes <= 0 {
		t.Errorf("CPU %v s, disk %d bytes; want both > 0", s.CPUSec, s.DiskBytes)
	}
	if !strings.Contains(stderr, "node bench: BenchFanOut") {
		t.Errorf("stderr lacks the bench's header line:\n%s", stderr)
	}
}

// With --nats-url the bench drives a running node (which registers BenchFanOut)
// through a client, and reports no disk usage of its own.
func TestBenchAgainstServingNode(t *testing.T) {
	t.Parallel()
	url := serveNode(t, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	code, stdout, stderr := cli(t, "bench", "--nats-url", url, "--count", "10", "--inflight", "3", "--activities", "2", "--json")
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var s benchSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	if s.Orchestrations != 10 || s.Failed != 0 || s.ActivitiesDone != 20 || s.DiskBytes != 0 || !strings.Contains(s.Target, url) {
		t.Errorf("summary %+v: want 10 orchestrations of 2 activities on %s, no disk bytes", s, url)
	}
	if s.LagError != "" || s.LastSeq < 10 {
		t.Errorf("projector lag: applied %d of %d, error %q", s.AppliedSeq, s.LastSeq, s.LagError)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--inflight", "0"}, "in-flight count must be at least 1"},
		{[]string{"bench", "--count", "-1"}, "count must not be negative"},
		{[]string{"bench", "--work", "1500us"}, "whole milliseconds"},
		{[]string{"bench", "--count", "5", "--duration", "1s"}, "not both"},
		{[]string{"bench", "--count", "5", "--timeout", "-1s"}, "timeout must not be negative"},
		{[]string{"bench", "--nats-url", "nats://127.0.0.1:1", "--data-dir", "x"}, "--data-dir is for the embedded node"},
	} {
		code, _, stderr := cli(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tc.args, code, exitUsage)
		}
		checkOneLineError(t, tc.args, stderr, tc.want)
	}
}

// Nodes that do not serve BenchFanOut: the bench ends with an error that says so,
// within its per-instance timeout, instead of waiting forever.
func TestBenchAgainstNodesWithoutTheWorkload(t *testing.T) {
	t.Parallel()
	rt, err := duroxide.Start(context.Background(), duroxide.NewRegistry(), duroxide.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
	})
	start := time.Now()
	args := []string{"bench", "--nats-url", rt.ClientURL(), "--count", "2", "--inflight", "2", "--timeout", "3s", "--json"}
	code, stdout, stderr := cli(t, args...)
	if code != exitFailure {
		t.Fatalf("bench exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("bench took %s with a 3s per-instance timeout", d)
	}
	if !strings.Contains(stderr, "2 of 2 orchestrations failed") || !strings.Contains(stderr, "do the nodes serve BenchFanOut") {
		t.Errorf("stderr does not name the missing orchestration:\n%s", stderr)
	}
}
