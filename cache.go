package duroxide

import (
	"container/list"
	"sync"
	"time"
)

// engineCache keeps live engines (parked orchestration coroutines) between turns,
// least recently used first out, and drops the ones parked longer than idle (each
// holds a goroutine and its state; an instance that waits for hours for an event
// need not, and is replayed when the event comes). A turn takes its engine out and
// puts it back after a successful commit, so an engine is never shared.
type engineCache struct {
	mu   sync.Mutex
	max  int
	idle time.Duration // 0: keep engines however long they are parked
	now  func() time.Time
	m    map[string]*list.Element
	lru  *list.List // of *cachedEngine, most recent at the front
	// onEvict, if set, is called for each engine evicted to stay within max.
	onEvict func()
}

type cachedEngine struct {
	instance string
	e        *engine
	// histLen is the length of the execution's history the engine has consumed; the
	// engine is reused only if the store's history has exactly that length.
	histLen int
	// inc is the incarnation of the instance the engine ran; an engine of a deleted
	// instance is never resumed for one recreated under its id.
	inc string
	// parked is when the engine was put in the cache.
	parked time.Time
}

// newEngineCache returns a cache of at most max engines that sweep drops after idle
// (0: never).
func newEngineCache(max int, idle time.Duration) *engineCache {
	return &engineCache{max: max, idle: idle, now: time.Now, m: make(map[string]*list.Element), lru: list.New()}
}

func (c *engineCache) take(instance string) *cachedEngine {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.m[instance]
	if el == nil {
		return nil
	}
	delete(c.m, instance)
	return c.lru.Remove(el).(*cachedEngine)
}

func (c *engineCache) put(instance string, ce *cachedEngine) {
	ce.instance = instance
	var evicted []*cachedEngine
	c.mu.Lock()
	ce.parked = c.now()
	if el := c.m[instance]; el != nil {
		evicted = append(evicted, c.lru.Remove(el).(*cachedEngine))
	}
	c.m[instance] = c.lru.PushFront(ce)
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*cachedEngine)
		delete(c.m, old.instance)
		evicted = append(evicted, old)
		if c.onEvict != nil {
			c.onEvict()
		}
	}
	c.mu.Unlock()
	for _, o := range evicted {
		o.e.abort()
	}
}

// len returns how many engines are cached.
func (c *engineCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// sweep drops the engines parked longer than the cache's idle time and returns how
// many it dropped. The least recently put engine is at the back, so it looks only at
// the ones it drops and one more.
func (c *engineCache) sweep() int {
	if c.idle <= 0 {
		return 0
	}
	var evicted []*cachedEngine
	c.mu.Lock()
	cutoff := c.now().Add(-c.idle)
	for el := c.lru.Back(); el != nil && el.Value.(*cachedEngine).parked.Before(cutoff); el = c.lru.Back() {
		old := c.lru.Remove(el).(*cachedEngine)
		delete(c.m, old.instance)
		evicted = append(evicted, old)
	}
	c.mu.Unlock()
	for _, o := range evicted {
		o.e.abort()
	}
	return len(evicted)
}

// sweepIdle drops, every interval until the runtime stops, the engines parked
// longer than idle and the store's cached states of instances idle that long.
func (r *Runtime) sweepIdle(interval, idle time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.loopCtx.Done():
			return
		case <-t.C:
			r.metrics.cacheSwept(r.cache.sweep())
			if r.js != nil { // the JetStream store's cached instance states
				r.js.DropIdleInstances(idle)
			}
		}
	}
}

func (c *engineCache) clear() {
	c.mu.Lock()
	var all []*cachedEngine
	for el := c.lru.Front(); el != nil; el = el.Next() {
		all = append(all, el.Value.(*cachedEngine))
	}
	c.m = make(map[string]*list.Element)
	c.lru.Init()
	c.mu.Unlock()
	for _, ce := range all {
		ce.e.abort()
	}
}
