package duroxide

import "time"

// ClusterOptions configure multi-node deployments. The zero value runs a single
// node.
type ClusterOptions struct {
	// ServerName names the embedded server; it must be unique in the cluster.
	ServerName string
	// Name is the NATS cluster's name. Setting it (with Listen and Routes) makes the
	// embedded server join a cluster with the other nodes' embedded servers.
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
