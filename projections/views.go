// Package projections maintains read models of duroxide-go instances in NATS KV,
// built from the history stream: an instance view, an execution view per (instance,
// execution), status and creation indexes for listing, and system-wide counters.
//
// A [Projector] consumes the history stream (one message per committed turn, plus the
// admin records deletes and prunes append) through one durable consumer shared by
// every runtime, with one message in flight at a time, so records are applied in
// stream order. Every view stores the stream sequence it last applied and the
// counters store the last sequence they include, so a record applied twice (after a
// crash or a redelivery) changes nothing. Deleting the buckets and restarting
// rebuilds the same views from the stream.
//
// A [Views] reads them. Reads that must observe earlier writes call
// [Views.WaitCaughtUp] first: it waits until the projector has applied the stream's
// last sequence as of the call.
package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	djs "github.com/duroxide-go/duroxide/jetstream"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Errors.
var (
	// ErrNotFound means the view does not exist.
	ErrNotFound = errors.New("projections: not found")
	// ErrLagging means the projector did not catch up in time (is a runtime running?).
	ErrLagging = errors.New("projections: projector is behind the history stream")
)

// Counters are the system-wide totals (and one instance's contribution to them).
type Counters struct {
	Instances      int64 `json:"instances"`
	Executions     int64 `json:"executions"`
	Running        int64 `json:"running"`
	Completed      int64 `json:"completed"`
	Failed         int64 `json:"failed"`
	ContinuedAsNew int64 `json:"continued_as_new"`
	Events         int64 `json:"events"`
}

func (c Counters) add(o Counters, sign int64) Counters {
	c.Instances += sign * o.Instances
	c.Executions += sign * o.Executions
	c.Running += sign * o.Running
	c.Completed += sign * o.Completed
	c.Failed += sign * o.Failed
	c.ContinuedAsNew += sign * o.ContinuedAsNew
	c.Events += sign * o.Events
	return c
}

// InstanceView is the state of one instance.
type InstanceView struct {
	// The summary of the instance's last applied turn (its fields are flattened in
	// the view's JSON).
	store.InstanceSummary
	// Executions, Events and HistoryBytes count what the history stream still holds
	// of the instance (HistoryBytes: the size of its turn records).
	Executions   int64 `json:"executions"`
	Events       int64 `json:"events"`
	HistoryBytes int64 `json:"history_bytes"`

	// Seq is the history stream sequence this view last applied.
	Seq uint64 `json:"seq"`
	// Deleted marks a deleted instance whose view is being removed.
	Deleted bool `json:"deleted,omitempty"`
	// PrevStatus, Prev and Cur describe the change Seq made (status before, counter
	// contribution before and after), so a record re-applied after a crash can finish
	// its index and counter updates. Prev is the contribution before the batch of
	// records that Seq was applied in (the counters are written once per batch), so
	// it spans every change of the view in that batch.
	PrevStatus string   `json:"prev_status,omitempty"`
	Prev       Counters `json:"prev"`
	Cur        Counters `json:"cur"`
	// IdxAll and IdxStatus are the view's listing index entries (index stream
	// sequences); DropIdx are entries Seq replaced, removed after the view is written.
	IdxAll    uint64   `json:"idx_all,omitempty"`
	IdxStatus uint64   `json:"idx_status,omitempty"`
	DropIdx   []uint64 `json:"drop_idx,omitempty"`
}

func (v *InstanceView) contribution() Counters {
	if v.Deleted {
		return Counters{}
	}
	c := Counters{Instances: 1, Executions: v.Executions, Events: v.Events}
	switch v.Status {
	case store.StatusRunning:
		c.Running = 1
	case store.StatusCompleted:
		c.Completed = 1
	case store.StatusFailed:
		c.Failed = 1
	case store.StatusContinuedAsNew:
		c.ContinuedAsNew = 1
	}
	return c
}

// ExecutionView is the state of one execution.
type ExecutionView struct {
	Instance      string                `json:"instance"`
	ExecutionID   uint64                `json:"execution_id"`
	Status        string                `json:"status"`
	Output        string                `json:"output,omitempty"`
	Failure       *history.ErrorDetails `json:"failure,omitempty"`
	StartedAtMs   int64                 `json:"started_at_ms"`
	CompletedAtMs int64                 `json:"completed_at_ms,omitempty"`
	Events        int64                 `json:"events"`
	Bytes         int64                 `json:"bytes"`
	FirstSeq      uint64                `json:"first_seq"`
	Seq           uint64                `json:"seq"`
}

// Stats is the system-wide counters document.
type Stats struct {
	// AppliedSeq is the last history stream sequence included.
	AppliedSeq uint64   `json:"applied_seq"`
	Totals     Counters `json:"totals"`
}

// indexEntry is one message of the listing index stream: on <ns>.vidx.all for every
// instance, and on <ns>.vidx.s.<status> for its current status. The message is
// deleted when the entry is replaced, so a subject holds exactly its members, in
// the order they joined.
type indexEntry struct {
	ID          string `json:"id"` // encoded instance id
	CreatedAtMs int64  `json:"c"`
	Name        string `json:"n"`
}

// IndexStream is the listing index stream of namespace ns.
func IndexStream(ns string) string { return ns + "_views_index" }

func indexAllSubject(ns string) string            { return ns + ".vidx.all" }
func indexStatusSubject(ns, status string) string { return ns + ".vidx.s." + status }

// Names of the buckets, keys and consumer.
const (
	consumerName = "projector"
	statsKey     = "stats"
)

// ViewsBucket is the bucket of the views of namespace ns.
func ViewsBucket(ns string) string { return ns + "_views" }

func instKey(enc string) string              { return "i." + enc }
func execKey(enc string, exec uint64) string { return "e." + enc + "." + strconv.FormatUint(exec, 10) }

// childKey is the children index entry of a sub-orchestration (an empty value under
// its parent's prefix), written when a turn names the parent and removed with the
// child's views.
func childKey(parentEnc, enc string) string { return "c." + parentEnc + "." + enc }

// Views reads the projections of one namespace.
type Views struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	ns        string
	histStrm  string
	kv        jetstream.KeyValue
	lastSeqFn func(ctx context.Context) (uint64, error)
}

// OpenViews binds to the views of namespace ns. lastSeq returns the history stream's
// last sequence (see WaitCaughtUp). It returns [ErrNotFound] if no projector has
// created the views yet.
func OpenViews(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, ns, historyStream string,
	lastSeq func(ctx context.Context) (uint64, error)) (*Views, error) {
	kv, err := js.KeyValue(ctx, ViewsBucket(ns))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: bucket %s (no runtime has run a projector in namespace %q)", ErrNotFound, ViewsBucket(ns), ns)
	}
	if err != nil {
		return nil, fmt.Errorf("projections: bind %s: %w", ViewsBucket(ns), err)
	}
	return &Views{nc: nc, js: js, ns: ns, histStrm: historyStream, kv: kv, lastSeqFn: lastSeq}, nil
}

// WaitCaughtUp waits until the projector has applied every history record written
// before the call, or until timeout (then [ErrLagging]) or ctx ends.
func (v *Views) WaitCaughtUp(ctx context.Context, timeout time.Duration) error {
	last, err := v.lastSeqFn(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	poll := time.Millisecond
	for {
		ok, err := v.caughtUp(ctx, last)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: sequence %d not applied after %s", ErrLagging, last, timeout)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		poll = min(2*poll, 20*time.Millisecond)
	}
}

func (v *Views) caughtUp(ctx context.Context, last uint64) (bool, error) {
	if last == 0 {
		return true, nil
	}
	st, _, err := v.Stats(ctx)
	if err != nil {
		return false, err
	}
	if st.AppliedSeq >= last {
		return true, nil
	}
	// The record at last still exists: the projector will apply it. (The consumer's
	// pending count below may not include a record stored a moment ago yet.)
	if exists, err := v.recordExists(ctx, last); err != nil || exists {
		return false, err
	}
	// The last sequences may be records that were purged (deleted or pruned) before
	// the projector saw them: ask the consumer whether anything is left.
	c, err := v.js.Consumer(ctx, v.histStrm, consumerName)
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("projections: projector consumer: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("projections: projector consumer info: %w", err)
	}
	return info.AckFloor.Stream >= last || info.NumPending == 0 && info.NumAckPending == 0, nil
}

// recordExists reports whether the history stream still holds the record at seq (a
// read from the stream leader: a replica may not have it yet).
func (v *Views) recordExists(ctx context.Context, seq uint64) (bool, error) {
	m, err := djs.LeaderGet(ctx, v.nc, v.histStrm, djs.LeaderGetRequest{Seq: seq})
	if err != nil {
		return false, fmt.Errorf("projections: history record %d: %w", seq, err)
	}
	return m != nil, nil
}

// Instance returns an instance's view, or [ErrNotFound].
func (v *Views) Instance(ctx context.Context, enc string) (*InstanceView, error) {
	var iv InstanceView
	if _, err := getJSON(ctx, v.js, v.kv, instKey(enc), &iv); err != nil {
		return nil, err
	}
	if iv.Deleted {
		return nil, ErrNotFound
	}
	return &iv, nil
}

// Execution returns an execution's view, or [ErrNotFound].
func (v *Views) Execution(ctx context.Context, enc string, exec uint64) (*ExecutionView, error) {
	var ev ExecutionView
	if _, err := getJSON(ctx, v.js, v.kv, execKey(enc, exec), &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Children returns the encoded ids of the instances whose parent is the instance
// with encoded id enc (in no particular order).
func (v *Views) Children(ctx context.Context, enc string) ([]string, error) {
	prefix := "c." + enc + "."
	kl, err := v.kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("projections: list children: %w", err)
	}
	var out []string
	for k := range kl.Keys() {
		out = append(out, strings.TrimPrefix(k, prefix))
	}
	return out, nil
}

// Stats returns the system counters (zero before the first record) and the KV
// revision they were read at.
func (v *Views) Stats(ctx context.Context) (*Stats, uint64, error) {
	var st Stats
	rev, err := getJSON(ctx, v.js, v.kv, statsKey, &st)
	if errors.Is(err, ErrNotFound) {
		return &Stats{}, 0, nil
	}
	return &st, rev, err
}

// getJSON reads key into out; [ErrNotFound] for a missing key.
func getJSON(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, key string, out any) (uint64, error) {
	rev, _, err := getEntry(ctx, js, kv, key, out)
	return rev, err
}

// getEntry reads key and decodes its value into out, returning its revision and raw
// value; [ErrNotFound] for a missing key. It reads from the bucket's stream leader,
// not with a direct get: in a replicated bucket a replica may not have applied the
// last writes yet, and a view older than what the caller waited for (or than a view
// it read before) would be a read going backwards.
func getEntry(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, key string, out any) (uint64, []byte, error) {
	val, rev, found, err := djs.LeaderKVGet(ctx, js.Conn(), kv.Bucket(), key)
	if err != nil {
		return 0, nil, fmt.Errorf("projections: get %s: %w", key, err)
	}
	if !found {
		return 0, nil, ErrNotFound
	}
	if err := json.Unmarshal(val, out); err != nil {
		return 0, nil, fmt.Errorf("projections: decode %s: %w", key, err)
	}
	return rev, val, nil
}

// ListQuery selects instances to list.
type ListQuery struct {
	// Status, if set, keeps instances in that status.
	Status string
	// Name, if set, keeps instances of that orchestration.
	Name string
	// CreatedFrom and CreatedTo (Unix ms, 0 = open) keep instances created in
	// [CreatedFrom, CreatedTo).
	CreatedFrom, CreatedTo int64
	// Limit is the page size.
	Limit int
	// After is the cursor: 0 for the first page, then the previous page's Next.
	After uint64
}

// ListPage is one page of instance ids.
type ListPage struct {
	Instances []string
	// Next is the cursor of the next page; 0 when this is the last page.
	Next uint64
}

// List returns one page of instance ids in index order: creation order for all
// instances, order of reaching the status for a status query. Each page costs
// batched direct gets proportional to the entries it scans, not to the total.
func (v *Views) List(ctx context.Context, q ListQuery, decode func(string) (string, error)) (*ListPage, error) {
	subject := indexAllSubject(v.ns)
	if q.Status != "" {
		subject = indexStatusSubject(v.ns, q.Status)
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	page := &ListPage{}
	from := q.After + 1
	for {
		batch, more, err := djs.DirectBatch(ctx, v.nc, IndexStream(v.ns), subject, from, q.Limit+1)
		if err != nil {
			return nil, err
		}
		for i, m := range batch {
			seq := djs.DirectSeq(m)
			from = seq + 1
			var ie indexEntry
			if err := json.Unmarshal(m.Data, &ie); err != nil {
				continue
			}
			if q.Name != "" && ie.Name != q.Name ||
				q.CreatedFrom != 0 && ie.CreatedAtMs < q.CreatedFrom ||
				q.CreatedTo != 0 && ie.CreatedAtMs >= q.CreatedTo {
				continue
			}
			id, err := decode(ie.ID)
			if err != nil {
				continue
			}
			page.Instances = append(page.Instances, id)
			if len(page.Instances) == q.Limit {
				if more || i != len(batch)-1 {
					page.Next = seq
				}
				return page, nil
			}
		}
		if !more || len(batch) == 0 {
			return page, nil
		}
	}
}
