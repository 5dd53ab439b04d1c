package jetstream

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// crashableStore is a store on an embedded server in dir that the test can kill
// (server and connection gone at once, no Close first).
type crashableStore struct {
	*Store
	nc   *nats.Conn
	kill func()
}

func openCrashable(t *testing.T, dir string) *crashableStore {
	t.Helper()
	srv, err := StartServer(ServerOptions{DataDir: dir, Listen: "none"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	// The node id of a runtime on its data directory: each restart takes the
	// partitions of the killed store back at once.
	st, err := Open(context.Background(), nc, Config{NodeID: "runs-test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if killed {
			return
		}
		killed = true
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		_ = st.Close()
	}
	t.Cleanup(kill)
	return &crashableStore{Store: st, nc: nc, kill: kill}
}

// The broker's delivery counts restart at 1 with the server; the store's attempt
// counts do not: a work item and an inbox message handed out once before a crash
// come back at attempt 2, and a hand-out given back with ignoreAttempt before a crash
// is not counted after it.
func TestAttemptCountsSurviveServerRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st := openCrashable(t, dir)
	if err := st.EnqueueForWorker(ctx, store.WorkItem{Type: store.ActivityExecute, Instance: "r1", ExecutionID: 1, ID: 1, Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := st.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "r1", Name: "O"}, 0); err != nil {
		t.Fatal(err)
	}
	// fetch hands out the work item and the inbox message once and returns their
	// attempts and lock tokens.
	fetch := func(st *crashableStore) (work, orch int, workTok, orchTok string) {
		t.Helper()
		wl, err := st.FetchWorkItem(ctx, 30*time.Second, 10*time.Second)
		if err != nil || wl == nil {
			t.Fatalf("fetch work item: %v %v", wl, err)
		}
		item, err := st.FetchOrchestrationItem(ctx, 30*time.Second, 10*time.Second, nil)
		if err != nil || item == nil {
			t.Fatalf("fetch orchestration item: %v %v", item, err)
		}
		return wl.AttemptCount, item.AttemptCount, wl.LockToken, item.LockToken
	}
	check := func(step string, gotW, gotO, want int) {
		t.Helper()
		if gotW != want || gotO != want {
			t.Fatalf("%s: work item attempt %d, inbox message attempt %d, want %d", step, gotW, gotO, want)
		}
	}

	w, o, _, _ := fetch(st)
	check("first hand-out", w, o, 1)
	st.kill()

	st = openCrashable(t, dir)
	w, o, wt, ot := fetch(st)
	check("after a crash", w, o, 2)
	if err := st.AbandonWorkItem(ctx, wt, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := st.AbandonOrchestrationItem(ctx, ot, 0, true); err != nil {
		t.Fatal(err)
	}
	st.kill()

	st = openCrashable(t, dir)
	w, o, _, _ = fetch(st)
	check("after a give-back (ignoreAttempt) and a crash", w, o, 2)
	st.kill()

	st = openCrashable(t, dir)
	w, o, wt, _ = fetch(st)
	check("after another crash", w, o, 3)

	// A handled message's record is deleted (in the background).
	if err := st.AckWorkItem(ctx, wt, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := st.runs.Info(ctx, jetstream.WithSubjectFilter(st.subj.ns+".runs.w.>"))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the acked work item's attempt record is still there after 10s: %v", info.State.Subjects)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
