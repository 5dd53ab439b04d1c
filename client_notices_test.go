package duroxide

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// A wait keeps only the newest summary of its instance, and ignores notices that
// do not decode or name another instance than the one it waits for.
func TestNoticeHubKeepsTheLatestSummaryOfItsInstance(t *testing.T) {
	var h noticeHub
	h.waiters = map[string]map[*noticeWaiter]struct{}{}
	w := &noticeWaiter{instance: "a", c: make(chan *store.InstanceSummary, 1)}
	h.waiters["ns.evt.a"] = map[*noticeWaiter]struct{}{w: {}}
	send := func(subject string, sum store.InstanceSummary) {
		data, err := json.Marshal(sum)
		if err != nil {
			t.Fatal(err)
		}
		h.deliver(&nats.Msg{Subject: subject, Data: data})
	}
	send("ns.evt.a", store.InstanceSummary{Instance: "a", Status: store.StatusRunning})
	send("ns.evt.a", store.InstanceSummary{Instance: "a", Status: store.StatusCompleted, Output: `"done"`})
	send("ns.evt.a", store.InstanceSummary{Instance: "b", Status: store.StatusFailed}) // not its instance
	h.deliver(&nats.Msg{Subject: "ns.evt.a", Data: []byte("{not json")})
	send("ns.evt.b", store.InstanceSummary{Instance: "b", Status: store.StatusFailed}) // nobody waits
	select {
	case sum := <-w.c:
		if sum.Status != store.StatusCompleted || sum.Output != `"done"` {
			t.Fatalf("got %+v, want the completed summary", sum)
		}
	default:
		t.Fatal("no summary delivered")
	}
	select {
	case sum := <-w.c:
		t.Fatalf("a second summary %+v, want only the latest", sum)
	default:
	}
}
