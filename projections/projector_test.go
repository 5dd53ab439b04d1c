package projections_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/projections"
	"github.com/duroxide-go/duroxide/store"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func startServer(t *testing.T, dir string) (*server.Server, *nats.Conn) {
	t.Helper()
	srv, err := jetstream.StartServer(jetstream.ServerOptions{DataDir: dir, Listen: "none"})
	must(t, err)
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	must(t, err)
	t.Cleanup(func() {
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv, nc
}

// turn commits one hand-made turn for msg's instance.
func turn(t *testing.T, st *jetstream.Store, msg store.WorkItem, delta []history.Event, md store.ExecutionMetadata) {
	t.Helper()
	ctx := context.Background()
	must(t, st.EnqueueForOrchestrator(ctx, msg, 0))
	item, err := st.FetchOrchestrationItem(ctx, 30*time.Second, 5*time.Second, nil)
	must(t, err)
	if item == nil {
		t.Fatal("no item")
	}
	must(t, st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: delta, Metadata: md}))
}

func started(id string) history.Event {
	return history.Event{EventID: 1, InstanceID: id, ExecutionID: 1, Type: history.OrchestrationStarted, Name: "T", Version: "1.0.0", TimestampMs: 1}
}

// TestProjectorCrashAndResume stops the projector between a record's views and its
// counters, several times, and checks that the resumed projector counts each record
// exactly once.
func TestProjectorCrashAndResume(t *testing.T) {
	_, nc := startServer(t, t.TempDir())
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	defer st.Close()

	start := func(id string) store.WorkItem {
		return store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "T"}
	}
	poke := store.WorkItem{Type: store.ExternalRaised, Instance: "b", Name: "e"}
	turn(t, st, start("a"), []history.Event{started("a"), {EventID: 2, Type: history.OrchestrationCompleted, Output: "1"}},
		store.ExecutionMetadata{Status: "Completed", Output: "1"})
	turn(t, st, start("b"), []history.Event{started("b")}, store.ExecutionMetadata{})
	turn(t, st, poke, []history.Event{{EventID: 2, Type: history.ExternalEvent, Name: "e"}}, store.ExecutionMetadata{})
	turn(t, st, start("c"), []history.Event{started("c"), {EventID: 2, Type: history.OrchestrationFailed,
		Details: &history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed, Message: "x"}}},
		store.ExecutionMetadata{Status: "Failed", Output: "x"})
	want := projections.Counters{Instances: 3, Executions: 3, Running: 1, Completed: 1, Failed: 1, Events: 6}

	cfg := projections.Config{HistoryStream: st.HistoryStream(), HistorySubjects: st.HistorySubjects(), AckWait: 500 * time.Millisecond}
	views := func() *projections.Views {
		v, err := projections.OpenViews(ctx, nc, st.JetStream(), st.Namespace(), st.HistoryStream(), st.HistoryLastSeq)
		must(t, err)
		return v
	}
	// Crash on record 2, then on record 3 (each crash once), then run clean.
	for _, crashAt := range []uint64{2, 3} {
		var crashed atomic.Bool
		c := cfg
		c.Hooks.BeforeCounters = func(seq uint64) error {
			if seq == crashAt && crashed.CompareAndSwap(false, true) {
				return errors.New("crash")
			}
			return nil
		}
		p, err := projections.Start(ctx, st.JetStream(), c)
		must(t, err)
		deadline := time.Now().Add(10 * time.Second)
		for !crashed.Load() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		p.Stop()
		if !crashed.Load() {
			t.Fatalf("no crash at %d", crashAt)
		}
	}
	p, err := projections.Start(ctx, st.JetStream(), cfg)
	must(t, err)
	defer p.Stop()
	v := views()
	must(t, v.WaitCaughtUp(ctx, 10*time.Second))
	stats, _, err := v.Stats(ctx)
	must(t, err)
	if stats.Totals != want {
		t.Fatalf("counters %+v, want %+v", stats.Totals, want)
	}
	b, err := v.Instance(ctx, "b")
	must(t, err)
	if b.Events != 2 || b.Executions != 1 || b.Status != "Running" {
		t.Fatalf("view of b %+v", b)
	}
	// A second projector on the same consumer changes nothing.
	p2, err := projections.Start(ctx, st.JetStream(), cfg)
	must(t, err)
	defer p2.Stop()
	turn(t, st, poke, []history.Event{{EventID: 3, Type: history.ExternalEvent, Name: "e"}}, store.ExecutionMetadata{})
	must(t, v.WaitCaughtUp(ctx, 10*time.Second))
	stats, _, err = v.Stats(ctx)
	must(t, err)
	want.Events++
	if stats.Totals != want {
		t.Fatalf("counters %+v, want %+v", stats.Totals, want)
	}
}

type snapshot struct {
	Metrics  *duroxide.SystemMetrics
	All      []string
	ByStatus map[string][]string
	Infos    map[string]*duroxide.InstanceInfo
	Execs    map[string]*duroxide.ExecutionInfo
}

func takeSnapshot(t *testing.T, c *duroxide.Client) *snapshot {
	ctx := context.Background()
	s := &snapshot{ByStatus: map[string][]string{}, Infos: map[string]*duroxide.InstanceInfo{}, Execs: map[string]*duroxide.ExecutionInfo{}}
	var err error
	s.Metrics, err = c.SystemMetrics(ctx)
	must(t, err)
	// Listing order is the order instances were first seen; after a prune the
	// rebuilt index first sees an instance later, so compare the sets.
	s.All, err = c.ListAllInstances(ctx, duroxide.ListOptions{})
	must(t, err)
	sort.Strings(s.All)
	for _, status := range []string{"Running", "Completed", "Failed", "ContinuedAsNew"} {
		s.ByStatus[status], err = c.ListAllInstances(ctx, duroxide.ListOptions{Status: status})
		must(t, err)
		sort.Strings(s.ByStatus[status])
	}
	for _, id := range s.All {
		s.Infos[id], err = c.InstanceInfo(ctx, id)
		must(t, err)
		execs, err := c.ListExecutions(ctx, id)
		must(t, err)
		for _, e := range execs {
			s.Execs[fmt.Sprintf("%s/%d", id, e)], err = c.ExecutionInfo(ctx, id, e)
			must(t, err)
		}
	}
	return s
}

// TestRebuildFromHistory deletes the views bucket and checks that restarting
// rebuilds identical views.
func TestRebuildFromHistory(t *testing.T) {
	dir := t.TempDir()
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Loop", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		ctx.SetCustomStatus(fmt.Sprintf("n=%d", n))
		if n < 3 {
			return 0, ctx.ContinueAsNew(n + 1)
		}
		if n == 99 {
			return 0, errors.New("boom")
		}
		return n, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Wait", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	ctx := context.Background()
	rt, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir})
	must(t, err)
	c := rt.Client()
	must(t, c.StartOrchestration(ctx, "loop", "Loop", 1))
	must(t, c.StartOrchestration(ctx, "fail", "Loop", 99))
	must(t, c.StartOrchestration(ctx, "wait", "Wait", nil))
	must(t, c.StartOrchestration(ctx, "gone", "Loop", 3))
	for _, id := range []string{"loop", "fail", "gone"} {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.WaitForOrchestration(wctx, id)
		cancel()
		must(t, err)
	}
	_, err = c.PruneExecutions(ctx, "loop", duroxide.PruneOptions{KeepLast: 2})
	must(t, err)
	_, err = c.DeleteInstance(ctx, "gone", false)
	must(t, err)
	before := takeSnapshot(t, c)
	if before.Metrics.TotalInstances != 3 || len(before.All) != 3 || len(before.ByStatus["Running"]) != 1 {
		t.Fatalf("before: %+v", before)
	}
	must(t, rt.Shutdown(ctx))

	// Delete the views with the runtime down.
	srv, err := jetstream.StartServer(jetstream.ServerOptions{DataDir: dir, Listen: "none"})
	must(t, err)
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	must(t, err)
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	must(t, st.JetStream().DeleteKeyValue(ctx, projections.ViewsBucket(st.Namespace())))
	_ = st.Close()
	nc.Close()
	srv.Shutdown()
	srv.WaitForShutdown()

	rt, err = duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir})
	must(t, err)
	defer rt.Shutdown(ctx)
	after := takeSnapshot(t, rt.Client())
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("rebuilt views differ:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestProjectorResumesAfterDroppingIndexEntries stops the projector after a status
// change removed the instance's old listing entry and before the counters took the
// record, as a node killed there would. The record is applied again, removing the
// same entry again: the server refuses a second delete ("sequence not found", or
// "no message found" at the stream's ends), which must count as done, not loop
// forever (found by the e2e chaos test: every node's projector stuck on one record
// after a SIGKILL).
func TestProjectorResumesAfterDroppingIndexEntries(t *testing.T) {
	_, nc := startServer(t, t.TempDir())
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	defer st.Close()
	turn(t, st, store.WorkItem{Type: store.StartOrchestration, Instance: "a", Name: "T"}, []history.Event{started("a")},
		store.ExecutionMetadata{})
	turn(t, st, store.WorkItem{Type: store.ExternalRaised, Instance: "a", Name: "e"},
		[]history.Event{{EventID: 2, Type: history.OrchestrationCompleted, Output: "1"}},
		store.ExecutionMetadata{Status: "Completed", Output: "1"})

	cfg := projections.Config{HistoryStream: st.HistoryStream(), HistorySubjects: st.HistorySubjects(), AckWait: 500 * time.Millisecond}
	var crashed atomic.Bool
	c := cfg
	c.Hooks.BeforeCounters = func(seq uint64) error {
		if seq == 2 && crashed.CompareAndSwap(false, true) {
			return errors.New("crash")
		}
		return nil
	}
	p, err := projections.Start(ctx, st.JetStream(), c)
	must(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for !crashed.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop()
	if !crashed.Load() {
		t.Fatal("no crash at record 2")
	}
	p, err = projections.Start(ctx, st.JetStream(), cfg)
	must(t, err)
	defer p.Stop()
	v, err := projections.OpenViews(ctx, nc, st.JetStream(), st.Namespace(), st.HistoryStream(), st.HistoryLastSeq)
	must(t, err)
	if err := v.WaitCaughtUp(ctx, 10*time.Second); err != nil {
		t.Fatalf("projector did not get past the re-applied record: %v", err)
	}
	stats, _, err := v.Stats(ctx)
	must(t, err)
	if want := (projections.Counters{Instances: 1, Executions: 1, Completed: 1, Events: 2}); stats.Totals != want {
		t.Fatalf("counters %+v, want %+v", stats.Totals, want)
	}
}
