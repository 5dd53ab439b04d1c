package duroxide

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// Limits of an instance's key-value store (duroxide's MAX_KV_KEYS and
// MAX_KV_VALUE_BYTES).
const (
	MaxKVKeys       = 100
	MaxKVValueBytes = 16 * 1024
)

// The key-value store of an orchestration instance is durable state that outlives
// its executions (continue-as-new keeps it) and that clients can read.
//
// Writes are recorded in the execution's history (KeyValueSet, KeyValueCleared,
// KeyValuesCleared) and merged into the instance's store when the execution ends.
// An execution starts from the store its predecessors left and replays its own
// writes, so reads are deterministic: a read-modify-write loop reads the same values
// on every replay.

func cloneKV(m map[string]store.KVEntry) map[string]store.KVEntry {
	out := make(map[string]store.KVEntry, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// kvFail fails the execution with an application error (not retryable).
func (e *engine) kvFail(msg string) {
	e.failFromCoroutine(&history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed, Message: msg})
}

func (e *engine) kvMap() map[string]store.KVEntry {
	if e.kv == nil {
		e.kv = map[string]store.KVEntry{}
	}
	return e.kv
}

// SetValue sets key to value in the instance's key-value store. The instance fails
// (an application error) if key is empty, value is longer than [MaxKVValueBytes], or
// the store would hold more than [MaxKVKeys] keys.
func (c *OrchestrationContext) SetValue(key, value string) {
	e := c.e
	m := e.kvMap()
	switch {
	case key == "":
		e.kvFail("kv: key is empty")
	case len(value) > MaxKVValueBytes:
		e.kvFail(fmt.Sprintf("kv: value of key %q is %d bytes, the limit is %d", key, len(value), MaxKVValueBytes))
	}
	if _, ok := m[key]; !ok && len(m) >= MaxKVKeys {
		e.kvFail(fmt.Sprintf("kv: setting key %q would exceed the limit of %d keys", key, MaxKVKeys))
	}
	stored, _ := e.emit(history.Event{Type: history.KeyValueSet, Key: key, Value: value, LastUpdatedAtMs: e.nowMs})
	m[key] = store.KVEntry{Value: stored.Value, LastUpdatedAtMs: stored.LastUpdatedAtMs}
}

// GetValue returns the value of key and whether it is set.
func (c *OrchestrationContext) GetValue(key string) (string, bool) {
	v, ok := c.e.kv[key]
	return v.Value, ok
}

// GetAllValues returns a copy of the whole store.
func (c *OrchestrationContext) GetAllValues() map[string]string {
	out := make(map[string]string, len(c.e.kv))
	for k, v := range c.e.kv {
		out[k] = v.Value
	}
	return out
}

// Keys returns the store's keys in ascending order.
func (c *OrchestrationContext) Keys() []string {
	keys := make([]string, 0, len(c.e.kv))
	for k := range c.e.kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Len returns the number of keys in the store.
func (c *OrchestrationContext) Len() int { return len(c.e.kv) }

// ClearValue removes key from the store (clearing a missing key is allowed).
func (c *OrchestrationContext) ClearValue(key string) {
	e := c.e
	e.emit(history.Event{Type: history.KeyValueCleared, Key: key})
	delete(e.kvMap(), key)
}

// ClearAllValues empties the store.
func (c *OrchestrationContext) ClearAllValues() {
	e := c.e
	e.emit(history.Event{Type: history.KeyValuesCleared})
	clear(e.kvMap())
}

// PruneValuesUpdatedBefore clears every key last updated before cutoff (keys set
// earlier in this execution included) and returns how many it cleared.
func (c *OrchestrationContext) PruneValuesUpdatedBefore(cutoff time.Time) int {
	ms := cutoff.UnixMilli()
	n := 0
	for _, k := range c.Keys() {
		if c.e.kv[k].LastUpdatedAtMs < ms {
			c.ClearValue(k)
			n++
		}
	}
	return n
}

// syscallGetKV is the system activity behind GetValueFromInstance.
const syscallGetKV = "__duroxide_syscall:get_kv_value_from_instance"

type kvReadInput struct {
	Instance string `json:"instance"`
	Key      string `json:"key"`
}

// GetValueFromInstance reads key from another instance's store. The read is a
// system activity, so its result is recorded in history and replays identically.
// The future resolves to the value as a *string (nil when the key or the instance
// does not exist):
//
//	v, err := duroxide.Await[*string](ctx.GetValueFromInstance("producer", "result"))
func (c *OrchestrationContext) GetValueFromInstance(instanceID, key string) *Future {
	return c.ScheduleActivity(syscallGetKV, kvReadInput{Instance: instanceID, Key: key})
}

// getKVActivity runs syscallGetKV.
func getKVActivity(actx *ActivityContext, input string) (string, error) {
	var in kvReadInput
	if err := json.Unmarshal([]byte(input), &in); err != nil {
		return "", fmt.Errorf("kv read: bad input: %w", err)
	}
	v, ok, err := actx.Client().GetValue(actx, in.Instance, in.Key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "null", nil
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// GetValue returns the value of key in an instance's store as the instance's
// running execution sees it (the store its ended executions left plus its own
// changes so far). It reports false when the key or the instance does not exist.
// An invalid instance id returns an error wrapping [ErrInvalidInput]; a failed read
// returns the store's error; a store without [store.KVReader], [ErrNotSupported].
func (c *Client) GetValue(ctx context.Context, instanceID, key string) (string, bool, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return "", false, err
	}
	kv, err := c.kvReader("read a value")
	if err != nil {
		return "", false, err
	}
	return kv.GetKVValue(ctx, instanceID, key)
}

// kvReader is the store's [store.KVReader], or an error wrapping [ErrNotSupported]
// naming what needed it.
func (c *Client) kvReader(what string) (store.KVReader, error) {
	kv, ok := c.st.(store.KVReader)
	if !ok {
		return nil, fmt.Errorf("duroxide: %s: %w (the store implements no store.KVReader)", what, ErrNotSupported)
	}
	return kv, nil
}

// GetAllValues returns an instance's whole store (empty when the instance does not
// exist). An invalid instance id returns an error wrapping [ErrInvalidInput]; a
// failed read returns the store's error; a store without [store.KVReader],
// [ErrNotSupported].
func (c *Client) GetAllValues(ctx context.Context, instanceID string) (map[string]string, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	kv, err := c.kvReader("read values")
	if err != nil {
		return nil, err
	}
	return kv.GetKVAllValues(ctx, instanceID)
}

// WaitForValue waits until key is set in an instance's store and returns its value.
// It polls with backoff (up to 200ms apart), waits through a missing instance, and
// returns ctx's error (wrapped) when ctx ends first: give it a deadline. An invalid
// instance id returns an error wrapping [ErrInvalidInput]; a failed read returns the
// store's error at once.
func (c *Client) WaitForValue(ctx context.Context, instanceID, key string) (string, error) {
	poll := 5 * time.Millisecond
	for {
		v, ok, err := c.GetValue(ctx, instanceID, key)
		if err != nil {
			return "", err
		}
		if ok {
			return v, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("duroxide: wait for key %q of %q: %w", key, instanceID, ctx.Err())
		case <-t.C:
		}
		poll = min(2*poll, 200*time.Millisecond)
	}
}
