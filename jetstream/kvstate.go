package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// An instance's durable key-value store (duroxide's KV store) lives in two places:
//
//   - the KV events (KeyValueSet, KeyValueCleared, KeyValuesCleared) in the history of
//     the execution that made them: the delta of the running execution;
//   - one document per instance in the KV bucket <ns>_kvstate (key: the encoded
//     instance id), written when an execution ends: the store as left by every
//     execution up to and including kvDoc.Exec.
//
// The document is written after the execution's terminal record is durable and before
// its outbox (notably the continue-as-new message that starts the next execution) is
// dispatched, and again whenever the record's outbox is re-driven, so the next
// execution always finds it. Writing it twice is harmless: a document is only
// replaced by one for a later execution.

// kvDoc is the materialized store of an instance.
type kvDoc struct {
	Exec    uint64                   `json:"exec"`
	Entries map[string]store.KVEntry `json:"entries"`
	// Inc is the incarnation of the instance that wrote it (see incarnation.go); a
	// document of another incarnation is read as no document.
	Inc string `json:"inc,omitempty"`
}

// kvBucketCache binds the kv state bucket once per store.
type kvBucketCache struct {
	mu sync.Mutex
	kv jetstream.KeyValue
}

// KVStateBucket is the name of the bucket holding materialized KV stores.
func (s *Store) KVStateBucket() string { return s.cfg.Namespace + "_kvstate" }

func (s *Store) kvState(ctx context.Context) (jetstream.KeyValue, error) {
	bc := &s.kvs
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.kv != nil {
		return bc.kv, nil
	}
	kv, err := s.js.KeyValue(ctx, s.KVStateBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      s.KVStateBucket(),
			Description: "duroxide instance key-value stores, as of each instance's last ended execution",
			History:     1,
			Storage:     s.storage(),
			Replicas:    s.cfg.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: kv state bucket: %w", err)
	}
	bc.kv = kv
	return kv, nil
}

// loadKVDoc returns the materialized store of incarnation inc of an instance (an
// empty one at exec 0 if none was written, or if the stored one belongs to another
// incarnation: then with its revision, so that a write replaces it).
func (s *Store) loadKVDoc(ctx context.Context, enc, inc string) (*kvDoc, uint64, error) {
	if _, err := s.kvState(ctx); err != nil {
		return nil, 0, err
	}
	// From the leader: a replica's older document would cover fewer executions, and
	// those may have been pruned from the history since.
	val, rev, found, err := LeaderKVGet(ctx, s.nc, s.KVStateBucket(), enc)
	if err != nil {
		return nil, 0, fmt.Errorf("jetstream: read kv state of %s: %w", enc, err)
	}
	if !found {
		return &kvDoc{Entries: map[string]store.KVEntry{}}, 0, nil
	}
	var d kvDoc
	if err := json.Unmarshal(val, &d); err != nil {
		return nil, 0, fmt.Errorf("jetstream: decode kv state of %s: %w", enc, err)
	}
	if d.Inc != "" && d.Inc != inc {
		return &kvDoc{Entries: map[string]store.KVEntry{}}, rev, nil
	}
	if d.Entries == nil {
		d.Entries = map[string]store.KVEntry{}
	}
	return &d, rev, nil
}

// ApplyKVEvents applies the KV events among events to m (in place) and returns m.
func ApplyKVEvents(m map[string]store.KVEntry, events []history.Event) map[string]store.KVEntry {
	if m == nil {
		m = map[string]store.KVEntry{}
	}
	for i := range events {
		ev := &events[i]
		switch ev.Type {
		case history.KeyValueSet:
			m[ev.Key] = store.KVEntry{Value: ev.Value, LastUpdatedAtMs: ev.LastUpdatedAtMs}
		case history.KeyValueCleared:
			delete(m, ev.Key)
		case history.KeyValuesCleared:
			clear(m)
		}
	}
	return m
}

func hasKVEvents(events []history.Event) bool {
	for i := range events {
		switch events[i].Type {
		case history.KeyValueSet, history.KeyValueCleared, history.KeyValuesCleared:
			return true
		}
	}
	return false
}

// materializeKV merges execution exec's KV events (execEvents: its whole history)
// into the instance's document, unless the document already covers exec.
//
// A first execution that made no KV changes writes nothing (the common case costs no
// KV access at all); later executions always write, so the document never lags more
// than the running execution behind and client reads stay two history reads at most.
//
// The document names incarnation inc. A new document whose incarnation turns out to
// be gone once it is written (the turn's instance was deleted meanwhile) is removed
// again: the delete purges history before the document, so either that read sees the
// deletion or the delete removes the document itself.
func (s *Store) materializeKV(ctx context.Context, enc, inc string, exec uint64, execEvents []history.Event) (map[string]store.KVEntry, error) {
	if exec <= 1 && !hasKVEvents(execEvents) {
		return map[string]store.KVEntry{}, nil
	}
	d, rev, err := s.loadKVDoc(ctx, enc, inc)
	if err != nil {
		return nil, err
	}
	if d.Exec >= exec {
		return d.Entries, nil
	}
	next := kvDoc{Exec: exec, Entries: ApplyKVEvents(cloneKV(d.Entries), execEvents), Inc: inc}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	kv, err := s.kvState(ctx)
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		_, err = kv.Create(ctx, enc, data)
	} else {
		_, err = kv.Update(ctx, enc, data, rev)
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: write kv state of %s: %w", enc, err)
	}
	if rev == 0 && inc != "" {
		instance, derr := DecodeToken(enc)
		if derr != nil {
			return nil, derr
		}
		alive, aerr := s.incarnationAlive(ctx, instance, inc)
		if aerr != nil {
			return nil, aerr
		}
		if !alive {
			if err := kv.Purge(ctx, enc); err != nil {
				return nil, fmt.Errorf("jetstream: remove kv state of deleted %s: %w", enc, err)
			}
		}
	}
	return next.Entries, nil
}

func cloneKV(m map[string]store.KVEntry) map[string]store.KVEntry {
	out := make(map[string]store.KVEntry, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// priorKV returns the store an execution starts from: what the instance's ended
// executions left. It is cached with the instance state.
func (s *Store) priorKV(ctx context.Context, instance string, st *instState) (map[string]store.KVEntry, error) {
	if !st.exists {
		return nil, nil
	}
	if st.exec <= 1 && st.summary.Status == store.StatusRunning {
		return nil, nil // the first execution has nothing before it
	}
	if st.kvLoaded {
		return st.kv, nil
	}
	d, _, err := s.loadKVDoc(ctx, EncodeToken(instance), st.inc)
	if err != nil {
		return nil, err
	}
	st.kv, st.kvExec, st.kvLoaded = d.Entries, d.Exec, true
	return st.kv, nil
}

// InstanceKV returns an instance's store as a client sees it: what its ended
// executions left, merged with the changes its running execution made so far.
func (s *Store) InstanceKV(ctx context.Context, instance string) (map[string]store.KVEntry, error) {
	enc := EncodeToken(instance)
	last, _, err := s.lastRecord(ctx, enc)
	if err != nil {
		return nil, err
	}
	if last == nil {
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, instance)
	}
	d, _, err := s.loadKVDoc(ctx, enc, last.Inc)
	if err != nil {
		return nil, err
	}
	m := d.Entries
	for e := d.Exec + 1; e <= last.Exec; e++ {
		events, err := s.ReadHistory(ctx, instance, e)
		if err != nil {
			return nil, err
		}
		m = ApplyKVEvents(m, events)
	}
	return m, nil
}

var _ store.KVReader = (*Store)(nil)

// GetKVValue implements [store.KVReader] with [Store.InstanceKV].
func (s *Store) GetKVValue(ctx context.Context, instance, key string) (string, bool, error) {
	m, err := s.clientKV(ctx, instance)
	if err != nil {
		return "", false, err
	}
	v, ok := m[key]
	return v.Value, ok, nil
}

// GetKVAllValues implements [store.KVReader] with [Store.InstanceKV].
func (s *Store) GetKVAllValues(ctx context.Context, instance string) (map[string]string, error) {
	m, err := s.clientKV(ctx, instance)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v.Value
	}
	return out, nil
}

// clientKV is InstanceKV with a missing instance read as an empty store.
func (s *Store) clientKV(ctx context.Context, instance string) (map[string]store.KVEntry, error) {
	m, err := s.InstanceKV(ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return map[string]store.KVEntry{}, nil
	}
	return m, err
}

// deleteKVState removes an instance's materialized store; it reports whether there
// was one.
func (s *Store) deleteKVState(ctx context.Context, enc string) (bool, error) {
	kv, err := s.kvState(ctx)
	if err != nil {
		return false, err
	}
	if _, err := kv.Get(ctx, enc); errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err := kv.Purge(ctx, enc); err != nil {
		return false, fmt.Errorf("jetstream: delete kv state of %s: %w", enc, err)
	}
	return true, nil
}
