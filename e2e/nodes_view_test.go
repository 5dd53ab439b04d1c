package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// Client.Nodes lists both nodes of a two-node deployment with the partitions each
// owns: disjoint, covering every partition, and what each runtime consumes.
func TestClientNodesShowsEachNodesPartitions(t *testing.T) {
	reg := duroxide.NewRegistry()
	lease := duroxide.ClusterOptions{PartitionLease: 3 * time.Second}
	a := startRuntime(t, reg, duroxide.Options{Listen: "127.0.0.1:0", Partitions: 8, Cluster: lease})
	b := startRuntime(t, reg, duroxide.Options{NATSURL: a.ClientURL(), Partitions: 8, Cluster: lease})
	ctx := ctxT(t)
	var last string
	waitFor(t, "Nodes to show both nodes with their partitions", func() bool {
		nodes, err := b.Client().Nodes(ctx)
		must(t, err)
		last = fmt.Sprintf("%+v (a owns %v, b owns %v)", nodes, a.Partitions(), b.Partitions())
		if len(nodes) != 2 {
			return false
		}
		var all []int
		for _, n := range nodes {
			all = append(all, n.Partitions...)
			if n.LastHeartbeat.IsZero() {
				return false
			}
		}
		slices.Sort(all)
		owned := [][]int{a.Partitions(), b.Partitions()}
		match := func(p []int) bool { return slices.Equal(p, owned[0]) || slices.Equal(p, owned[1]) }
		return slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7}) && len(nodes[0].Partitions) == 4 &&
			match(nodes[0].Partitions) && match(nodes[1].Partitions)
	})
	t.Log(last)
}
