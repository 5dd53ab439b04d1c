package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// node bench --idle N --restart: every instance waits, the restarted node serves
// every partition again, and sampled raises complete on both sides of the restart.
func TestBenchIdleRestartJSON(t *testing.T) {
	t.Parallel()
	prof := filepath.Join(t.TempDir(), "heap.pprof")
	code, stdout, stderr := cli(t, "bench", "--idle", "60", "--inflight", "8", "--partitions", "4", "--sample", "5",
		"--restart", "--settle", "10ms", "--memprofile", prof, "--json")
	if code != 0 {
		t.Fatalf("bench --idle exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var s idleSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	if s.Instances != 60 || s.Waiting != 60 || s.Failed != 0 || s.Partitions != 4 || s.CreatePerS <= 0 {
		t.Errorf("load: %+v; want 60 of 60 waiting on 4 partitions", s)
	}
	if s.Settled == nil || s.Settled.HeapInuseBytes == 0 || s.SettleSec != 0.01 {
		t.Errorf("settled %+v after %v s: want the memory measured after 10 ms", s.Settled, s.SettleSec)
	}
	if s.Loaded.HeapInuseBytes == 0 || s.Loaded.Goroutines == 0 || s.DiskBytes <= 0 {
		t.Errorf("loaded memory %+v, disk %d: want heap, goroutines and disk measured", s.Loaded, s.DiskBytes)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && (s.Loaded.RSSBytes <= 0 || s.Loaded.RSSPeakBytes < s.Loaded.RSSBytes) {
		t.Errorf("RSS %d, peak %d: want RSS > 0 and peak >= RSS", s.Loaded.RSSBytes, s.Loaded.RSSPeakBytes)
	}
	var hist *streamSize
	for i := range s.Streams {
		if s.Streams[i].Name == "DUROXIDE_HISTORY" {
			hist = &s.Streams[i]
		}
	}
	if hist == nil || hist.Subjects < 60 || hist.Messages < 60 {
		t.Errorf("streams %+v: want the history stream with at least one subject and record per instance", s.Streams)
	}
	if s.Raise.Count != 5 || s.Raise.P50Ms <= 0 || s.Raise.MaxMs < s.Raise.P50Ms {
		t.Errorf("raise before the restart: %+v, want 5 timed raises", s.Raise)
	}
	r := s.Restart
	if r == nil {
		t.Fatalf("no restart in the summary:\n%s", stdout)
	}
	if r.AllPartitionsSec < r.StartSec || r.Raise.Count != 5 || r.Raise.P50Ms <= 0 || r.Memory.Goroutines == 0 {
		t.Errorf("restart: %+v; want all partitions no sooner than Start returned and 5 timed raises", *r)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("heap profile %s not written: %v", prof, err)
	}
}

func TestBenchIdleUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--idle", "0"}, "--idle must be at least 1"},
		{[]string{"bench", "--idle", "5", "--count", "3"}, "--count does not apply to --idle"},
		{[]string{"bench", "--idle", "5", "--nats-url", "nats://127.0.0.1:1"}, "--nats-url does not apply to --idle"},
		{[]string{"bench", "--idle", "5", "--sample", "-1"}, "--sample must not be negative"},
		{[]string{"bench", "--idle", "5", "--partitions", "0"}, "--partitions must be at least 1"},
		{[]string{"bench", "--restart"}, "--restart applies only to --idle"},
		{[]string{"bench", "--idle", "5", "--settle", "-1s"}, "--settle must not be negative"},
		{[]string{"bench", "--idle", "5", "--cluster", "3"}, "--cluster does not apply to --idle"},
		{[]string{"bench", "--idle", "5", "--cpuprofile", "x"}, "--cpuprofile does not apply to --idle"},
		{[]string{"bench", "--cluster", "0"}, "--cluster must be from 1 to 5"},
		{[]string{"bench", "--cluster", "3", "--nats-url", "nats://127.0.0.1:1"}, "--cluster starts nodes of its own"},
	} {
		code, _, stderr := cli(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tc.args, code, exitUsage)
		}
		checkOneLineError(t, tc.args, stderr, tc.want)
	}
}

func TestParseProcStatus(t *testing.T) {
	in := "Name:\tnode\nVmPeak:\t 2000 kB\nVmHWM:\t    3072 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n"
	rss, hwm := parseProcStatus([]byte(in))
	if rss != 2048<<10 || hwm != 3072<<10 {
		t.Errorf("parseProcStatus = %d, %d; want %d, %d", rss, hwm, 2048<<10, 3072<<10)
	}
	if rss, hwm := parseProcStatus(nil); rss != 0 || hwm != 0 {
		t.Errorf("empty status: %d, %d", rss, hwm)
	}
}

// node bench --cluster 3: three in-process nodes whose embedded servers form one
// cluster run the workload, and every node's data directory holds a replica of the
// history stream (R3, not the single replica automatic replicas could pick while
// the cluster forms).
func TestBenchCluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := cli(t, "bench", "--cluster", "3", "--count", "10", "--inflight", "3", "--activities", "2",
		"--data-dir", dir, "--json")
	if code != 0 {
		t.Fatalf("bench --cluster 3 exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var s benchSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	if s.Orchestrations != 10 || s.Failed != 0 || s.ActivitiesDone != 20 || s.DiskBytes <= 0 || !strings.Contains(s.Target, "3 in-process nodes") {
		t.Errorf("summary %+v: want 10 orchestrations of 2 activities on 3 in-process nodes, disk measured", s)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		hist, err := filepath.Glob(filepath.Join(dir, n, "jetstream", "*", "streams", "DUROXIDE_HISTORY"))
		if err != nil || len(hist) != 1 {
			t.Errorf("node %s holds no replica of the history stream (%v, %v)", n, hist, err)
		}
	}
}
