package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Read-only views for operators (the dashboard and readiness checks): the streams'
// presence, the live nodes with the partitions each owns, and recent dead letters.

// CheckStreams returns an error naming the first of the store's streams the server
// does not have (or cannot answer for): the inbox, history, work and dead-letter
// streams.
func (s *Store) CheckStreams(ctx context.Context) error {
	for _, name := range []string{s.subj.inboxStream(), s.subj.historyStream(), s.subj.workStream(), s.subj.deadStream()} {
		if _, err := s.js.Stream(ctx, name); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// NodeView is one live node as the nodes bucket shows it.
type NodeView struct {
	// ID is the node's identity in partition ownership; Name its configured server
	// name ("" when none was set).
	ID, Name string
	// LastHeartbeat is the server time of its last heartbeat.
	LastHeartbeat time.Time
	// Partitions are the inbox partitions the node owns by the shared assignment.
	Partitions []int
}

// Nodes lists the nodes whose heartbeat is younger than the partition lease, with
// the partitions each owns under the assignment every node computes from the same
// live set (see assign; the partition count is this store's configuration). A node
// that is handing a partition over may still hold it for a moment. It returns an
// empty list when no node has ever heartbeated.
func (s *Store) Nodes(ctx context.Context) ([]NodeView, error) {
	kv, err := s.js.KeyValue(ctx, s.nodesBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nodes bucket: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var entries []jetstream.KeyValueEntry
	var now time.Time
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
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
	var live []string
	infos := map[string]nodeInfo{}
	views := map[string]*NodeView{}
	for _, e := range entries {
		if now.Sub(e.Created()) > s.cfg.PartitionLease {
			continue
		}
		var info nodeInfo
		_ = json.Unmarshal(e.Value(), &info)
		live = append(live, e.Key())
		infos[e.Key()] = info
		views[e.Key()] = &NodeView{ID: e.Key(), Name: info.Name, LastHeartbeat: e.Created()}
	}
	slices.Sort(live)
	for p, n := range assign(capable(live, infos), s.cfg.Partitions) {
		if v := views[n]; v != nil {
			v.Partitions = append(v.Partitions, p)
		}
	}
	out := make([]NodeView, 0, len(live))
	for _, id := range live {
		out = append(out, *views[id])
	}
	return out, nil
}

// DeadLetter is one message of the dead-letter stream.
type DeadLetter struct {
	// Instance is the instance the message was for ("" when its id was unusable).
	Instance string
	// Reason is the message's Duroxide-Reason header.
	Reason string
	// Time is when it was dead-lettered.
	Time time.Time
	// Seq is its sequence in the dead-letter stream.
	Seq uint64
}

// RecentDeadLetters returns up to limit of the newest dead-lettered messages, newest
// first.
func (s *Store) RecentDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	info, err := s.dead.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	var out []DeadLetter
	prefix := s.subj.ns + ".dead."
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0 && len(out) < limit; seq-- {
		m, err := s.dead.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", seq, err)
		}
		d := DeadLetter{Reason: m.Header.Get(HeaderReason), Time: m.Time, Seq: seq}
		if tok := strings.TrimPrefix(m.Subject, prefix); tok != "_" {
			d.Instance, _ = DecodeToken(tok)
		}
		out = append(out, d)
	}
	return out, nil
}
