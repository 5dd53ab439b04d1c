package duroxide

import (
	"container/list"
	"sync"
)

// engineCache keeps live engines (parked orchestration coroutines) between turns,
// least recently used first out. A turn takes its engine out and puts it back after a
// successful commit, so an engine is never shared.
type engineCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*list.Element
	lru *list.List // of *cachedEngine, most recent at the front
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
}

func newEngineCache(max int) *engineCache {
	return &engineCache{max: max, m: make(map[string]*list.Element), lru: list.New()}
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
	if el := c.m[instance]; el != nil {
		evicted = append(evicted, c.lru.Remove(el).(*cachedEngine))
	}
	c.m[instance] = c.lru.PushFront(ce)
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*cachedEngine)
		delete(c.m, old.instance)
		evicted = append(evicted, old)
	}
	c.mu.Unlock()
	for _, o := range evicted {
		o.e.abort()
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
