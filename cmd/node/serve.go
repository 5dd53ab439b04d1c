package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

const (
	defaultDataDir = "./duroxide-data"
	defaultListen  = "127.0.0.1:4222"
)

// runServe runs a node with the demo orchestrations registered until ctx ends, then
// shuts it down.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--http HOST:PORT|off] [--data-dir DIR] [--listen HOST:PORT] [--cluster-name C --cluster-listen HOST:PORT --routes URLS --server-name N] | [--nats-url URL]", stdout)
	dataDir := fs.String("data-dir", defaultDataDir, "embedded server's JetStream data `directory`")
	listen := fs.String("listen", defaultListen, "embedded server's client address `HOST:PORT` (port 0 picks a free port)")
	natsURL := fs.String("nats-url", "", "connect to this NATS server or cluster (comma-separated `URLs`) instead of starting an embedded server")
	clusterName := fs.String("cluster-name", "", "join the embedded server to the NATS cluster of this `name`")
	clusterListen := fs.String("cluster-listen", "", "embedded server's cluster route address `HOST:PORT`")
	routes := fs.String("routes", "", "comma-separated route `URLs` of the cluster's servers (nats://host:port)")
	serverName := fs.String("server-name", "", "embedded server's `name`, unique in the cluster (default: the host name)")
	replicas := fs.Int("replicas", 0, "stream replicas when the streams are first created (0: 3 with three or more JetStream servers, else 1)")
	lease := fs.Duration("partition-lease", 0, "how long a dead node keeps its inbox partitions (default 15s)")
	noService := fs.Bool("no-service", false, "do not start the NATS management service")
	nodeID := fs.String("node-id", "", "this node's stable `id` (activity sessions, inbox partitions): a restart with the same id takes the node's partitions back at once (default: kept in the data directory with the embedded server, else new per start)")
	var conn connFlags
	conn.register(fs.FlagSet)
	var logs logFlags
	logs.register(fs.FlagSet)
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long to wait for running work on shutdown")
	httpf := registerHTTPFlag(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	httpf.parsed(fs)
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}

	logger, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	opts := duroxide.Options{DataDir: *dataDir, NATSURL: *natsURL, Logger: logger, Namespace: conn.namespace, WorkerNodeID: *nodeID,
		Cluster: duroxide.ClusterOptions{Replicas: *replicas, PartitionLease: *lease, ServerName: *serverName}}
	if *natsURL == "" {
		addr, err := listenAddr(*listen)
		if err != nil {
			return err
		}
		opts.Listen = addr
		if *clusterName != "" || *clusterListen != "" || *routes != "" {
			if *clusterName == "" || *clusterListen == "" || *routes == "" {
				return usageErrorf("a cluster needs --cluster-name, --cluster-listen and --routes")
			}
			if opts.Cluster.ServerName == "" {
				opts.Cluster.ServerName, _ = os.Hostname()
			}
			opts.Cluster.Name, opts.Cluster.Listen = *clusterName, *clusterListen
			for _, r := range strings.Split(*routes, ",") {
				if r = strings.TrimSpace(r); r != "" {
					opts.Cluster.Routes = append(opts.Cluster.Routes, r)
				}
			}
		}
	} else {
		if opts.NATSOptions, err = conn.options(); err != nil {
			return err
		}
		if *clusterName != "" || *routes != "" {
			return usageErrorf("--cluster-name and --routes are for the embedded server; with --nats-url the cluster is NATS's own")
		}
	}
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		return err
	}
	ln, err := httpf.listen(logger)
	if err != nil {
		return err
	}
	rt, err := duroxide.Start(ctx, reg, opts)
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return err
	}
	if !*noService {
		svc, err := duroxide.StartService(rt.Client())
		if err != nil {
			_ = rt.Shutdown(context.Background())
			return err
		}
		defer func() { _ = svc.Stop() }()
	}
	url := *natsURL
	where := "NATS"
	if url == "" {
		url = rt.ClientURL()
		where = "embedded server, data in " + *dataDir
	}
	fmt.Fprintf(stdout, "duroxide node serving on %s (%s); stop with Ctrl-C\n", url, where)
	stopHTTP := serveHTTP(ln, rt, logger, stdout)

	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	stopHTTP()
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := rt.Shutdown(sctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutdown: running activities did not finish within %s and were handed back to the queue", *shutdownTimeout)
		}
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// listenAddr checks a HOST:PORT listen address (port 0 picks a free port).
func listenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", usageErrorf("--listen %q: %v", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", usageErrorf("--listen %q: port must be a number from 0 to 65535", s)
	}
	return net.JoinHostPort(host, port), nil
}
