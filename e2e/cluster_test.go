package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/jetstream"
)

// clusterNode is one node of an in-process cluster: its embedded server, its
// connection and its runtime. The test owns the server and connection, so it can
// kill a node abruptly.
type clusterNode struct {
	name  string
	sopts jetstream.ServerOptions
	ropts duroxide.Options
	reg   func() *duroxide.Registry
	srv   *server.Server
	nc    *nats.Conn
	rt    *duroxide.Runtime
}

// up starts the node's server and connection (not its runtime).
func (nd *clusterNode) up(t testing.TB) {
	t.Helper()
	srv, err := jetstream.StartServer(nd.sopts)
	must(t, err)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
	must(t, err)
	nd.srv, nd.nc = srv, nc
}

// startRuntime starts the node's runtime; it waits for the cluster's leader.
func (nd *clusterNode) startRuntime() error {
	o := nd.ropts
	o.Conn = nd.nc
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rt, err := duroxide.Start(ctx, nd.reg(), o)
	nd.rt = rt
	return err
}

// restart stops the node gracefully and starts it again on the same data and ports.
func (nd *clusterNode) restart(t testing.TB) {
	t.Helper()
	nd.stop()
	nd.up(t)
	must(t, nd.startRuntime())
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startClusterNodes starts n embedded servers that form one JetStream cluster, and a
// runtime on each (concurrently: a runtime's start waits for the cluster's leader).
func startClusterNodes(t testing.TB, n int, reg func() *duroxide.Registry, opts duroxide.Options) []*clusterNode {
	t.Helper()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := 0; i < n; i++ {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	nodes := make([]*clusterNode, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", i+1)
		nodes[i] = &clusterNode{name: name, ropts: opts, reg: reg, sopts: jetstream.ServerOptions{
			DataDir: t.TempDir(), Listen: "127.0.0.1:" + strconv.Itoa(ports[i]), ServerName: name,
			ClusterName: "C", ClusterListen: "127.0.0.1:" + strconv.Itoa(ports[n+i]), Routes: routes,
		}}
		nodes[i].up(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nd.startRuntime()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.stop()
		}
	})
	return nodes
}

// stop shuts the node down gracefully (if it is still up).
func (nd *clusterNode) stop() {
	if nd.srv == nil {
		return
	}
	if nd.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = nd.rt.Shutdown(ctx)
		cancel()
		nd.rt = nil
	}
	nd.nc.Close()
	nd.srv.Shutdown()
	nd.srv.WaitForShutdown()
	nd.srv = nil
}

// kill stops the node as a crash would: its connection and server go first, so it
// acks, naks and hands over nothing.
func (nd *clusterNode) kill() {
	nd.nc.Close()
	nd.srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_ = nd.rt.Shutdown(ctx)
	cancel()
	nd.rt = nil
	nd.srv.WaitForShutdown()
	nd.srv = nil
}

func clusterRegistry(t *testing.T) func() *duroxide.Registry {
	return func() *duroxide.Registry {
		reg := duroxide.NewRegistry()
		must(t, duroxide.RegisterActivity(reg, "Step", func(_ *duroxide.ActivityContext, n int) (int, error) {
			time.Sleep(5 * time.Millisecond)
			return n * 10, nil
		}))
		must(t, duroxide.RegisterOrchestration(reg, "ClusterFlow", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
			ev := ctx.WaitForEvent("go")
			a := ctx.ScheduleActivity("Step", n)
			if err := ctx.ScheduleTimer(200 * time.Millisecond).Get(nil); err != nil {
				return 0, err
			}
			x, err := duroxide.Await[int](ev)
			if err != nil {
				return 0, err
			}
			y, err := duroxide.Await[int](a)
			if err != nil {
				return 0, err
			}
			z, err := duroxide.Await[int](ctx.ScheduleActivity("Step", 1))
			return x + y + z, err
		}))
		return reg
	}
}

// clusterOpts are short leases and lock timeouts, so that failover is quick.
var clusterOpts = duroxide.Options{
	Partitions:          12,
	InboxAckWait:        3 * time.Second,
	ActivityLockTimeout: 3 * time.Second,
	Cluster:             duroxide.ClusterOptions{PartitionLease: 3 * time.Second},
}

// startFlows starts instances prefix-from .. prefix-(from+k-1) of ClusterFlow, spread
// over the nodes, and raises their event.
func startFlows(t *testing.T, nodes []*clusterNode, prefix string, from, k int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+k; i++ {
		c := nodes[i%len(nodes)].rt.Client()
		id := fmt.Sprintf("%s-%d", prefix, i)
		must(t, c.StartOrchestration(ctx, id, "ClusterFlow", i))
		must(t, c.RaiseEvent(ctx, id, "go", 1000))
	}
}

// checkFlows waits for instances prefix-0 .. prefix-(n-1) and checks each completed
// once with the right output and a valid history.
func checkFlows(t *testing.T, c *duroxide.Client, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		wctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		st, err := c.WaitForOrchestration(wctx, id)
		cancel()
		if err != nil {
			evs, _ := c.ReadHistory(context.Background(), id, 0)
			for _, e := range evs {
				t.Logf("%s: %d %s src=%d %s", id, e.EventID, e.Type, e.SourceEventID, e.Name)
			}
			t.Fatalf("wait for %s: %v", id, err)
		}
		var out int
		must(t, st.Decode(&out))
		if want := 1000 + i*10 + 10; out != want {
			t.Errorf("%s: %d, want %d", id, out, want)
		}
		evs, err := c.ReadHistory(context.Background(), id, 0)
		must(t, err)
		checkHistory(t, id, evs)
	}
}

// TestClusterSurvivesNodeCrash runs 300 instances (activities, a timer and an external
// event each) over a three-node cluster with replicated streams, kills one node
// mid-run, and checks that every instance completes exactly once with the right
// output and a valid history.
func TestClusterSurvivesNodeCrash(t *testing.T) {
	nodes := startClusterNodes(t, 3, clusterRegistry(t), clusterOpts)
	js, err := natsjs.New(nodes[0].nc)
	must(t, err)
	for _, name := range []string{"DUROXIDE_INBOX", "DUROXIDE_HISTORY", "DUROXIDE_WORK"} {
		st, err := js.Stream(context.Background(), name)
		must(t, err)
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("stream %s has %d replicas on a three-server cluster, want 3", name, r)
		}
	}
	const n = 300
	startFlows(t, nodes, "c", 0, n)
	survivor := nodes[0].rt.Client()
	// Kill a node once a ninth of the instances are done.
	waitFor(t, "some instances done", func() bool {
		done := 0
		for i := 0; i < n; i += 3 {
			if st, err := survivor.GetStatus(context.Background(), fmt.Sprintf("c-%d", i)); err == nil && st.State.IsTerminal() {
				done++
			}
		}
		return done >= n/9
	})
	// Kill the node that owns the most partitions (never the one whose client the
	// test reads through), once ownership has settled.
	waitSettled(t, nodes)
	victim := nodes[1]
	if len(nodes[2].rt.Partitions()) > len(victim.rt.Partitions()) {
		victim = nodes[2]
	}
	held := victim.rt.Partitions()
	killed := time.Now()
	victim.kill()
	var rest []*clusterNode
	for _, nd := range nodes {
		if nd != victim {
			rest = append(rest, nd)
		}
	}
	waitFor(t, "the survivors to take over every partition", func() bool { return ownedByAll(rest) == clusterOpts.Partitions })
	t.Logf("partitions %v of the killed node %s resumed on the survivors after %v", held, victim.name, time.Since(killed).Round(time.Millisecond))
	checkFlows(t, survivor, "c", n)
	t.Logf("all %d instances completed %v after node %s was killed (partition lease %v, ack wait %v)",
		n, time.Since(killed).Round(time.Millisecond), victim.name, clusterOpts.Cluster.PartitionLease, clusterOpts.InboxAckWait)
}

// ownedByAll counts the partitions the nodes own, or -1 if two own the same one.
func ownedByAll(nodes []*clusterNode) int {
	seen := map[int]bool{}
	for _, nd := range nodes {
		for _, p := range nd.rt.Partitions() {
			if seen[p] {
				return -1
			}
			seen[p] = true
		}
	}
	return len(seen)
}

// waitSettled waits until every partition has one owner and the assignment has not
// changed for a full heartbeat round (it moves while the nodes discover each other).
func waitSettled(t *testing.T, nodes []*clusterNode) {
	t.Helper()
	assignment := func() string {
		var b strings.Builder
		for _, nd := range nodes {
			fmt.Fprint(&b, nd.rt.Partitions())
		}
		return b.String()
	}
	last, since := "", time.Now()
	waitFor(t, "partition ownership to settle", func() bool {
		if a := assignment(); a != last {
			last, since = a, time.Now()
		}
		return ownedByAll(nodes) == clusterOpts.Partitions && time.Since(since) > clusterOpts.Cluster.PartitionLease/2
	})
}

// TestClusterRollingRestart restarts the three nodes one by one while instances run:
// every instance completes once, with a valid history.
func TestClusterRollingRestart(t *testing.T) {
	skipInShortMode(t)
	nodes := startClusterNodes(t, 3, clusterRegistry(t), clusterOpts)
	const perRound = 30
	t0 := time.Now()
	for i, nd := range nodes {
		startFlows(t, nodes, "roll", i*perRound, perRound)
		nd.restart(t)
		t.Logf("%v: node %s restarted", time.Since(t0).Round(time.Millisecond), nd.name)
	}
	checkFlows(t, nodes[0].rt.Client(), "roll", 3*perRound)
	t.Logf("%v: all %d instances completed", time.Since(t0).Round(time.Millisecond), 3*perRound)
}

// TestNodeJoinRebalances: two nodes run instances; a third joins mid-run and takes
// over part of the partitions; nothing stalls and every instance completes once.
func TestNodeJoinRebalances(t *testing.T) {
	reg := clusterRegistry(t)
	opts := clusterOpts
	opts.Listen = "127.0.0.1:0"
	first := startRuntime(t, reg(), opts)
	opts.Listen, opts.NATSURL = "", first.ClientURL()
	second := startRuntime(t, reg(), opts)
	startAt := func(rt *duroxide.Runtime, from, k int) {
		for i := from; i < from+k; i++ {
			id := fmt.Sprintf("join-%d", i)
			must(t, rt.Client().StartOrchestration(context.Background(), id, "ClusterFlow", i))
			must(t, rt.Client().RaiseEvent(context.Background(), id, "go", 1000))
		}
	}
	startAt(first, 0, 40)
	third := startRuntime(t, reg(), opts)
	startAt(second, 40, 40)
	waitFor(t, "the joining node to own partitions", func() bool {
		owned := len(first.Partitions()) + len(second.Partitions()) + len(third.Partitions())
		return len(third.Partitions()) > 0 && owned == opts.Partitions
	})
	startAt(third, 80, 40)
	checkFlows(t, first.Client(), "join", 120)
	t.Logf("partitions after the join: %v %v %v", first.Partitions(), second.Partitions(), third.Partitions())
}
