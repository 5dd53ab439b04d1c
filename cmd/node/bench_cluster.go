package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide"
)

// benchClusterPartitions is the inbox partitions of node bench --cluster's nodes
// (the default of Options.Partitions).
const benchClusterPartitions = 16

// maxBenchCluster bounds node bench --cluster: more nodes in one process measure
// the process more than the cluster.
const maxBenchCluster = 5

// startBenchCluster starts n runtimes in this process whose embedded servers form
// one NATS cluster on loopback ports, each with its data in dir/n<i>, and streams of
// min(n, 3) replicas (set explicitly: automatic replicas would fall back to one if
// the first node created the streams before the others joined). It returns the
// runtimes and a function that shuts them all down. On error, the runtimes already
// started are shut down.
func startBenchCluster(ctx context.Context, reg *duroxide.Registry, n int, dir, namespace string, logger *slog.Logger) ([]*duroxide.Runtime, func(context.Context) error, error) {
	routes := make([]string, n)
	listens := make([]string, n)
	for i := range n {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, nil, fmt.Errorf("cluster route port: %w", err)
		}
		listens[i], routes[i] = addr, "nats://"+addr
	}
	rts := make([]*duroxide.Runtime, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("n%d", i+1)
			rts[i], errs[i] = duroxide.Start(ctx, reg, duroxide.Options{
				DataDir: filepath.Join(dir, name), Namespace: namespace, Logger: logger.With("node", name),
				// A clustered embedded server needs a client port (Start rejects none).
				Listen:     "127.0.0.1:0",
				Partitions: benchClusterPartitions,
				Cluster: duroxide.ClusterOptions{ServerName: name, Name: "bench", Listen: listens[i], Routes: routes,
					Replicas: min(n, 3)},
			})
			if errs[i] != nil {
				errs[i] = fmt.Errorf("start cluster node %s: %w", name, errs[i])
			}
		}()
	}
	wg.Wait()
	shutdown := func(ctx context.Context) error {
		var all []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, rt := range rts {
			if rt == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := rt.Shutdown(ctx); err != nil {
					mu.Lock()
					all = append(all, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return errors.Join(all...)
	}
	if err := errors.Join(errs...); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = shutdown(sctx)
		return nil, nil, err
	}
	if err := waitSpread(ctx, rts, 60*time.Second); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = shutdown(sctx)
		return nil, nil, err
	}
	return rts, shutdown, nil
}

// waitSpread waits until the nodes share the inbox partitions, each owning some and
// none twice, and the assignment has held for two seconds: measuring while the
// nodes still hand partitions over would count the hand-over (messages in flight to
// a partition's previous owner are redelivered after the inbox AckWait, 30 s).
func waitSpread(ctx context.Context, rts []*duroxide.Runtime, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	var since time.Time
	for {
		owned := make([]int, benchClusterPartitions)
		spread := true
		var state strings.Builder
		for _, rt := range rts {
			ps := rt.Partitions()
			spread = spread && len(ps) > 0
			for _, p := range ps {
				if p >= 0 && p < len(owned) {
					owned[p]++
				}
			}
			fmt.Fprintf(&state, "%v;", ps)
		}
		for _, n := range owned {
			spread = spread && n == 1
		}
		now := time.Now()
		if cur := state.String(); !spread || cur != last {
			last, since = cur, now
		} else if now.Sub(since) >= 2*time.Second {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("cluster nodes did not settle their inbox partitions within %s (owned: %s)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
