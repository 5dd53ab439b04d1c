package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/jetstream"
)

// huntInstances is the stale-read hunter's instance count: the test takes 80 s to
// 3 min on the loaded two-core test VM (the issue asks for ~1,000; each instance
// costs nine reads through three clients, plus re-reads after each reconnection).
const huntInstances = 450

// TestClusterReadsNeverGoBackwards hunts for stale reads: a three-node cluster with
// replicated streams runs huntInstances short instances while its nodes restart one
// by one. A client per node (its own connection to that node's server, so its direct
// gets are answered by that server's replica first) listens for status notices and,
// after each one, immediately reads the instance's status, history and info. A
// terminal notice, and every read, is an observation: no later read through the same
// client may return less — a non-terminal status or info after a terminal one, a
// shorter history, or a history without its terminal event.
func TestClusterReadsNeverGoBackwards(t *testing.T) {
	skipInShortMode(t)
	reg := func() *duroxide.Registry {
		r := clusterRegistry(t)()
		must(t, duroxide.RegisterOrchestration(r, "HuntFlow", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
			a, err := duroxide.Await[int](ctx.ScheduleActivity("Step", n))
			if err != nil {
				return 0, err
			}
			b, err := duroxide.Await[int](ctx.ScheduleActivity("Step", 1))
			return a + b, err
		}))
		return r
	}
	nodes := startClusterNodes(t, 3, reg, clusterOpts)
	var readers []*staleReader
	for _, nd := range nodes {
		r := newStaleReader(t, nd)
		readers = append(readers, r)
		defer r.close()
	}

	t0 := time.Now()
	ctx := context.Background()
	per := huntInstances / len(nodes)
	for round, nd := range nodes {
		// Start this round's instances through a node that stays up.
		starter := readers[(round+1)%len(readers)].c
		for i := round * per; i < (round+1)*per; i++ {
			must(t, starter.StartOrchestration(ctx, fmt.Sprintf("hunt-%d", i), "HuntFlow", i))
		}
		// Restart while the round runs: once its first instance has completed (a
		// generous bound: on a loaded machine a node's restart alone can take a minute).
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		_, err := starter.WaitForOrchestration(wctx, fmt.Sprintf("hunt-%d", round*per))
		cancel()
		must(t, err)
		t.Logf("%v: round %d running, restarting node %s", time.Since(t0).Round(time.Millisecond), round, nd.name)
		nd.restart(t)
		t.Logf("%v: node %s restarted", time.Since(t0).Round(time.Millisecond), nd.name)
	}
	final := readers[0].c
	for i := 0; i < per*len(nodes); i++ {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := final.WaitForOrchestration(wctx, fmt.Sprintf("hunt-%d", i))
		cancel()
		must(t, err)
	}
	t.Logf("%v: all %d instances completed", time.Since(t0).Round(time.Millisecond), per*len(nodes))
	// Let the readers finish the notices they hold, then read every instance once
	// more through every client: the final state, never less than seen before.
	for _, r := range readers {
		r.drain()
	}
	for _, r := range readers {
		for i := 0; i < per*len(nodes); i++ {
			r.check(fmt.Sprintf("hunt-%d", i), true)
		}
	}
	var reads, stale, errs, notices int64
	for _, r := range readers {
		t.Logf("client of %s: %d terminal notices, %d reads, %d read errors, %d stale reads",
			r.name, r.notices.Load(), r.reads.Load(), r.errs.Load(), r.stale.Load())
		reads += r.reads.Load()
		stale += r.stale.Load()
		errs += r.errs.Load()
		notices += r.notices.Load()
	}
	t.Logf("%v: %d reads after %d terminal notices, %d stale, %d errors (node restarts)",
		time.Since(t0).Round(time.Millisecond), reads, notices, stale, errs)
	if stale != 0 {
		t.Fatalf("%d reads returned a state older than one their client had already observed", stale)
	}
	// The hunt must have hunted: most completions were seen by all three clients.
	if min := int64(per * len(nodes)); notices < min {
		t.Fatalf("only %d terminal notices reached the readers, want at least %d", notices, min)
	}
}

// staleReader is one client of the hunt, with what it has observed per instance.
type staleReader struct {
	t    *testing.T
	name string
	nc   *nats.Conn
	c    *duroxide.Client
	sub  *nats.Subscription
	jobs []chan string // one worker per slot, so reads of one instance are sequential
	wg   sync.WaitGroup

	jmu     sync.Mutex // guards sending on jobs and starting bursts against drain
	drained bool
	bursts  sync.WaitGroup

	mu   sync.Mutex
	seen map[string]*observed

	notices, reads, errs, stale atomic.Int64
}

type observed struct {
	terminal bool // a terminal notice, status, info or history was seen
	events   int  // the longest history seen
}

func newStaleReader(t *testing.T, nd *clusterNode) *staleReader {
	r := &staleReader{t: t, name: nd.name, seen: map[string]*observed{}}
	// When the node comes back from its restart, its replicas serve direct gets once
	// they are 90% caught up: the client re-reads at once everything it has seen end.
	nc, err := nats.Connect(nd.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { r.burst() }))
	must(t, err)
	c, err := duroxide.NewClient(context.Background(), nc, duroxide.ClientOptions{})
	must(t, err)
	r.nc, r.c = nc, c
	for i := 0; i < 4; i++ {
		ch := make(chan string, 4096)
		r.jobs = append(r.jobs, ch)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for id := range ch {
				r.check(id, false)
			}
		}()
	}
	r.sub, err = nc.Subscribe("duroxide.evt.*", func(m *nats.Msg) {
		var sum struct {
			Status string `json:"status"`
		}
		id, err := jetstream.DecodeToken(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
		if err != nil || json.Unmarshal(m.Data, &sum) != nil {
			return
		}
		if terminalStatus(sum.Status) {
			r.notices.Add(1)
			r.observe(id, observed{terminal: true})
		}
		h := fnv.New32a()
		h.Write([]byte(id))
		r.jmu.Lock()
		defer r.jmu.Unlock()
		if !r.drained {
			r.jobs[h.Sum32()%uint32(len(r.jobs))] <- id
		}
	})
	must(t, err)
	must(t, r.sub.SetPendingLimits(-1, -1))
	return r
}

// burst re-reads, from 4 goroutines, every instance the client has seen end with its
// full history (its state can no longer change, so concurrent reads are comparable).
func (r *staleReader) burst() {
	r.jmu.Lock()
	defer r.jmu.Unlock()
	if r.drained {
		return
	}
	r.mu.Lock()
	var ids []string
	for id, o := range r.seen {
		if o.terminal && o.events > 0 {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	r.bursts.Add(1)
	go func() {
		defer r.bursts.Done()
		ch := make(chan string)
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range ch {
					r.check(id, false)
				}
			}()
		}
		for _, id := range ids {
			ch <- id
		}
		close(ch)
		wg.Wait()
		r.t.Logf("client of %s reconnected: re-read %d ended instances", r.name, len(ids))
	}()
}

func terminalStatus(s string) bool { return s == "Completed" || s == "Failed" }

// observe merges o into what the client has seen of id.
func (r *staleReader) observe(id string, o observed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.seen[id]
	if cur == nil {
		cur = &observed{}
		r.seen[id] = cur
	}
	cur.terminal = cur.terminal || o.terminal
	cur.events = max(cur.events, o.events)
}

func (r *staleReader) before(id string) observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.seen[id]; o != nil {
		return *o
	}
	return observed{}
}

// check reads id's status, history and info, and counts each result older than what
// the client had observed when the read began. With mustSucceed, a read error fails
// the test (the final sweep, with every node up).
func (r *staleReader) check(id string, mustSucceed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	failed := func(what string, err error) {
		r.errs.Add(1)
		if mustSucceed {
			r.t.Errorf("client of %s: %s of %s: %v", r.name, what, id, err)
		}
	}
	staleRead := func(format string, args ...any) {
		r.stale.Add(1)
		r.t.Errorf("client of %s: stale read of %s: %s", r.name, id, fmt.Sprintf(format, args...))
	}

	prev := r.before(id)
	r.reads.Add(1)
	if st, err := r.c.GetStatus(ctx, id); err != nil {
		failed("status", err)
	} else {
		term := st.State.IsTerminal()
		if prev.terminal && !term {
			staleRead("status %v after a terminal state was observed", st.State)
		}
		r.observe(id, observed{terminal: term})
	}

	prev = r.before(id)
	r.reads.Add(1)
	if evs, err := r.c.ReadHistory(ctx, id, 0); err != nil {
		failed("history", err)
	} else {
		term := len(evs) > 0 && evs[len(evs)-1].Type.IsTerminal()
		switch {
		case len(evs) < prev.events:
			staleRead("history of %d events after one of %d", len(evs), prev.events)
		case prev.terminal && !term:
			staleRead("history of %d events without its terminal event after a terminal state was observed", len(evs))
		}
		r.observe(id, observed{terminal: term, events: len(evs)})
	}

	prev = r.before(id)
	r.reads.Add(1)
	if info, err := r.c.InstanceInfo(ctx, id); err != nil {
		failed("info", err)
	} else {
		term := terminalStatus(info.Status)
		if prev.terminal && !term {
			staleRead("info status %s after a terminal state was observed", info.Status)
		}
		r.observe(id, observed{terminal: term})
	}
}

// drain stops taking notices and waits for the reads of those taken.
func (r *staleReader) drain() {
	_ = r.sub.Unsubscribe()
	r.jmu.Lock()
	r.drained = true
	for _, ch := range r.jobs {
		close(ch)
	}
	r.jmu.Unlock()
	r.wg.Wait()
	r.bursts.Wait()
}

func (r *staleReader) close() { r.nc.Close() }

// TestReadsWithLaggingMirror reads through a history stream that has a mirror serving
// direct gets (MirrorDirect, JetStream's read replicas): a mirror is sourced
// asynchronously and answers direct gets once it is within 10 messages of its origin,
// so it is a responder that lags, like a follower replica. The views and KV state
// buckets get such mirrors too. Once a status read has shown an instance ended, reads
// through the same client must show it ended: its history (latest execution and
// execution 1) ends with the terminal event, its KV value is set, its info says
// Completed.
func TestReadsWithLaggingMirror(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Step", func(_ *duroxide.ActivityContext, n int) (int, error) { return n, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "Two", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		a, err := duroxide.Await[int](ctx.ScheduleActivity("Step", n))
		if err != nil {
			return 0, err
		}
		b, err := duroxide.Await[int](ctx.ScheduleActivity("Step", 1))
		ctx.SetValue("result", fmt.Sprint(a+b))
		return a + b, err
	}))
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0"})
	c := rt.Client()
	ctx := context.Background()
	nc, err := nats.Connect(rt.ClientURL())
	must(t, err)
	defer nc.Close()
	js, err := natsjs.New(nc)
	must(t, err)
	// The views and KV state buckets exist once the first instance has ended.
	must(t, c.StartOrchestration(ctx, "m-first", "Two", 0))
	waitDone(t, c, "m-first", time.Minute)
	for _, origin := range []string{"DUROXIDE_HISTORY", "KV_duroxide_views", "KV_duroxide_kvstate"} {
		_, err = js.CreateStream(ctx, natsjs.StreamConfig{Name: origin + "_READ_REPLICA", Storage: natsjs.MemoryStorage,
			Mirror: &natsjs.StreamSource{Name: origin}, MirrorDirect: true})
		must(t, err)
	}

	// Each instance is polled (status reads from the leader, back to back) until it
	// has ended, and its history read at once: within the mirror's lag.
	const n = 200
	stale := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m-%d", i)
		must(t, c.StartOrchestration(ctx, id, "Two", i))
		deadline := time.Now().Add(time.Minute)
		for {
			st, err := c.GetStatus(ctx, id)
			must(t, err)
			if st.State.IsTerminal() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %v after a minute", id, st.State)
			}
		}
		for _, exec := range []uint64{0, 1} {
			evs, err := c.ReadHistory(ctx, id, exec)
			must(t, err)
			if len(evs) == 0 || !evs[len(evs)-1].Type.IsTerminal() {
				stale++
				t.Errorf("%s: history of execution %d read after completion has %d events and no terminal event", id, exec, len(evs))
			}
		}
		if v, ok, err := c.GetValue(ctx, id, "result"); err != nil || !ok || v != fmt.Sprint(i+1) {
			stale++
			t.Errorf("%s: value read after completion: %q, %v, %v; want %q", id, v, ok, err, fmt.Sprint(i+1))
		}
		if info, err := c.InstanceInfo(ctx, id); err != nil || info.Status != "Completed" {
			stale++
			t.Errorf("%s: info read after completion: %+v, %v", id, info, err)
		}
	}
	if stale > 0 {
		t.Fatalf("%d of %d reads older than the completed status already observed", stale, 4*n)
	}
}
