package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/memstore"
)

// A backend with two handles: the first runs orchestrations and untagged
// activities, the second (another "runtime") only activities tagged "gpu".
func ExampleStore_Open() {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	defer st.Close()
	gpu := st.Open(memstore.HandleOptions{WorkTags: []string{"gpu"}})
	defer gpu.Close()

	_ = st.EnqueueForWorker(ctx, store.WorkItem{Type: store.ActivityExecute, Instance: "i", ExecutionID: 1, ID: 2, Name: "Render", Tag: "gpu"})
	none, _ := st.FetchWorkItem(ctx, time.Minute, 0)
	lease, _ := gpu.FetchWorkItem(ctx, time.Minute, 0)
	fmt.Println(none == nil, lease.Item.Name)
	// Output: true Render
}

// fixedClock is a virtual clock a test moves by hand.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// On a virtual clock a delayed message waits until the clock reaches it: NextDue
// says when, and Wake tells waiting fetches the clock moved.
func ExampleStore_NextDue() {
	ctx := context.Background()
	clk := &fixedClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := memstore.New(memstore.Options{Clock: clk})
	defer st.Close()

	_ = st.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.ExternalRaised, Instance: "i", Name: "tick"}, 48*time.Hour)
	item, _ := st.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	due, _ := st.NextDue()
	fmt.Println(item == nil, st.Idle(), due.Sub(clk.t))

	clk.t = due // single goroutine here; a shared clock needs its own locking
	st.Wake()
	item, _ = st.FetchOrchestrationItem(ctx, time.Minute, 0, nil)
	fmt.Println(item.Messages[0].Item.Name)
	// Output:
	// true true 48h0m0s
	// tick
}
