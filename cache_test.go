package duroxide

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// The engine cache holds at most its maximum, least recently used out first.
func TestEngineCacheBounded(t *testing.T) {
	c := newEngineCache(3, 0)
	for i := range 10 {
		c.put(fmt.Sprintf("i%d", i), &cachedEngine{e: &engine{}})
	}
	if n := c.len(); n != 3 {
		t.Fatalf("cache holds %d engines, want its maximum 3", n)
	}
	if c.take("i6") != nil || c.take("i9") == nil {
		t.Errorf("the cache kept other engines than the 3 most recent")
	}
}

// sweep drops the engines parked longer than the idle time and keeps the others.
func TestEngineCacheSweepsIdleEngines(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newEngineCache(100, time.Minute)
	c.now = func() time.Time { return now }
	c.put("a", &cachedEngine{e: &engine{}})
	c.put("b", &cachedEngine{e: &engine{}})
	now = now.Add(30 * time.Second)
	c.put("c", &cachedEngine{e: &engine{}})
	if n := c.sweep(); n != 0 {
		t.Fatalf("swept %d engines parked at most 30 s with a 1 min idle time", n)
	}
	now = now.Add(31 * time.Second)
	if n := c.sweep(); n != 2 || c.len() != 1 {
		t.Fatalf("swept %d, %d left; want a and b (61 s idle) swept, c (31 s) kept", n, c.len())
	}
	if c.take("a") != nil || c.take("c") == nil {
		t.Errorf("sweep kept a or dropped c")
	}

	never := newEngineCache(100, 0)
	never.now = func() time.Time { return now }
	never.put("a", &cachedEngine{e: &engine{}})
	now = now.Add(24 * time.Hour)
	if n := never.sweep(); n != 0 || never.len() != 1 {
		t.Errorf("a cache without idle time swept %d engines", n)
	}
}

// A runtime drops the engines of instances parked longer than
// CachedInstanceIdleTimeout (their goroutines end) and the store's cached states of
// those instances, and an event for one of them then completes it by reading and
// replaying its history.
func TestRuntimeDropsIdleEngines(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterOrchestration(reg, "WaitGo", func(ctx *OrchestrationContext, _ json.RawMessage) (string, error) {
		return Await[string](ctx.WaitForEvent("go"))
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := Start(ctx, reg, Options{DataDir: t.TempDir(), CachedInstanceIdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rt.Shutdown(sctx)
	})
	c := rt.Client()
	const n = 20
	for i := range n {
		id := fmt.Sprintf("idle-%d", i)
		if err := c.StartOrchestration(ctx, id, "WaitGo", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Every instance runs its first turn and parks; the sweeper (every second with a
	// 1 s idle time) then drops them all.
	deadline := time.Now().Add(60 * time.Second)
	for {
		running := 0
		for i := range n {
			st, err := c.GetStatus(ctx, fmt.Sprintf("idle-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if st.State == StateRunning {
				running++
			}
		}
		if running == n && rt.cache.len() == 0 && rt.js.CachedInstances() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d of %d instances running, %d engines and %d store states still cached with a 1 s idle time",
				running, n, rt.cache.len(), rt.js.CachedInstances())
		}
		time.Sleep(50 * time.Millisecond)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.RaiseEvent(wctx, "idle-7", "go", "went"); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitForOrchestration(wctx, "idle-7")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := st.Decode(&out); err != nil || out != "went" {
		t.Fatalf("replayed instance returned %q, %v; want \"went\"", out, err)
	}
	// The metrics saw each engine dropped once, and the replay.
	if ev := read(t, rt.metrics.cacheEvictions); ev != n {
		t.Errorf("duroxide_engine_cache_evictions_total = %v, want %d", ev, n)
	}
	if miss := read(t, rt.metrics.cacheMisses); miss < 1 {
		t.Errorf("duroxide_engine_cache_misses_total = %v, want at least 1 (the replay)", miss)
	}
}
