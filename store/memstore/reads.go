package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// ErrHistoryCorrupted means the instance's history was made undecodable
// ([Store.CorruptHistory]); reads of it fail with it.
var ErrHistoryCorrupted = errors.New("memstore: history corrupted")

// ReadHistory implements [store.Provider]. It returns a copy; a missing instance,
// execution or a pruned execution yields an empty slice.
func (s *Store) ReadHistory(ctx context.Context, instance string, executionID uint64) ([]history.Event, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return []history.Event{}, nil
	}
	ex := in.cur()
	if executionID != 0 {
		ex = in.exec(executionID)
		if ex == nil {
			return []history.Event{}, nil
		}
	}
	if in.corrupt != "" && ex == in.cur() {
		return nil, fmt.Errorf("%w: instance %q: %s", ErrHistoryCorrupted, instance, in.corrupt)
	}
	return slices.Clone(ex.events), nil
}

// exec returns execution id, or nil when the instance does not hold it.
func (in *instance) exec(id uint64) *execution {
	for _, ex := range in.execs {
		if ex.id == id {
			return ex
		}
	}
	return nil
}

// InstanceSummary implements [store.Provider].
func (s *Store) InstanceSummary(ctx context.Context, instance string) (*store.InstanceSummary, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return nil, fmt.Errorf("memstore: %q: %w", instance, store.ErrNotFound)
	}
	sum := in.summary
	return &sum, nil
}

// kv returns the instance's merged key-value store (a new map). The caller holds mu.
func (in *instance) kv() map[string]store.KVEntry {
	m := maps.Clone(in.kvPrior)
	if m == nil {
		m = map[string]store.KVEntry{}
	}
	applyKV(m, in.cur().events)
	return m
}

// GetKVValue implements [store.KVReader].
func (s *Store) GetKVValue(ctx context.Context, instance, key string) (string, bool, error) {
	if err := s.check(ctx); err != nil {
		return "", false, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return "", false, nil
	}
	e, ok := in.kv()[key]
	return e.Value, ok, nil
}

// GetKVAllValues implements [store.KVReader].
func (s *Store) GetKVAllValues(ctx context.Context, instance string) (map[string]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	if in := b.insts[instance]; in != nil {
		for k, e := range in.kv() {
			out[k] = e.Value
		}
	}
	return out, nil
}

// CorruptHistory makes the instance's current history undecodable, as a damaged
// record would: later fetches of it carry a HistoryError (and no history) and
// ReadHistory of its current execution fails with [ErrHistoryCorrupted], until a
// commit starts a new execution. It returns [store.ErrNotFound] for a missing
// instance. It exists for tests of the runtime's and a provider's error paths.
func (s *Store) CorruptHistory(instance string) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return fmt.Errorf("memstore: corrupt %q: %w", instance, store.ErrNotFound)
	}
	in.corrupt = fmt.Sprintf("execution %d of %q cannot be decoded", in.cur().id, instance)
	return nil
}
