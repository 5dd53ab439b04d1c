package jetstream

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// sessionStores starts one embedded server and opens n stores on it, each on its
// own connection with sessions enabled (owners "o0", "o1", ...).
func sessionStores(t *testing.T, n int, cfg SessionConfig) []*Store {
	t.Helper()
	srv, err := StartServer(ServerOptions{DataDir: t.TempDir(), Listen: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	var out []*Store
	for i := 0; i < n; i++ {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		st, err := Open(context.Background(), nc, Config{})
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Owner = "o" + string(rune('0'+i))
		if err := st.EnableSessions(c); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close(); nc.Close() })
		out = append(out, st)
	}
	return out
}

func sessionItem(session string, id uint64) store.WorkItem {
	return store.WorkItem{Type: store.ActivityExecute, Instance: "inst", ExecutionID: 1, ID: id, Name: "A", SessionID: session}
}

func TestEnableSessionsValidation(t *testing.T) {
	st, _ := openTestStore(t, Config{})
	for _, c := range []struct {
		cfg   SessionConfig
		field string
	}{
		{SessionConfig{MaxSessions: 1, LockTimeout: time.Second}, "Owner"},
		{SessionConfig{Owner: "a", LockTimeout: time.Second}, "MaxSessions"},
		{SessionConfig{Owner: "a", MaxSessions: 1}, "LockTimeout"},
	} {
		if err := st.EnableSessions(c.cfg); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("EnableSessions(%+v) = %v, want an error naming %s", c.cfg, err, c.field)
		}
	}
}

// Two stores race for the items of one unowned session: one claim wins and every
// item is fetched from the winner, exactly once. Items without a session, mixed in,
// go to either store.
func TestSessionConcurrentClaimOneWins(t *testing.T) {
	sts := sessionStores(t, 2, SessionConfig{MaxSessions: 10, LockTimeout: 5 * time.Second})
	ctx := context.Background()
	const n, plain = 40, 10
	for i := 1; i <= n+plain; i++ {
		sid := "c"
		if i > n {
			sid = ""
		}
		if err := sts[0].EnqueueForWorker(ctx, sessionItem(sid, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	var total atomic.Int32
	var mu sync.Mutex
	got := map[string][]uint64{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for _, st := range sts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for total.Load() < n+plain && time.Now().Before(deadline) {
				l, err := st.FetchWorkItem(ctx, time.Minute, 100*time.Millisecond)
				if err != nil || l == nil {
					continue
				}
				total.Add(1)
				mu.Lock()
				if l.Item.SessionID == "" {
					got[""] = append(got[""], l.Item.ID)
				} else {
					got[st.SessionOwner()] = append(got[st.SessionOwner()], l.Item.ID)
				}
				mu.Unlock()
				if err := st.AckWorkItem(ctx, l.LockToken, nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(got[""]) != plain {
		t.Fatalf("%d items without a session fetched, want %d", len(got[""]), plain)
	}
	delete(got, "")
	if len(got) != 1 {
		t.Fatalf("session items fetched by %d owners (%v), want one", len(got), got)
	}
	for owner, ids := range got {
		slices.Sort(ids)
		if len(slices.Compact(ids)) != n || len(ids) != n {
			t.Fatalf("%s fetched %d session items (%d distinct), want %d", owner, len(ids), len(slices.Compact(ids)), n)
		}
	}
}

// A store at its cap gives an unowned session's item back without counting an
// attempt: when another store claims it, it is attempt 1.
func TestSessionGiveBackKeepsAttempt(t *testing.T) {
	sts := sessionStores(t, 2, SessionConfig{MaxSessions: 1, LockTimeout: 5 * time.Second})
	a, b := sts[0], sts[1]
	ctx := context.Background()
	if err := a.EnqueueForWorker(ctx, sessionItem("x", 1)); err != nil {
		t.Fatal(err)
	}
	l, err := a.FetchWorkItem(ctx, time.Minute, 5*time.Second)
	if err != nil || l == nil || l.Item.SessionID != "x" {
		t.Fatalf("fetch x: %+v, %v", l, err)
	}
	if err := a.AckWorkItem(ctx, l.LockToken, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.EnqueueForWorker(ctx, sessionItem("y", 2)); err != nil {
		t.Fatal(err)
	}
	info, err := a.work.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	enqueued := info.State.LastSeq
	// a (owning x, cap 1) keeps handing y back: wait for three moves.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if l, err := a.FetchWorkItem(ctx, time.Minute, 10*time.Millisecond); err != nil || l != nil {
			t.Fatalf("a fetched %+v (%v) while at its cap", l, err)
		}
		info, err := a.work.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.LastSeq >= enqueued+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("y was not handed back (last seq %d, enqueued at %d)", info.State.LastSeq, enqueued)
		}
	}
	var got *store.WorkLease
	for deadline := time.Now().Add(15 * time.Second); got == nil && time.Now().Before(deadline); {
		got, err = b.FetchWorkItem(ctx, time.Minute, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
	}
	if got == nil || got.Item.SessionID != "y" || got.AttemptCount != 1 {
		t.Fatalf("b fetched %+v, want y at attempt 1", got)
	}
	if owned := b.OwnedSessions(); !slices.Equal(owned, []string{"y"}) {
		t.Fatalf("b owns %v, want [y]", owned)
	}
	if owned := a.OwnedSessions(); !slices.Equal(owned, []string{"x"}) {
		t.Fatalf("a owns %v, want [x]", owned)
	}
}

// A session moves while one of its activities is running (here: another store's
// lease replaces the owner's). The old owner's next renewal finds the lease lost and
// drops the session, the running item still completes, and the session's next
// items go to the new owner, through whichever store pulls them.
func TestSessionMovedInFlightAckSucceeds(t *testing.T) {
	sts := sessionStores(t, 2, SessionConfig{MaxSessions: 5, LockTimeout: 30 * time.Second})
	a, b := sts[0], sts[1]
	ctx := context.Background()
	fetch := func(st *Store) *store.WorkLease {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
			l, err := st.FetchWorkItem(ctx, time.Minute, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if l != nil {
				return l
			}
		}
		t.Fatalf("%s fetched nothing", st.SessionOwner())
		return nil
	}
	if err := a.EnqueueForWorker(ctx, sessionItem("m", 1)); err != nil {
		t.Fatal(err)
	}
	inFlight := fetch(a)
	if n, err := a.RenewSessionLocks(ctx, []string{"o0"}, 30*time.Second, time.Minute); err != nil || n != 1 {
		t.Fatalf("a renews %d sessions (%v), want 1", n, err)
	}
	// b takes the lease over (as if a's lease had expired and b had claimed it).
	if _, err := a.sess.kv.Put(ctx, sessionKey("", "m"), []byte(`{"owner":"o1","ttl_ms":30000}`)); err != nil {
		t.Fatal(err)
	}
	if n, err := a.RenewSessionLocks(ctx, []string{"o0"}, 30*time.Second, time.Minute); err != nil || n != 0 {
		t.Fatalf("a renews %d sessions (%v) after losing its lease, want 0", n, err)
	}
	if owned := a.OwnedSessions(); len(owned) > 0 {
		t.Fatalf("a still owns %v", owned)
	}
	if err := a.EnqueueForWorker(ctx, sessionItem("m", 2)); err != nil {
		t.Fatal(err)
	}
	l2 := fetch(b)
	if l2.Item.ID != 2 || !slices.Equal(b.OwnedSessions(), []string{"m"}) {
		t.Fatalf("b fetched %+v owning %v, want item 2 of m", l2.Item, b.OwnedSessions())
	}
	if err := a.AckWorkItem(ctx, inFlight.LockToken, nil); err != nil {
		t.Fatalf("ack of the in-flight item after the move: %v", err)
	}
	if err := b.AckWorkItem(ctx, l2.LockToken, nil); err != nil {
		t.Fatal(err)
	}
	// Item 3, pulled by a, is forwarded to b.
	if err := a.EnqueueForWorker(ctx, sessionItem("m", 3)); err != nil {
		t.Fatal(err)
	}
	if l, err := a.FetchWorkItem(ctx, time.Minute, 300*time.Millisecond); err != nil || l != nil {
		t.Fatalf("a fetched %+v (%v), want nothing: m is b's", l, err)
	}
	if l3 := fetch(b); l3.Item.ID != 3 {
		t.Fatalf("b fetched %+v, want item 3", l3.Item)
	}
}
