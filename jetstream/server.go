package jetstream

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configures an embedded nats-server with JetStream.
type ServerOptions struct {
	// DataDir is where JetStream stores its files. Required.
	DataDir string
	// Listen is the client address HOST:PORT; port 0 (or -1) picks a free port. Empty means
	// 127.0.0.1 on a free port; "none" opens no port at all (in-process connections
	// only).
	Listen string
	// ServerName names the server (defaults to the server's generated id).
	ServerName string
	// MaxPayload is the largest message the server accepts. Default 8 MiB, so that a
	// turn carrying several maximum-size payloads still fits.
	MaxPayload int32
	// Logs, when true, lets the server write its own log to stderr.
	Logs bool

	// ClusterName, ClusterListen and Routes join the server to a NATS cluster: the
	// cluster's name, this server's route address (HOST:PORT), and the route URLs
	// of the cluster's servers (nats://host:port; listing this server too is fine).
	// A clustered server needs a ServerName unique in the cluster.
	ClusterName   string
	ClusterListen string
	Routes        []string
}

// DefaultServerMaxPayload is the embedded server's message size limit.
const DefaultServerMaxPayload = 8 << 20

// StartServer starts an embedded nats-server with JetStream enabled and waits until it
// accepts connections.
func StartServer(o ServerOptions) (*server.Server, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("embedded nats-server: DataDir is required")
	}
	opts := &server.Options{
		JetStream:  true,
		StoreDir:   o.DataDir,
		NoSigs:     true,
		NoLog:      !o.Logs,
		ServerName: o.ServerName,
		MaxPayload: o.MaxPayload,
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = DefaultServerMaxPayload
	}
	switch o.Listen {
	case "none":
		opts.DontListen = true
	case "":
		opts.Host, opts.Port = "127.0.0.1", -1
	default:
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats-server: listen address %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats-server: listen port %q: %w", port, err)
		}
		if p == 0 {
			p = -1 // nats-server reads 0 as its default port 4222
		}
		if p > 0 {
			// nats-server reports a busy port only in its log: find out now.
			ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
			if err != nil {
				return nil, fmt.Errorf("embedded nats-server: cannot listen on %s: %w", o.Listen, err)
			}
			_ = ln.Close()
		}
		opts.Host, opts.Port = host, p
	}
	if o.ClusterName != "" || o.ClusterListen != "" || len(o.Routes) > 0 {
		if o.ClusterName == "" || o.ClusterListen == "" || o.ServerName == "" {
			return nil, fmt.Errorf("embedded nats-server: a cluster needs a cluster name, a cluster listen address and a server name")
		}
		host, port, err := net.SplitHostPort(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats-server: cluster listen address %q: %w", o.ClusterListen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats-server: cluster listen port %q: %w", port, err)
		}
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: host, Port: p}
		for _, r := range o.Routes {
			u, err := url.Parse(strings.TrimSpace(r))
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("embedded nats-server: route %q is not a nats://host:port URL", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	if o.Logs {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats-server: not ready after 10s (is %s in use?)", o.Listen)
	}
	return s, nil
}
