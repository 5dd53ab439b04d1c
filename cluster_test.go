package duroxide

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A runtime whose embedded server joins a cluster needs a client port: without one
// the server never becomes ready, and Start used to hang for ever (its shutdown of
// the unready server never returned). Start now says what is missing.
func TestStartClusterWithoutListen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	route := l.Addr().String()
	l.Close()
	done := make(chan error, 1)
	go func() {
		rt, err := Start(context.Background(), NewRegistry(), Options{DataDir: t.TempDir(),
			Cluster: ClusterOptions{ServerName: "n1", Name: "c", Listen: route, Routes: []string{"nats://" + route}}})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rt.Shutdown(ctx)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "Listen") {
			t.Fatalf("Start = %v; want an error wrapping ErrInvalidInput that names Listen", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Start of a clustered embedded server without a client port did not return within 60 s")
	}
}
