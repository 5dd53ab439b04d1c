package projections_test

import (
	"context"
	"fmt"
	"sync"
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
