package memstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// fill sets every field of the value v points to (recursively) to a non-zero value,
// so that a field added to store.WorkItem later is covered without editing the test.
func fill(v reflect.Value, name string, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-" + name)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(name) + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(name) + 1))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(len(name)) + 0.5)
	case reflect.Pointer:
		if depth > 4 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), name, depth+1)
		v.Set(p)
	case reflect.Slice:
		if depth > 4 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), name, depth+1)
		v.Set(s)
	case reflect.Map:
		if depth > 4 || v.Type().Key().Kind() != reflect.String {
			return
		}
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, name, depth+1)
		m.SetMapIndex(reflect.ValueOf("k-"+name).Convert(v.Type().Key()), e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), name+"."+v.Type().Field(i).Name, depth+1)
			}
		}
	}
}

// fullItem returns a work item with every field set, addressed to instance with
// incarnation inc.
func fullItem(typ store.WorkItemType, instance, inc string) store.WorkItem {
	var it store.WorkItem
	fill(reflect.ValueOf(&it).Elem(), "item", 0)
	it.Type, it.Instance, it.Incarnation = typ, instance, inc
	return it
}

// TestWorkItemRoundTrip: everything a store.WorkItem holds comes back unchanged from
// the orchestrator queue and from the worker queue, and a completion from an ack
// (stamped with the work item's incarnation, as the contract says).
func TestWorkItemRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	w := s.Open(memstore.HandleOptions{WorkTags: []string{memstore.AnyWorkTag}, SessionOwner: "owner"})
	defer w.Close()
	createWithTimer(t, s, "rt-1", time.Now().Add(time.Hour))
	sum, _ := s.InstanceSummary(ctx, "rt-1")
	if sum == nil {
		t.Fatal("instance not created")
	}
	// The incarnation: from a fetch of the instance.
	if err := s.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ExternalRaised, Instance: "rt-1", Name: "probe"}, 0); err != nil {
		t.Fatal(err)
	}
	probe, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || probe == nil {
		t.Fatalf("probe fetch: %v, %v", probe, err)
	}
	inc := probe.Incarnation
	if err := s.AckOrchestrationItem(ctx, probe.LockToken, store.Commit{ExecutionID: 1}); err != nil {
		t.Fatal(err)
	}

	sent := fullItem(store.ExternalRaised, "rt-1", inc)
	if err := s.EnqueueForOrchestrator(ctx, sent, 0); err != nil {
		t.Fatal(err)
	}
	item, err := s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil || len(item.Messages) != 1 {
		t.Fatalf("fetch: %+v, %v", item, err)
	}
	if got := item.Messages[0].Item; !reflect.DeepEqual(got, sent) {
		t.Fatalf("orchestrator queue changed the item:\n got %+v\nwant %+v", got, sent)
	}
	if err := s.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1}); err != nil {
		t.Fatal(err)
	}

	work := fullItem(store.ActivityExecute, "rt-1", inc)
	if err := s.EnqueueForWorker(ctx, work); err != nil {
		t.Fatal(err)
	}
	l, err := w.FetchWorkItem(ctx, time.Minute, 0)
	if err != nil || l == nil {
		t.Fatalf("fetch work: %v, %v", l, err)
	}
	if !reflect.DeepEqual(l.Item, work) {
		t.Fatalf("worker queue changed the item:\n got %+v\nwant %+v", l.Item, work)
	}
	done := fullItem(store.ActivityCompleted, "rt-1", "another-incarnation")
	if err := w.AckWorkItem(ctx, l.LockToken, &done); err != nil {
		t.Fatal(err)
	}
	item, err = s.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	if err != nil || item == nil || len(item.Messages) != 1 {
		t.Fatalf("fetch completion: %+v, %v", item, err)
	}
	want := done
	want.Incarnation = inc
	if got := item.Messages[0].Item; !reflect.DeepEqual(got, want) {
		t.Fatalf("the ack changed the completion beyond its incarnation:\n got %+v\nwant %+v", got, want)
	}
}
