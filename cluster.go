package duroxide

import (
	"fmt"
	"time"
)

// ClusterOptions configure multi-node deployments. The zero value runs a single
// node.
type ClusterOptions struct {
	// ServerName names the embedded server; it must be unique in the cluster.
	ServerName string
	// Name is the NATS cluster's name. Setting it (with Listen and Routes) makes the
	// embedded server join a cluster with the other nodes' embedded servers. Such a
	// server needs a client port too: Start rejects a Name without [Options.Listen].
	Name string
	// Listen is the embedded server's route address (HOST:PORT).
	Listen string
	// Routes are the route URLs of the cluster's servers (nats://host:port).
	Routes []string

	// Replicas of every stream, fixed when a namespace's streams are first created.
	// Default: 3 when the JetStream cluster has at least three servers, 1 otherwise.
	Replicas int
	// PartitionLease is how long a node keeps an inbox partition after it stops
	// pulling from it: when a node dies, its partitions move to the other nodes after
	// this long (a node that shuts down hands them over at once). Default 15s.
	PartitionLease time.Duration
}

// validateCluster rejects an embedded server that joins a cluster without a client
// port: it would never become ready.
func (o *Options) validateCluster() error {
	if o.Conn == nil && o.NATSURL == "" && o.Cluster.Name != "" && o.Listen == "" {
		return fmt.Errorf("%w: Cluster.Name is set but Listen is empty: an embedded server in a cluster needs a client address (HOST:PORT, port 0 for a free one)", ErrInvalidInput)
	}
	return nil
}

func (c ClusterOptions) isZero() bool {
	return c.ServerName == "" && c.Name == "" && c.Listen == "" && len(c.Routes) == 0 && c.Replicas == 0 && c.PartitionLease == 0
}
