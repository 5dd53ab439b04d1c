package jetstream

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// Partition ownership across nodes.
//
// Every node that runs orchestrations heartbeats into the NS_NODES KV bucket every
// third of the partition lease. The live nodes are those whose last heartbeat is
// younger than the lease (measured with the server's timestamps, so clock skew between
// machines does not matter). Each inbox partition belongs to the live node with the
// highest rendezvous hash for it within a balanced bound (see assign), so a node
// joining or leaving moves about its share of the partitions. A node consumes exactly the partitions it owns.
//
// Ownership is advisory; the consumers' pinned priority group makes sure only one node
// pulls a partition at a time during a hand-over (the old owner unpins when it lets
// go; a dead owner's pin expires after the lease), and the history fence makes sure
// that even two pullers could not both extend an instance.

// nodeInfo is a heartbeat's value.
type nodeInfo struct {
	Name string `json:"name"`
	// Caps are the orchestrations (name@version) the node can run.
	Caps []string `json:"caps,omitempty"`
	// Engine is the replay-engine version the node pins new executions to, and
	// Replay the range of pinned versions it runs (Config.EngineVersion, Config.Replay).
	Engine string                  `json:"engine,omitempty"`
	Replay *store.CapabilityFilter `json:"replay,omitempty"`
}

func (s *Store) selfInfo() nodeInfo {
	return nodeInfo{Name: s.cfg.NodeName, Caps: s.cfg.Capabilities, Engine: s.cfg.EngineVersion, Replay: s.cfg.Replay}
}

func (s *Store) nodesBucket() string { return s.subj.streamName("NODES") }

// runMembership heartbeats and rebalances until the store closes. The heartbeat has
// its own loop, so a slow rebalance (draining a released partition) never makes the
// other nodes think this one died.
func (s *Store) runMembership() {
	defer s.wg.Done()
	period := max(s.cfg.PartitionLease/3, 100*time.Millisecond)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if err := s.heartbeat(s.life); err != nil && !s.isClosed() {
					s.log.Warn("partition membership", "err", err)
				}
			case <-s.closed:
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = s.nodes.Delete(ctx, s.nodeID)
				cancel()
				return
			}
		}
	}()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.closed:
			return
		}
		if err := s.rebalance(s.life); err != nil && !s.isClosed() {
			s.log.Warn("partition membership", "err", err)
		}
	}
}

// detectPredecessor looks for a heartbeat under this node's own id before the
// first one is written: a dead process with the same node id (the same data
// directory or WorkerNodeID) that still owns partitions. Its heartbeat is ours
// from now on, so the partitions come back to this node at the first rebalance;
// the pins its connection held on them are released then (acquirePartition), so
// no partition waits out the lease on a ghost of this node.
func (s *Store) detectPredecessor(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.ensureNodes(ctx); err != nil {
		return err
	}
	e, err := s.nodes.Get(ctx, s.nodeID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("read node %s: %w", s.nodeID, err)
	}
	s.reclaim = true
	s.log.Info("taking back the partitions of this node's previous process", "node", s.cfg.NodeName, "id", s.nodeID, "last_heartbeat", e.Created())
	return nil
}

// ensureNodes binds the nodes bucket, creating it if needed.
func (s *Store) ensureNodes(ctx context.Context) error {
	if s.nodes != nil {
		return nil
	}
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: s.nodesBucket(), Description: "duroxide nodes' heartbeats (partition ownership)",
		Storage: s.storage(), Replicas: s.inbox.CachedInfo().Config.Replicas, History: 1,
	})
	if err != nil {
		return fmt.Errorf("nodes bucket: %w", err)
	}
	s.nodes = kv
	return nil
}

// heartbeat records this node as alive (creating the nodes bucket on first use).
func (s *Store) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.ensureNodes(ctx); err != nil {
		return err
	}
	info, _ := json.Marshal(s.selfInfo())
	if _, err := s.nodes.Put(ctx, s.nodeID, info); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// rebalance computes the live nodes and starts or stops partition consumers to match
// this node's share. Only the membership loop (and, before it starts, the first
// fetch) calls it.
func (s *Store) rebalance(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	live, err := s.liveNodes(ctx)
	if err != nil {
		return err
	}
	want := map[int]bool{}
	for p, n := range assign(live, s.cfg.Partitions) {
		if n == s.nodeID {
			want[p] = true
		}
	}
	for p := range s.owned {
		if !want[p] {
			s.releasePartition(p)
		}
	}
	for p := range want {
		if _, ok := s.owned[p]; !ok {
			if err := s.acquirePartition(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// liveNodes lists the nodes whose heartbeat is younger than the lease (this node
// always counts) and that are capable of every live orchestration version (see
// capable), and deletes long-dead entries. "Now" is the newest heartbeat's
// server timestamp, so clocks of different machines never matter.
func (s *Store) liveNodes(ctx context.Context) ([]string, error) {
	keys, err := s.nodes.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var entries []jetstream.KeyValueEntry
	var now time.Time
	for k := range keys.Keys() {
		e, err := s.nodes.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read node %s: %w", k, err)
		}
		entries = append(entries, e)
		if e.Created().After(now) {
			now = e.Created()
		}
	}
	live := []string{s.nodeID}
	infos := map[string]nodeInfo{s.nodeID: s.selfInfo()}
	for _, e := range entries {
		age := now.Sub(e.Created())
		switch {
		case e.Key() == s.nodeID:
		case age <= s.cfg.PartitionLease:
			live = append(live, e.Key())
			var info nodeInfo
			_ = json.Unmarshal(e.Value(), &info)
			infos[e.Key()] = info
		case age > 20*s.cfg.PartitionLease:
			_ = s.nodes.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
		}
	}
	slices.Sort(live)
	return capable(live, infos), nil
}

// capable keeps the nodes that can run every orchestration version some live node
// can run, and whose replay filter accepts every live node's engine version: during
// a rolling upgrade the partitions go to the upgraded nodes (which keep the old
// versions registered, and replay the old engine's executions), so an instance of a
// new version, or pinned to a new engine, is never stuck on a node that cannot run
// it. If no node qualifies (disjoint registries), every node stays eligible.
func capable(live []string, infos map[string]nodeInfo) []string {
	union := map[string]bool{}
	var engines []string
	for _, n := range live {
		for _, c := range infos[n].Caps {
			union[c] = true
		}
		if e := infos[n].Engine; e != "" {
			engines = append(engines, e)
		}
	}
	var out []string
	for _, n := range live {
		have := map[string]bool{}
		for _, c := range infos[n].Caps {
			have[c] = true
		}
		all := true
		for c := range union {
			if !have[c] {
				all = false
				break
			}
		}
		for _, e := range engines {
			if !infos[n].Replay.Compatible(e) {
				all = false
				break
			}
		}
		if all {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return live
	}
	return out
}

// assign maps each of n partitions to a live node: every node gets n/len(live)
// partitions or one more, and within that bound each partition goes to the node with
// the highest rendezvous hash for it, so every node computes the same assignment
// from the same live set and a node joining or leaving moves few partitions. (Plain
// rendezvous hashing is not enough: with 12 partitions and 3 nodes it leaves a node
// with none about once in 40 memberships.)
func assign(live []string, n int) []string {
	out := make([]string, n)
	if len(live) == 0 {
		return out
	}
	base, extra := n/len(live), n%len(live)
	count := make(map[string]int, len(live))
	order := make([]string, len(live))
	score := make(map[string]uint64, len(live))
	for p := range out {
		copy(order, live)
		for _, node := range live {
			sum := sha256.Sum256([]byte(node + ":" + strconv.Itoa(p)))
			score[node] = binary.BigEndian.Uint64(sum[:8])
		}
		slices.SortFunc(order, func(a, b string) int {
			if c := cmp.Compare(score[b], score[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		for _, node := range order {
			if c := count[node]; c < base || (c == base && extra > 0) {
				if c == base {
					extra--
				}
				count[node]++
				out[p] = node
				break
			}
		}
	}
	return out
}

// OwnedPartitions returns the inbox partitions this store consumes, ascending (all
// of them with shared partitions, once started).
func (s *Store) OwnedPartitions() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.SharedPartitions {
		if len(s.consumers) == 0 {
			return nil
		}
		out := make([]int, s.cfg.Partitions)
		for p := range out {
			out[p] = p
		}
		return out
	}
	out := make([]int, 0, len(s.owned))
	for p := range s.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// acquirePartition starts consuming partition p. Taking back a dead predecessor's
// partitions (reclaim), it first releases the pin the predecessor's connection
// holds, which would otherwise keep p from this node until the pin's TTL (the
// partition lease) ran out.
func (s *Store) acquirePartition(ctx context.Context, p int) error {
	if s.reclaim {
		err := s.inbox.UnpinConsumer(ctx, partitionConsumer(p), priorityGroup)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			s.log.Debug("unpin a partition of this node's previous process", "partition", p, "err", err)
		}
	}
	cc, err := s.consumePartition(ctx, p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		cc.Stop()
		return nil
	}
	s.owned[p] = cc
	s.consumers = append(s.consumers, cc)
	s.log.Debug("partition acquired", "partition", p, "node", s.cfg.NodeName)
	return nil
}

// unpinAgain releases the pins of the partitions this node took back from its dead
// predecessor twice more, a few seconds apart. The first unpin (acquirePartition)
// can come before the server has dropped the dead connection's pull requests (a
// restart right after a kill): the server then pins the group to one of those
// again, and the partition would wait out the pin's TTL, the partition lease. A
// later unpin of a pin this node holds itself costs one re-pull.
func (s *Store) unpinAgain() {
	defer s.wg.Done()
	for _, wait := range []time.Duration{2 * time.Second, 5 * time.Second} {
		select {
		case <-time.After(wait):
		case <-s.closed:
			return
		}
		for _, p := range s.OwnedPartitions() {
			ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
			err := s.inbox.UnpinConsumer(ctx, partitionConsumer(p), priorityGroup)
			cancel()
			if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				s.log.Debug("unpin a taken-back partition again", "partition", p, "err", err)
			}
		}
	}
}

// releasePartition stops consuming partition p, unpins it so its new owner can pull
// at once, and hands back the messages of p's instances this node still holds.
//
// It unpins only a pin that is this node's (ownsPin): during a hand-over several
// nodes may consume p for a while, and one that never held the pin must not take it
// from the node that does. The server gives a released pin to the first pull
// request it has waiting, which can be one this node has just withdrawn whose
// end the consumer's leader has not yet seen (another server of a cluster): the
// pin then sat on a request nobody listened to until its TTL (the partition lease,
// 15 s) and the messages delivered to it until the inbox AckWait (30 s).
func (s *Store) releasePartition(p int) {
	s.mu.Lock()
	cc := s.owned[p]
	delete(s.owned, p)
	s.consumers = slices.DeleteFunc(slices.Clone(s.consumers), func(c jetstream.ConsumeContext) bool { return c == cc })
	s.mu.Unlock()
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(5 * time.Second):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if s.ownsPin(ctx, p) {
		_ = s.inbox.UnpinConsumer(ctx, partitionConsumer(p), priorityGroup)
	}
	cancel()
	for _, m := range s.host.DrainWhere(func(m inboxMsg) bool { return m.partition == p }) {
		_ = m.msg.Nak()
	}
	s.log.Debug("partition released", "partition", p, "node", s.cfg.NodeName)
}

// ownsPin reports whether partition p's pin is this node's, after it stopped
// consuming p: the pin is the one its last delivery on p carried, or, if no
// delivery carried one, p has nothing pending or unacknowledged (an idle
// partition's pin cannot be known; releasing it there sends nothing anywhere). If
// the consumer cannot be read, it reports true, as an unknown pin must not hold
// p for the lease.
func (s *Store) ownsPin(ctx context.Context, p int) bool {
	var mine string
	if v, ok := s.pins.LoadAndDelete(p); ok {
		mine = v.(string)
	}
	cons, err := s.inbox.Consumer(ctx, partitionConsumer(p))
	if err != nil {
		return true
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return true
	}
	var pinned string
	for _, g := range info.PriorityGroups {
		if g.Group == priorityGroup {
			pinned = g.PinnedClientID
		}
	}
	switch {
	case pinned == "":
		return false // nobody holds it
	case mine != "":
		return pinned == mine
	default:
		return info.NumPending == 0 && info.NumAckPending == 0
	}
}
