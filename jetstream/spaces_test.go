package jetstream

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// A client message and a runtime message for one instance land in the same
// partition, so one consumer delivers them in publish order.
func TestClientAndRuntimeSubjectsShareThePartition(t *testing.T) {
	st, nc := openTestStore(t, Config{})
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	for i := range 40 {
		id := fmt.Sprintf("id-%d", i)
		for _, subj := range []string{st.subj.inbox(id), st.subj.runtime(id)} {
			if _, err := js.Publish(ctx, subj, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	info, err := st.inbox.Info(ctx, jetstream.WithSubjectFilter("duroxide.in.>"))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]map[int]bool{}
	spaces := map[string]int{}
	for subj := range info.State.Subjects {
		tok, p, space, ok := st.subj.parseStored(subj)
		if !ok {
			t.Fatalf("stored subject %q does not parse", subj)
		}
		if parts[tok] == nil {
			parts[tok] = map[int]bool{}
		}
		parts[tok][p] = true
		spaces[space]++
	}
	if len(parts) != 40 || spaces[clientSpace] != 40 || spaces[runtimeSpace] != 40 {
		t.Fatalf("stored: %d ids, spaces %v", len(parts), spaces)
	}
	for tok, ps := range parts {
		if len(ps) != 1 {
			t.Errorf("%s is stored in partitions %v", tok, ps)
		}
	}
}

func TestCheckOrigin(t *testing.T) {
	for _, c := range []struct {
		item   store.WorkItem
		space  string
		reject string
	}{
		{store.WorkItem{Type: store.StartOrchestration, Name: "O"}, clientSpace, ""},
		{store.WorkItem{Type: store.ExternalRaised}, clientSpace, ""},
		{store.WorkItem{Type: store.QueueMessage}, clientSpace, ""},
		{store.WorkItem{Type: store.CancelInstance}, clientSpace, ""},
		{store.WorkItem{Type: store.TimerFired}, clientSpace, "sent only by the runtime"},
		{store.WorkItem{Type: store.ActivityCompleted}, clientSpace, "sent only by the runtime"},
		{store.WorkItem{Type: store.ActivityFailed}, clientSpace, "sent only by the runtime"},
		{store.WorkItem{Type: store.SubOrchCompleted}, clientSpace, "sent only by the runtime"},
		{store.WorkItem{Type: store.SubOrchFailed}, clientSpace, "sent only by the runtime"},
		{store.WorkItem{Type: store.ContinueAsNew}, clientSpace, "sent only by the runtime"},
		{store.WorkItem{Type: store.StartOrchestration, ParentInstance: "p"}, clientSpace, "may not name a parent"},
		{store.WorkItem{Type: store.StartOrchestration, ParentID: 3}, clientSpace, "may not name a parent"},
		{store.WorkItem{Type: store.StartOrchestration, CarryForward: make([]history.QueuedMessage, 1)}, clientSpace, "carry forward"},
		{store.WorkItem{Type: store.TimerFired}, runtimeSpace, ""},
		{store.WorkItem{Type: store.StartOrchestration, ParentInstance: "p"}, runtimeSpace, ""},
		{store.WorkItem{Type: store.CancelInstance}, "timer", "unknown subject space"},
	} {
		got := checkOrigin(&c.item, c.space, "duroxide.inbox.x")
		if c.reject == "" && got != "" || c.reject != "" && !strings.Contains(got, c.reject) {
			t.Errorf("%s %+v on %s: %q, want %q", c.item.Type, c.item, c.space, got, c.reject)
		}
	}
}
