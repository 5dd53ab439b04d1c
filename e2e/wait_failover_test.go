package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide"
)

// TestWaitSurvivesLostStatusRead: a status read whose request dies with the client's
// connection gets no answer at all. WaitForOrchestration must not sit on that read
// until its own deadline: after the client reconnects and the instance completes, the
// wait returns. (Found by TestChaosKillNodes: waits in flight when a node was killed
// ran into their 3-minute deadline although their instances had completed.)
func TestWaitSurvivesLostStatusRead(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "AwaitGo", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		return duroxide.Await[string](ctx.WaitForEvent("go"))
	}))
	rt := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0"})
	ctx := ctxT(t)
	must(t, rt.Client().StartOrchestration(ctx, "lost-read", "AwaitGo", nil))

	// The waiting client talks to the server through a proxy that can swallow what the
	// client sends and then cut the connection, as a dying server would.
	p := newBlackholeProxy(t, rt.ClientURL())
	nc, err := nats.Connect(p.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	must(t, err)
	defer nc.Close()
	c, err := duroxide.NewClient(ctx, nc, duroxide.ClientOptions{})
	must(t, err)
	waitFor(t, "the instance to start", func() bool {
		st, err := c.GetStatus(ctx, "lost-read")
		return err == nil && st.State == duroxide.StateRunning
	})

	p.swallow(true)
	done := make(chan error, 1)
	wctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go func() {
		st, err := c.WaitForOrchestration(wctx, "lost-read")
		if err == nil && st.State != duroxide.StateCompleted {
			err = fmt.Errorf("state %s, want Completed", st.State)
		}
		done <- err
	}()
	waitFor(t, "the wait's status read to be swallowed", func() bool {
		// A leader read: the API's message get, or a direct get of a single-replica stream.
		return p.swallowed([]byte("$JS.API.STREAM.MSG.GET")) || p.swallowed([]byte("$JS.API.DIRECT.GET"))
	})
	p.swallow(false)
	p.cut()

	must(t, rt.Client().RaiseEvent(ctx, "lost-read", "go", "now"))
	waitDone(t, rt.Client(), "lost-read", 15*time.Second)
	completed := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		t.Logf("the wait returned %v after the instance completed", time.Since(completed).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("the wait has not returned 30 s after the instance completed: it sits on the lost read")
	}
}

// blackholeProxy forwards TCP connections to a NATS server. While swallowing, it
// drops what clients send (and remembers it); cut closes every connection.
type blackholeProxy struct {
	t      *testing.T
	l      net.Listener
	target string

	mu      sync.Mutex
	on      bool
	dropped []byte
	conns   []net.Conn
}

func newBlackholeProxy(t *testing.T, natsURL string) *blackholeProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &blackholeProxy{t: t, l: l, target: natsURL[len("nats://"):]}
	t.Cleanup(func() { l.Close(); p.cut() })
	go p.accept()
	return p
}

func (p *blackholeProxy) url() string { return "nats://" + p.l.Addr().String() }

func (p *blackholeProxy) accept() {
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(client, server); client.Close() }()
		go p.upstream(client, server)
	}
}

// upstream copies client to server, or drops the bytes while swallowing.
func (p *blackholeProxy) upstream(client, server net.Conn) {
	defer server.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			p.mu.Lock()
			on := p.on
			if on {
				p.dropped = append(p.dropped, buf[:n]...)
			}
			p.mu.Unlock()
			if !on {
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *blackholeProxy) swallow(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on = on
}

func (p *blackholeProxy) swallowed(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Contains(p.dropped, b)
}

func (p *blackholeProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
