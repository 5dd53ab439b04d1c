package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// Chaos test knobs (environment variables, independent of -short):
//
//	DUROXIDE_CHAOS_KILLS  how many SIGKILLs (default chaosDefaultKills)
//	DUROXIDE_CHAOS_SEED   the seed of the kill schedule and the load's choices
//	                      (default: the clock; the seed is logged)
//	DUROXIDE_CHAOS_APPROVAL=1  adds Approval instances (an event racing a 60 s
//	                      timer) to the mix; the queues then drain only after
//	                      their losing timers fire
const chaosDefaultKills = 4

const (
	chaosNodes   = 3               // node serve processes, one JetStream cluster
	chaosWorkers = 4               // load workers, each with one instance in flight
	chaosLease   = 3 * time.Second // the nodes' partition lease
	chaosProbes  = 6               // instances started right after each kill
	// chaosRecoverBound bounds the time from a kill until the probes started right
	// after it have completed: the restart, the JetStream leader elections and the
	// dead incarnation's partition lease, on a shared machine.
	chaosRecoverBound = 90 * time.Second
)

// chaosKill is what happened around one kill.
type chaosKill struct {
	node      string
	down      time.Duration // from the kill to the restart
	serving   time.Duration // from the kill until the new incarnation served
	recovered time.Duration // from the kill until every probe started after it completed
	healed    time.Duration // from the kill until every stream replica was current again
}

// TestChaosKillNodes runs chaosNodes `node serve` processes (the built cmd/node
// binary) whose embedded servers form one JetStream cluster, drives a mixed load
// through a duroxide.Client (activities, fan-out, timers, external events, queues,
// sub-orchestrations, continue-as-new, delete and re-create), and kills a random node
// with SIGKILL at random moments, restarting it on its own data directory each time.
// Only one node is down at a time, and the next kill waits until the cluster has
// healed, so every stream keeps a quorum with all acknowledged messages.
//
// Then: every acknowledged start completed with the right output and exactly its
// executions; every activity, timer and sub-orchestration completed at most once per
// scheduling event (read from the histories through the client); nothing was
// dead-lettered; the queues drained; the listing holds exactly the live instances;
// and after each kill, instances started right away completed within
// chaosRecoverBound.
func TestChaosKillNodes(t *testing.T) {
	skipInShortMode(t)
	kills := chaosDefaultKills
	if s := os.Getenv("DUROXIDE_CHAOS_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("DUROXIDE_CHAOS_KILLS=%q: want a number of kills", s)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DUROXIDE_CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DUROXIDE_CHAOS_SEED=%q: want an unsigned number", s)
		}
		seed = n
	}
	t.Logf("chaos: %d kills of %d nodes, seed %d (replay with DUROXIDE_CHAOS_SEED=%d)", kills, chaosNodes, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	t0 := time.Now()
	cl := newChaosCluster(t, buildNode(t), chaosNodes, chaosLease)
	for _, n := range cl.nodes {
		cl.start(n)
	}
	for _, n := range cl.nodes {
		cl.waitReady(n, 2*time.Minute)
	}
	nc, err := nats.Connect(cl.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		// Write errors on the connection to a killed node are expected; the default
		// handler would print each one.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	must(t, err)
	defer nc.Close()
	c, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{})
	must(t, err)
	if _, err := waitHealedWithin(ctx, nc, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: cluster of %d nodes up", time.Since(t0).Round(time.Millisecond), chaosNodes)

	kinds, drainBound := chaosKinds, 60*time.Second
	if os.Getenv("DUROXIDE_CHAOS_APPROVAL") != "" {
		kinds, drainBound = append(slices.Clone(chaosKinds), "approval"), demo.ApprovalTimeout+60*time.Second
	}
	load := newChaosLoad(c, seed, kinds)
	loadCtx, stopLoad := context.WithCancel(ctx)
	var workers sync.WaitGroup
	for w := range chaosWorkers {
		workers.Go(func() { load.worker(loadCtx, w) })
	}
	loadBegin := time.Now()

	var record []chaosKill
	for k := range kills {
		// Load runs undisturbed for 1–4 s, then a random node dies.
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
		n := cl.nodes[rng.IntN(len(cl.nodes))]
		down := time.Duration(rng.IntN(1500)) * time.Millisecond
		killed := time.Now()
		cl.kill(n)
		probes := make(chan error, 1)
		var probed time.Duration // from the kill until every probe completed
		go func() {
			err := load.probe(ctx, k)
			probed = time.Since(killed)
			probes <- err
		}()
		time.Sleep(down)
		cl.start(n)
		cl.waitReady(n, 2*time.Minute)
		rec := chaosKill{node: n.name, down: down, serving: time.Since(killed)}
		if err := <-probes; err != nil {
			t.Fatalf("kill %d (%s): %v\n%s", k+1, n.name, err, cl.tails())
		}
		rec.recovered = probed
		if _, err := waitHealedWithin(ctx, nc, 2*time.Minute); err != nil {
			t.Fatalf("kill %d (%s): %v\n%s", k+1, n.name, err, cl.tails())
		}
		rec.healed = time.Since(killed)
		record = append(record, rec)
		t.Logf("kill %d: %s down %v, serving again after %v, probes done after %v, cluster healed after %v", k+1, n.name,
			rec.down.Round(time.Millisecond), rec.serving.Round(time.Millisecond), rec.recovered.Round(time.Millisecond),
			rec.healed.Round(time.Millisecond))
		if rec.recovered > chaosRecoverBound {
			t.Errorf("kill %d (%s): probes took %v to complete, bound %v", k+1, n.name, rec.recovered, chaosRecoverBound)
		}
	}
	stopLoad()
	workers.Wait()
	loadTime := time.Since(loadBegin)
	for _, f := range load.failures {
		t.Errorf("load: %s", f)
	}

	t.Logf("%v: load stopped", time.Since(t0).Round(time.Millisecond))
	stats := load.verify(ctx)
	t.Logf("%v: histories checked", time.Since(t0).Round(time.Millisecond))
	for _, p := range stats.historyProblems {
		t.Errorf("history: %s", p)
	}
	checkNoDeadLetters(ctx, t, nc)
	checkDrained(ctx, t, c, drainBound)
	t.Logf("%v: queues drained", time.Since(t0).Round(time.Millisecond))
	checkListing(ctx, t, c, stats.instanceIDs)
	t.Logf("%v: listing checked", time.Since(t0).Round(time.Millisecond))

	var recovered []time.Duration
	for _, r := range record {
		recovered = append(recovered, r.recovered)
	}
	slices.Sort(recovered)
	t.Logf("chaos summary: %d kills survived in %v of load; %d root instances (%d re-created after a delete), %d sub-orchestrations, "+
		"%d executions; activities %d scheduled, %d completed, %d cancelled; timers %d created, %d fired; %d client calls retried; "+
		"slowest instance %v (%s)",
		len(record), loadTime.Round(time.Millisecond), stats.roots, load.recreated, stats.children, stats.executions,
		stats.activitiesScheduled, stats.activitiesCompleted, stats.activitiesCancelled, stats.timersCreated, stats.timersFired,
		load.retries.Load(), load.slowest.Round(time.Millisecond), load.slowestID)
	if len(recovered) > 0 {
		t.Logf("chaos recovery after a kill (probes started at the kill, all done): min %v, median %v, max %v",
			recovered[0].Round(time.Millisecond), recovered[len(recovered)/2].Round(time.Millisecond),
			recovered[len(recovered)-1].Round(time.Millisecond))
	}
}

// probe starts chaosProbes HelloWorld instances right after kill k and waits until
// all have completed with the right output.
func (l *chaosLoad) probe(ctx context.Context, k int) error {
	ctx, cancel := context.WithTimeout(ctx, chaosOpTimeout)
	defer cancel()
	errs := make(chan error, chaosProbes)
	for i := range chaosProbes {
		go func() {
			id := fmt.Sprintf("probe-%d-%d", k+1, i)
			want := chaosWant{kind: "probe", output: "Hello, " + id + "!", execs: 1}
			if err := l.start(ctx, id, demo.HelloWorld, id); err != nil {
				errs <- err
				return
			}
			l.acked(id, want)
			if err := l.waitOutput(ctx, id, want.output); err != nil {
				errs <- fmt.Errorf("probe %s: %w", id, err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range chaosProbes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func waitHealedWithin(ctx context.Context, nc *nats.Conn, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return waitHealed(ctx, nc)
}

// checkNoDeadLetters fails the test if anything was dead-lettered: the load sends
// only valid messages.
func checkNoDeadLetters(ctx context.Context, t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	must(t, err)
	dead, err := js.Stream(ctx, "DUROXIDE_DEADLETTER")
	must(t, err)
	info, err := dead.Info(ctx)
	must(t, err)
	if info.State.Msgs == 0 {
		return
	}
	t.Errorf("%d messages dead-lettered", info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= min(info.State.LastSeq, info.State.FirstSeq+9); seq++ {
		m, err := dead.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		t.Errorf("dead letter %d on %s: %s; body %.200s", seq, m.Subject, m.Header.Get("Duroxide-Reason"), m.Data)
	}
}

// checkDrained waits until the orchestrator, worker and timer queues are empty.
func checkDrained(ctx context.Context, t *testing.T, c *duroxide.Client, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		q, err := c.QueueDepths(ctx)
		if err == nil && q.OrchestratorQueue == 0 && q.WorkerQueue == 0 && q.TimerQueue == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("queues not drained %v after the load ended: %+v (read error: %v)", bound, q, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkListing waits until the instance listing holds exactly the instances the
// histories hold: nothing lost, nothing deleted come back.
func checkListing(ctx context.Context, t *testing.T, c *duroxide.Client, want []string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	want = slices.Compact(want)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.ListAllInstances(ctx, duroxide.ListOptions{})
		if err == nil {
			slices.Sort(got)
			if slices.Equal(got, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			extra, missing := diffIDs(got, want)
			t.Errorf("listing: %d instances, want %d (read error %v); not expected: %s; missing: %s", len(got), len(want), err,
				strings.Join(extra, " "), strings.Join(missing, " "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// diffIDs returns the ids only in got and the ids only in want (both sorted).
func diffIDs(got, want []string) (extra, missing []string) {
	for _, id := range got {
		if _, ok := slices.BinarySearch(want, id); !ok {
			extra = append(extra, id)
		}
	}
	for _, id := range want {
		if _, ok := slices.BinarySearch(got, id); !ok {
			missing = append(missing, id)
		}
	}
	return extra, missing
}
