package projections

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// cachedInstanceView is an instance view like BenchFanOut's after its last turn.
func cachedInstanceView() InstanceView {
	cs := "step 3"
	return InstanceView{
		InstanceSummary: store.InstanceSummary{Instance: "bench-1", Name: "BenchFanOut", Version: "1.0.0", ExecutionID: 1,
			Status: store.StatusFailed, Output: "5", Failure: &history.ErrorDetails{Message: "boom"}, CustomStatus: &cs,
			CreatedAtMs: 1700000000000, UpdatedAtMs: 1700000000100},
		Executions: 1, Events: 16, HistoryBytes: 4096, Seq: 42, PrevStatus: store.StatusRunning,
		Prev: Counters{Instances: 1, Running: 1, Executions: 1, Events: 10}, Cur: Counters{Instances: 1, Failed: 1, Executions: 1, Events: 16},
		IdxAll: 7, IdxStatus: 9, DropIdx: []uint64{8},
	}
}

// A view read from the cache is the view written, as its own copy, and reading it
// decodes no JSON (the cache keeps instance and execution views decoded).
func TestViewCacheReadsDecodedCopies(t *testing.T) {
	ctx := context.Background()
	p := &Projector{}
	want := cachedInstanceView()
	data, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	written := want
	written.DropIdx = []uint64{8}
	p.cache.set("i.bench-1", 3, data, &written)
	written.DropIdx[0] = 99 // the writer's slice is not the cache's

	var got InstanceView
	rev, err := p.get(ctx, "i.bench-1", &got)
	if err != nil || rev != 3 {
		t.Fatalf("get: rev %d, err %v", rev, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cached view:\n got %+v\nwant %+v", got, want)
	}
	got.DropIdx[0] = 100 // nor is a reader's
	got.DropIdx = append(got.DropIdx, 101)
	var again InstanceView
	if _, err := p.get(ctx, "i.bench-1", &again); err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("cached view after a reader changed its copy: %+v (err %v)", again, err)
	}

	ev := ExecutionView{Instance: "bench-1", ExecutionID: 1, Status: store.StatusCompleted, Output: "5", StartedAtMs: 1, Events: 16, FirstSeq: 40, Seq: 42}
	edata, _ := json.Marshal(&ev)
	p.cache.set("e.bench-1.1", 5, edata, &ev)
	var gotEv ExecutionView
	if rev, err := p.get(ctx, "e.bench-1.1", &gotEv); err != nil || rev != 5 || gotEv != ev {
		t.Fatalf("cached execution view: %+v rev %d err %v", gotEv, rev, err)
	}

	iv := cachedInstanceView()
	iv.DropIdx = nil // what most views hold
	idata, _ := json.Marshal(&iv)
	p.cache.set("i.bench-2", 4, idata, &iv)
	allocs := testing.AllocsPerRun(100, func() {
		var v InstanceView
		var e ExecutionView
		if _, err := p.get(ctx, "i.bench-2", &v); err != nil {
			t.Fatal(err)
		}
		if _, err := p.get(ctx, "e.bench-1.1", &e); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("reading two cached views allocated %.0f times: decoded again?", allocs)
	}
}

// BenchmarkViewCacheGet reads an instance view and an execution view from the
// projector's cache, as applying one turn record does:
// go test ./projections -run '^$' -bench ViewCacheGet -benchmem
func BenchmarkViewCacheGet(b *testing.B) {
	ctx := context.Background()
	p := &Projector{}
	iv := cachedInstanceView()
	iv.DropIdx = nil
	idata, _ := json.Marshal(&iv)
	p.cache.set("i.bench-1", 4, idata, &iv)
	ev := ExecutionView{Instance: "bench-1", ExecutionID: 1, Status: store.StatusCompleted, Output: "5", StartedAtMs: 1, Events: 16, FirstSeq: 40, Seq: 42}
	edata, _ := json.Marshal(&ev)
	p.cache.set("e.bench-1.1", 5, edata, &ev)
	b.ReportAllocs()
	for b.Loop() {
		var v InstanceView
		var e ExecutionView
		if _, err := p.get(ctx, "i.bench-1", &v); err != nil {
			b.Fatal(err)
		}
		if _, err := p.get(ctx, "e.bench-1.1", &e); err != nil {
			b.Fatal(err)
		}
	}
}
