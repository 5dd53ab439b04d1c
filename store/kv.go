package store

import "context"

// KVReader reads an instance's key-value store as clients see it (duroxide's
// Provider get_kv_value and get_kv_all_values): the store its ended executions
// left, merged with the changes its running execution has committed so far, in
// order (a key cleared by the running execution is absent even if an ended
// execution set it). Reads reflect every turn committed before the call. A missing
// instance has an empty store: that is not an error.
//
// A store that supports client KV reads implements KVReader on its [Provider];
// callers discover it with a type assertion.
type KVReader interface {
	// GetKVValue returns the value of key and true, or false when the key or the
	// instance does not exist. An empty value is a value (true).
	GetKVValue(ctx context.Context, instance, key string) (value string, ok bool, err error)
	// GetKVAllValues returns the instance's whole store (empty, not nil, when the
	// instance does not exist).
	GetKVAllValues(ctx context.Context, instance string) (map[string]string, error)
}
