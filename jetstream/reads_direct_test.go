package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// On a single-replica stream, LeaderGet is a direct get (the message as is, not
// JSON with base64 in it) and reads what was just written; a missing message is
// still (nil, nil), confirmed by the stream leader.
func TestLeaderGetOfSingleReplicaStreamIsADirectGet(t *testing.T) {
	st, nc := openTestStore(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Requests seen on the two read APIs' subjects; a Flush makes the ones sent
	// before it pending here.
	direct, err := nc.SubscribeSync("$JS.API.DIRECT.GET." + st.HistoryStream())
	if err != nil {
		t.Fatal(err)
	}
	api, err := nc.SubscribeSync("$JS.API.STREAM.MSG.GET." + st.HistoryStream())
	if err != nil {
		t.Fatal(err)
	}
	seen := func() (directs, apis int) {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []*nats.Subscription{direct, api} {
			n, _, _ := sub.Pending()
			if sub == direct {
				directs = n
			} else {
				apis = n
			}
			for i := 0; i < n; i++ {
				_, _ = sub.NextMsg(time.Second)
			}
		}
		return directs, apis
	}
	seen()
	// "No message" is confirmed by the API's message get (a mirror may say it too).
	if _, err := st.InstanceSummary(ctx, "none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("summary of a missing instance: %v, want ErrNotFound", err)
	}
	if d, a := seen(); d != 1 || a != 1 {
		t.Fatalf("a missing message: %d direct gets and %d API message gets, want 1 and 1", d, a)
	}
	if err := st.EnqueueForOrchestrator(ctx, store.WorkItem{Type: store.StartOrchestration, Instance: "d1", Name: "T"}, 0); err != nil {
		t.Fatal(err)
	}
	item, err := st.FetchOrchestrationItem(ctx, 30*time.Second, 5*time.Second, nil)
	if err != nil || item == nil {
		t.Fatalf("fetch: %v %v", item, err)
	}
	started := history.Event{EventID: 1, InstanceID: "d1", ExecutionID: 1, Type: history.OrchestrationStarted, Name: "T", Version: "1.0.0", TimestampMs: 1}
	if err := st.AckOrchestrationItem(ctx, item.LockToken, store.Commit{ExecutionID: 1, HistoryDelta: []history.Event{started},
		Metadata: store.ExecutionMetadata{Status: "Completed", Output: "42"}}); err != nil {
		t.Fatal(err)
	}
	seen() // the commit's own reads
	sum, err := st.InstanceSummary(ctx, "d1")
	if err != nil || sum.Status != "Completed" || sum.Output != "42" {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	m, err := LeaderGet(ctx, nc, st.HistoryStream(), LeaderGetRequest{LastBySubject: st.subj.historyAny("d1")})
	if err != nil || m == nil || m.Sequence == 0 || m.Time.IsZero() || m.Subject != st.subj.history("d1", 1) ||
		m.Header.Get(HeaderIncarnation) == "" || m.Header.Get("Nats-Sequence") != "" {
		t.Fatalf("leader get: %+v, %v", m, err)
	}
	if d, a := seen(); d != 2 || a != 0 {
		t.Fatalf("two reads of a stored record: %d direct gets and %d API message gets, want 2 and 0", d, a)
	}
}
