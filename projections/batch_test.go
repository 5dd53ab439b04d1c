package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/projections"
	"github.com/duroxide-go/duroxide/store"
)

// TestProjectorAppliesRecordsInBatches writes the records of many instances before
// the projector starts, and checks that it applies them as a batch: while their
// views are written, the counters are not yet moved record by record (one write for
// the batch), and the counters end right.
func TestProjectorAppliesRecordsInBatches(t *testing.T) {
	_, nc := startServer(t, t.TempDir())
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	defer st.Close()
	const n = 40
	for i := range n {
		id := fmt.Sprintf("i%d", i)
		turn(t, st, store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "T"}, []history.Event{started(id)}, store.ExecutionMetadata{})
	}
	openViews := func() (*projections.Views, error) {
		return projections.OpenViews(ctx, nc, st.JetStream(), st.Namespace(), st.HistoryStream(), st.HistoryLastSeq)
	}
	var mu sync.Mutex
	appliedSeen := map[uint64]bool{} // the counters' applied sequence as each record's views were written
	cfg := projections.Config{HistoryStream: st.HistoryStream(), HistorySubjects: st.HistorySubjects()}
	cfg.Hooks.BeforeCounters = func(seq uint64) error {
		v, err := openViews() // the projector made the bucket before applying anything
		if err != nil {
			return err
		}
		stats, _, err := v.Stats(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		appliedSeen[stats.AppliedSeq] = true
		mu.Unlock()
		return nil
	}
	p, err := projections.Start(ctx, st.JetStream(), cfg)
	must(t, err)
	defer p.Stop()
	v, err := openViews()
	must(t, err)
	must(t, v.WaitCaughtUp(ctx, 30*time.Second))
	stats, _, err := v.Stats(ctx)
	must(t, err)
	if want := (projections.Counters{Instances: n, Executions: n, Running: n, Events: n}); stats.Totals != want {
		t.Fatalf("counters %+v, want %+v", stats.Totals, want)
	}
	mu.Lock()
	defer mu.Unlock()
	// Record 1 is delivered and the other 39 read with it: one batch (two if the
	// read ahead failed once), never a counters write per record.
	if len(appliedSeen) > 2 {
		t.Fatalf("the counters moved %d times while %d records were applied, want one batch", len(appliedSeen), n)
	}
}

// A batch that stops between two records of one instance (its first applied, its
// second not) is applied again, and the instance is listed under its final status:
// the index entry published ahead for the second record is the one its view
// points at, not a removed one.
func TestProjectorBatchCrashKeepsListing(t *testing.T) {
	_, nc := startServer(t, t.TempDir())
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	defer st.Close()
	turn(t, st, store.WorkItem{Type: store.StartOrchestration, Instance: "x", Name: "T"}, []history.Event{started("x")}, store.ExecutionMetadata{})
	turn(t, st, store.WorkItem{Type: store.ExternalRaised, Instance: "x", Name: "e"},
		[]history.Event{{EventID: 2, Type: history.OrchestrationCompleted, Output: "1"}},
		store.ExecutionMetadata{Status: "Completed", Output: "1"})

	cfg := projections.Config{HistoryStream: st.HistoryStream(), HistorySubjects: st.HistorySubjects(), AckWait: 500 * time.Millisecond}
	var crashed atomic.Bool
	c := cfg
	c.Hooks.BeforeCounters = func(seq uint64) error {
		if seq == 1 {
			crashed.Store(true)
			return errors.New("crash")
		}
		return nil
	}
	p, err := projections.Start(ctx, st.JetStream(), c)
	must(t, err)
	for deadline := time.Now().Add(10 * time.Second); !crashed.Load() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop()
	if !crashed.Load() {
		t.Fatal("no crash at record 1")
	}
	p, err = projections.Start(ctx, st.JetStream(), cfg)
	must(t, err)
	defer p.Stop()
	v, err := projections.OpenViews(ctx, nc, st.JetStream(), st.Namespace(), st.HistoryStream(), st.HistoryLastSeq)
	must(t, err)
	must(t, v.WaitCaughtUp(ctx, 10*time.Second))
	for _, status := range []string{"", "Completed"} {
		page, err := v.List(ctx, projections.ListQuery{Status: status}, jetstream.DecodeToken)
		must(t, err)
		if len(page.Instances) != 1 || page.Instances[0] != "x" {
			t.Fatalf("listing (status %q): %v, want [x]", status, page.Instances)
		}
	}
	stats, _, err := v.Stats(ctx)
	must(t, err)
	if want := (projections.Counters{Instances: 1, Executions: 1, Completed: 1, Events: 2}); stats.Totals != want {
		t.Fatalf("counters %+v, want %+v", stats.Totals, want)
	}
}

// Records that are no turn records (a subject with too few tokens, a body that is
// not JSON), appended by anyone with rights on the history stream, are passed over
// inside a batch: the projector catches up past them and counts only the turns.
func TestProjectorBatchPassesOverForeignRecords(t *testing.T) {
	_, nc := startServer(t, t.TempDir())
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	defer st.Close()
	turn(t, st, store.WorkItem{Type: store.StartOrchestration, Instance: "a", Name: "T"}, []history.Event{started("a")}, store.ExecutionMetadata{})
	for _, subject := range []string{"duroxide.hist.short", "duroxide.hist.b.1"} {
		if _, err := st.JetStream().Publish(ctx, subject, []byte("{not json")); err != nil {
			t.Fatal(err)
		}
	}
	turn(t, st, store.WorkItem{Type: store.StartOrchestration, Instance: "c", Name: "T"}, []history.Event{started("c")}, store.ExecutionMetadata{})

	p, err := projections.Start(ctx, st.JetStream(), projections.Config{HistoryStream: st.HistoryStream(), HistorySubjects: st.HistorySubjects()})
	must(t, err)
	defer p.Stop()
	v, err := projections.OpenViews(ctx, nc, st.JetStream(), st.Namespace(), st.HistoryStream(), st.HistoryLastSeq)
	must(t, err)
	must(t, v.WaitCaughtUp(ctx, 10*time.Second))
	stats, _, err := v.Stats(ctx)
	must(t, err)
	if want := (projections.Counters{Instances: 2, Executions: 2, Running: 2, Events: 2}); stats.Totals != want {
		t.Fatalf("counters %+v, want %+v", stats.Totals, want)
	}
}
