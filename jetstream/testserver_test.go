package jetstream

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
)

// openTestStore starts an embedded server with file storage in a temp dir and opens
// a store on it.
func openTestStore(t *testing.T, cfg Config) (*Store, *nats.Conn) {
	t.Helper()
	srv, err := StartServer(ServerOptions{DataDir: t.TempDir(), Listen: "none"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.Close()
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return st, nc
}
