package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// The views' compare-and-set writes, read and written through a bounded cache of the
// last value and revision this projector saw.

// errConflict means a compare-and-set on a view failed: another projector wrote it.
var errConflict = errors.New("projections: view changed concurrently")

// viewCache keeps the last value and revision this projector read or wrote for each
// view, so applying a record costs only its writes. Instance and execution views are
// kept decoded (a copy of the struct, see cachedValue), so a read from the cache
// decodes no JSON; other values are kept as their JSON. Several runtimes share the
// consumer, so an entry may be stale: the compare-and-set then fails, the entry is
// dropped and the record applied again.
// It is safe for concurrent use: a batch applies its instances in parallel.
type viewCache struct {
	mu sync.Mutex
	m  map[string]cachedView
}

type cachedView struct {
	rev  uint64
	data []byte // the JSON, for a value not kept decoded
	val  any    // an InstanceView or ExecutionView value, or nil: decode data
}

const maxCachedViews = 20000

func (c *viewCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

func (c *viewCache) lookup(key string) (cachedView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, ok := c.m[key]
	return cv, ok
}

// set caches the view v (the value read or written: a pointer) as data at rev.
func (c *viewCache) set(key string, rev uint64, data []byte, v any) {
	cv := cachedView{rev: rev, val: cachedValue(v)}
	if cv.val == nil {
		cv.data = data // kept as JSON only for a type not kept decoded
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedViews {
		c.m = make(map[string]cachedView)
	}
	c.m[key] = cv
}

// cachedValue is the copy of view v the cache keeps decoded, or nil for a type it
// keeps as JSON. The copy shares no memory the projector writes to: the only slice
// (DropIdx) is copied, and the pointers (Failure, CustomStatus) point to values
// that are replaced, never changed in place.
func cachedValue(v any) any {
	switch v := v.(type) {
	case *InstanceView:
		c := *v
		c.DropIdx = slices.Clone(v.DropIdx)
		return c
	case *ExecutionView:
		return *v
	}
	return nil
}

// copyCached copies a decoded cached value into out; false if out is not of its type.
func copyCached(val any, out any) bool {
	switch out := out.(type) {
	case *InstanceView:
		if v, ok := val.(InstanceView); ok {
			*out = v
			out.DropIdx = slices.Clone(v.DropIdx)
			return true
		}
	case *ExecutionView:
		if v, ok := val.(ExecutionView); ok {
			*out = v
			return true
		}
	}
	return false
}

// get reads a view through the cache; [ErrNotFound] for a missing key.
func (p *Projector) get(ctx context.Context, key string, out any) (uint64, error) {
	if cv, ok := p.cache.lookup(key); ok {
		if copyCached(cv.val, out) {
			return cv.rev, nil
		}
		if err := json.Unmarshal(cv.data, out); err == nil {
			return cv.rev, nil
		}
	}
	rev, data, err := getEntry(ctx, p.js, p.kv, key, out)
	if err != nil {
		return 0, err
	}
	p.cache.set(key, rev, data, out)
	return rev, nil
}

// put writes a view with compare-and-set on rev (0: the key must not exist).
func (p *Projector) put(ctx context.Context, key string, v any, rev uint64) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = p.kv.Create(ctx, key, data)
	} else {
		nrev, err = p.kv.Update(ctx, key, data, rev)
	}
	if err != nil {
		p.cache.forget(key)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
			strings.Contains(err.Error(), "wrong last sequence") {
			return fmt.Errorf("%w: %s", errConflict, key)
		}
		return fmt.Errorf("projections: write %s: %w", key, err)
	}
	p.cache.set(key, nrev, data, v)
	return nil
}
