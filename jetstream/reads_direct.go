package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Leader reads of single-replica streams.
//
// A stream with one replica has one server that holds it, its leader, and a
// message that stream's own direct get returns is as current as the JetStream API's
// message get. It costs far less: the message comes back as is, where the API's
// answer is JSON with the message base64-encoded in it (encoding and decoding it was
// about a tenth of a loaded node's CPU, most of it the status reads and existence
// checks that LeaderGet serves). So [LeaderGet] reads the streams a store opened
// with one replica by direct get, and keeps the API's message get for what a direct
// get cannot vouch for: an answer from another stream (a mirror with MirrorDirect,
// which may lag; the stream is then read through the API from then on) and "no
// message" (which a mirror may answer too). A stream scaled to more replicas while
// stores have it open is still read by direct get by them until they reopen it:
// scale streams with the nodes stopped.

// singleReplica holds the streams (by connection and name) that may be read by
// direct get as if from their leader.
var singleReplica sync.Map // directKey -> struct{}

type directKey struct {
	nc     *nats.Conn
	stream string
}

// noteReplicas records whether st, as opened on nc, may be read by direct get for
// LeaderGet: one replica, direct gets allowed, not a mirror and no mirror answering
// its direct gets.
func noteReplicas(nc *nats.Conn, st jetstream.Stream) {
	info := st.CachedInfo()
	if info == nil {
		return
	}
	cfg := info.Config
	key := directKey{nc, cfg.Name}
	if cfg.Replicas <= 1 && cfg.AllowDirect && cfg.Mirror == nil && !cfg.MirrorDirect &&
		(info.Cluster == nil || len(info.Cluster.Replicas) == 0) {
		singleReplica.Store(key, struct{}{})
	} else {
		singleReplica.Delete(key)
	}
}

func readsDirect(nc *nats.Conn, stream string) bool {
	_, ok := singleReplica.Load(directKey{nc, stream})
	return ok
}

// directGetOnce is leaderGetOnce for a single-replica stream: a direct get.
func directGetOnce(ctx context.Context, nc *nats.Conn, stream string, body []byte) (_ *LeaderMsg, transient bool, _ error) {
	resp, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, body)
	if err != nil {
		transient = errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
		return nil, transient, fmt.Errorf("jetstream: leader get from %s: %w", stream, err)
	}
	if status := resp.Header.Get("Status"); status != "" {
		// Whoever answered, a lagging mirror (MirrorDirect) included, may not have the
		// message yet: only the leader's "not found" counts.
		return leaderGetOnce(ctx, nc, stream, body)
	}
	if resp.Header.Get(jetstream.StreamHeader) != stream {
		// A mirror answered for the stream (MirrorDirect): it may lag. The stream is
		// read through the API from now on.
		singleReplica.Delete(directKey{nc, stream})
		return leaderGetOnce(ctx, nc, stream, body)
	}
	seq, err := strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return nil, false, fmt.Errorf("jetstream: leader get from %s: no sequence in the answer: %w", stream, err)
	}
	at, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(jetstream.TimeStampHeaer))
	m := &LeaderMsg{Subject: resp.Header.Get(jetstream.SubjectHeader), Sequence: seq, Data: resp.Data, Header: nats.Header{}, Time: at}
	for k, v := range resp.Header {
		switch k {
		case jetstream.StreamHeader, jetstream.SequenceHeader, jetstream.TimeStampHeaer, jetstream.SubjectHeader, "Nats-Last-Sequence", "Nats-Num-Pending":
		default:
			m.Header[k] = v
		}
	}
	return m, false, nil
}
