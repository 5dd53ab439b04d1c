package projections_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/projections"
	"github.com/duroxide-go/duroxide/store"
)

// TestLag stops the projector before it counts record 2 and checks that Lag reports
// the unapplied records and the age of record 2, then nothing once it caught up.
func TestLag(t *testing.T) {
	_, nc := startServer(t, t.TempDir())
	ctx := context.Background()
	st, err := jetstream.Open(ctx, nc, jetstream.Config{})
	must(t, err)
	defer st.Close()
	start := func(id string) store.WorkItem {
		return store.WorkItem{Type: store.StartOrchestration, Instance: id, Name: "T"}
	}
	turn(t, st, start("a"), []history.Event{started("a")}, store.ExecutionMetadata{})

	// The projector applies record 1 (a batch of its own: the only record), then
	// stops at record 2, written after.
	cfg := projections.Config{HistoryStream: st.HistoryStream(), HistorySubjects: st.HistorySubjects(), AckWait: 500 * time.Millisecond}
	var crashed atomic.Bool
	c := cfg
	c.Hooks.BeforeCounters = func(seq uint64) error {
		if seq == 2 {
			crashed.Store(true)
			return errors.New("crash")
		}
		return nil
	}
	p, err := projections.Start(ctx, st.JetStream(), c)
	must(t, err)
	v, err := projections.OpenViews(ctx, nc, st.JetStream(), st.Namespace(), st.HistoryStream(), st.HistoryLastSeq)
	must(t, err)
	must(t, v.WaitCaughtUp(ctx, 10*time.Second))
	// Records 1 and 2 get stored times apart, so that Behind tells which one it
	// measured (not a wait for anything).
	time.Sleep(50 * time.Millisecond)
	before2 := time.Now()
	turn(t, st, start("b"), []history.Event{started("b")}, store.ExecutionMetadata{})
	after2 := time.Now()
	turn(t, st, start("c"), []history.Event{started("c")}, store.ExecutionMetadata{})
	last, err := st.HistoryLastSeq(ctx)
	must(t, err)
	for deadline := time.Now().Add(10 * time.Second); !crashed.Load() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop()
	if !crashed.Load() {
		t.Fatal("no crash at record 2")
	}
	callStart := time.Now()
	lag, err := v.Lag(ctx, st.HistorySubjects())
	callEnd := time.Now()
	must(t, err)
	if lag.AppliedSeq != 1 || lag.LastSeq != last || lag.Records != last-1 {
		t.Fatalf("lag %+v, want applied 1, last %d, %d records", lag, last, last-1)
	}
	// Behind is measured from record 2's stored time, which lies in [before2, after2].
	if written := callEnd.Add(-lag.Behind); written.Before(before2.Add(-time.Millisecond)) {
		t.Fatalf("behind %s: record 2 would be written at %s, before its turn began (%s)", lag.Behind, written, before2)
	}
	if written := callStart.Add(-lag.Behind); written.After(after2.Add(time.Millisecond)) {
		t.Fatalf("behind %s: record 2 would be written at %s, after its turn ended (%s)", lag.Behind, written, after2)
	}

	p, err = projections.Start(ctx, st.JetStream(), cfg)
	must(t, err)
	defer p.Stop()
	must(t, v.WaitCaughtUp(ctx, 10*time.Second))
	lag, err = v.Lag(ctx, st.HistorySubjects())
	must(t, err)
	if lag.AppliedSeq != last || lag.Records != 0 || lag.Behind != 0 {
		t.Fatalf("lag after catching up: %+v", lag)
	}
}
