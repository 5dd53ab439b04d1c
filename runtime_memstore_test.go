package duroxide_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// The runtime over another store of the contract (Options.Store): the demo
// orchestrations' shapes run end to end on the in-memory store, with no NATS.

const kvStatusOrch = "KVAndStatus"

// kvAndStatus sets a KV value and a custom status, waits for the event "done",
// and returns the event's data.
func kvAndStatus(ctx *duroxide.OrchestrationContext, in string) (string, error) {
	ctx.SetValue("greeting", "hi "+in)
	ctx.SetCustomStatus("waiting")
	v, err := duroxide.Await[string](ctx.WaitForEvent("done"))
	if err != nil {
		return "", err
	}
	ctx.SetCustomStatus("finished")
	return v, nil
}

func startOnMemstore(t *testing.T) (*duroxide.Runtime, *duroxide.Client) {
	t.Helper()
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := duroxide.RegisterOrchestration(reg, kvStatusOrch, kvAndStatus); err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(memstore.Options{HandleOptions: memstore.HandleOptions{SessionOwner: "mem-node"}})
	rt, err := duroxide.Start(context.Background(), reg, duroxide.Options{Store: ms, WorkerNodeID: "mem-node",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start on memstore: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		_ = ms.Close()
	})
	return rt, rt.Client()
}

func waitOutput[T any](t *testing.T, c *duroxide.Client, id string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := c.WaitForOrchestration(ctx, id)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	var out T
	if err := st.Decode(&out); err != nil {
		t.Fatalf("%s: %v (failure: %+v)", id, err, st.Failure)
	}
	return out
}

func TestRuntimeOnMemstoreRunsTheSamples(t *testing.T) {
	rt, c := startOnMemstore(t)
	ctx := context.Background()
	start := func(id, name string, in any) {
		t.Helper()
		if err := c.StartOrchestration(ctx, id, name, in); err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
	}
	if rt.Partitions() != nil || rt.Conn() != nil {
		t.Errorf("a runtime on memstore has partitions %v, conn %v; want none", rt.Partitions(), rt.Conn())
	}

	start("hello", demo.HelloWorld, "mem")
	start("fan", demo.FanOut, 10)
	start("race", demo.TimerRace, demo.TimerRaceInput{WorkMs: 600_000, TimeoutMs: 20})
	start("approve", demo.Approval, nil)
	start("greet", demo.GreetAll, []string{"a", "b", "c"})
	start("count", demo.Countdown, 3)
	start("kv", kvStatusOrch, "there")
	start("cancel-me", demo.Approval, nil)

	if got := waitOutput[string](t, c, "hello"); got != "Hello, mem!" {
		t.Errorf("hello world: %q", got)
	}
	if got := waitOutput[int](t, c, "fan"); got != 55 {
		t.Errorf("fan-out of 10: %d, want 55", got)
	}
	// The timer wins; the 10-minute activity is cancelled (its cancellation reaches
	// it directly: the store has no cancel signal) and the runtime shuts down at
	// once at the end of the test.
	if got := waitOutput[string](t, c, "race"); got != "timer" {
		t.Errorf("timer race: %q", got)
	}
	if err := c.RaiseEvent(ctx, "approve", demo.ApprovalEvent, "yes"); err != nil {
		t.Fatal(err)
	}
	if got := waitOutput[string](t, c, "approve"); got != "approved:yes" {
		t.Errorf("external event: %q", got)
	}
	if got := waitOutput[[]string](t, c, "greet"); !slices.Equal(got, []string{"Hello, a!", "Hello, b!", "Hello, c!"}) {
		t.Errorf("sub-orchestrations: %q", got)
	}
	if got := waitOutput[string](t, c, "count"); got != "done after 4 executions" {
		t.Errorf("continue-as-new: %q", got)
	}

	// Cancel.
	if err := c.CancelInstance(ctx, "cancel-me", "test"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := c.WaitForOrchestration(wctx, "cancel-me")
	if err != nil || !errors.Is(st.Err(), duroxide.ErrCancelled) {
		t.Errorf("cancelled instance: %+v, %v; want Failed matching ErrCancelled", st, err)
	}

	// KV and custom status, read while the instance waits, then at its end.
	v, err := c.WaitForValue(wctx, "kv", "greeting")
	if err != nil || v != "hi there" {
		t.Errorf("KV value while running: %q, %v", v, err)
	}
	st, err = c.GetStatus(ctx, "kv")
	if err != nil || st.CustomStatus == nil || *st.CustomStatus != "waiting" {
		t.Errorf("custom status while running: %+v, %v", st, err)
	}
	if err := c.RaiseEvent(ctx, "kv", "done", "ok"); err != nil {
		t.Fatal(err)
	}
	if got := waitOutput[string](t, c, "kv"); got != "ok" {
		t.Errorf("kv orchestration: %q", got)
	}
	if all, err := c.GetAllValues(ctx, "kv"); err != nil || all["greeting"] != "hi there" {
		t.Errorf("KV values at the end: %v, %v", all, err)
	}
	if st, err := c.GetStatus(ctx, "kv"); err != nil || st.CustomStatus == nil || *st.CustomStatus != "finished" {
		t.Errorf("custom status at the end: %+v, %v", st, err)
	}

	// A start no node can run is Pending (memstore's store.PendingReader).
	start("pending-1", "NoSuchOrchestration", nil)
	if st, err := c.GetStatus(ctx, "pending-1"); err != nil || st.State != duroxide.StatePending {
		t.Errorf("status of a start without a handler: %+v, %v; want Pending", st, err)
	}

	// Management reads.
	ids, err := c.ListAllInstances(ctx, duroxide.ListOptions{Status: "Completed"})
	if err != nil {
		t.Fatalf("list completed: %v", err)
	}
	for _, id := range []string{"hello", "fan", "race", "approve", "greet", "count", "kv"} {
		if !slices.Contains(ids, id) {
			t.Errorf("completed listing %v lacks %q", ids, id)
		}
	}
	if ex, err := c.ListExecutions(ctx, "count"); err != nil || !slices.Equal(ex, []uint64{1, 2, 3, 4}) {
		t.Errorf("executions of count: %v, %v", ex, err)
	}
	if info, err := c.InstanceInfo(ctx, "greet"); err != nil || info.Name != demo.GreetAll {
		t.Errorf("instance info of greet: %+v, %v", info, err)
	}
	tree, err := c.InstanceTree(ctx, "greet")
	if err != nil || len(tree.AllIDs) != 4 {
		t.Errorf("instance tree of greet: %+v, %v; want it and its 3 children", tree, err)
	}
	if m, err := c.SystemMetrics(ctx); err != nil || m.TotalInstances < 11 {
		t.Errorf("system metrics: %+v, %v", m, err)
	}
	if h, err := c.ReadHistory(ctx, "hello", 0); err != nil || len(h) < 4 {
		t.Errorf("history of hello: %d events, %v", len(h), err)
	}
	if _, err := c.DeleteInstance(ctx, "greet", false); err != nil {
		t.Errorf("delete greet: %v", err)
	}
	if st, err := c.GetStatus(ctx, "greet"); err != nil || st.State != duroxide.StateNotFound {
		t.Errorf("status after delete: %+v, %v", st, err)
	}
	if _, err := c.ProjectorLag(ctx); !errors.Is(err, duroxide.ErrNotSupported) {
		t.Errorf("projector lag on memstore: %v; want ErrNotSupported", err)
	}
	if _, err := duroxide.StartService(c); !errors.Is(err, duroxide.ErrNotSupported) || !strings.Contains(err.Error(), "JetStream") {
		t.Errorf("management service on memstore: %v; want ErrNotSupported", err)
	}
}

// Options.Store with a setting of the JetStream store is refused, naming it.
func TestStoreOptionRejectsJetStreamSettings(t *testing.T) {
	ms := memstore.New(memstore.Options{})
	defer ms.Close()
	_, err := duroxide.Start(context.Background(), duroxide.NewRegistry(), duroxide.Options{Store: ms, DataDir: "x"})
	if !errors.Is(err, duroxide.ErrInvalidInput) || !strings.Contains(err.Error(), "DataDir") {
		t.Fatalf("Store with DataDir: %v; want ErrInvalidInput naming DataDir", err)
	}
}

// providerOnly hides every optional layer of the store it wraps: the runtime sees
// a bare store.Provider.
type providerOnly struct{ store.Provider }

// On a store that cannot tell what waits in an inbox (no store.PendingReader), a
// wait for an instance whose start waits for a handler is not answered "not
// found" after NotFoundGrace: it lasts until its context ends. Without the other
// layers the runtime still runs: starts go through EnqueueForOrchestrator and
// waits poll.
func TestRuntimeOnABareProvider(t *testing.T) {
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(memstore.Options{})
	defer ms.Close()
	rt, err := duroxide.Start(context.Background(), reg, duroxide.Options{Store: providerOnly{ms},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	c := rt.Client()
	ctx := context.Background()
	if err := c.StartOrchestration(ctx, "hello", demo.HelloWorld, "bare"); err != nil {
		t.Fatal(err)
	}
	if got := waitOutput[string](t, c, "hello"); got != "Hello, bare!" {
		t.Errorf("hello world on a bare provider: %q", got)
	}
	if _, _, err := c.GetValue(ctx, "hello", "k"); !errors.Is(err, duroxide.ErrNotSupported) {
		t.Errorf("KV read on a bare provider: %v; want ErrNotSupported", err)
	}
	if _, err := c.InstanceInfo(ctx, "hello"); !errors.Is(err, duroxide.ErrNotSupported) {
		t.Errorf("management read on a bare provider: %v; want ErrNotSupported", err)
	}
	if err := c.StartOrchestration(ctx, "unregistered-1", "NoSuchOrchestration", nil); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, duroxide.NotFoundGrace+2*time.Second)
	defer cancel()
	_, err = c.WaitForOrchestration(wctx, "unregistered-1")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, duroxide.ErrInstanceNotFound) {
		t.Fatalf("wait for a start waiting for its handler: %v; want the context's deadline, not ErrInstanceNotFound", err)
	}
}
