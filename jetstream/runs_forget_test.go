package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// forgetRun replaces a run record with an empty one that expires, published without
// a reply subject: the server sends no acknowledgement for it.
func TestForgetRunPublishesWithoutAck(t *testing.T) {
	ctx := context.Background()
	st, nc := openTestStore(t, Config{})
	sub, err := nc.SubscribeSync(st.subj.ns + ".runs.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const seq = 424242
	attempt, rec, err := st.claimRun(ctx, runInbox, seq, 1)
	if err != nil || attempt != 1 || rec == 0 {
		t.Fatalf("claimRun: attempt %d, record %d, err %v", attempt, rec, err)
	}
	st.forgetRun(runInbox, seq, rec)

	subj := st.runSubject(runInbox, seq)
	claim, err := sub.NextMsg(5 * time.Second)
	if err != nil || claim.Subject != subj || string(claim.Data) != "1" {
		t.Fatalf("run record: %v, %v", claim, err)
	}
	tomb, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tomb.Subject != subj || len(tomb.Data) != 0 || tomb.Header.Get(jetstream.MsgTTLHeader) != tombstoneTTL.String() {
		t.Fatalf("tombstone: subject %q, data %q, header %v", tomb.Subject, tomb.Data, tomb.Header)
	}
	if tomb.Reply != "" {
		t.Fatalf("tombstone published with reply subject %q: the server acknowledges it for nobody", tomb.Reply)
	}

	// The stream stores it: the run record reads as the empty tombstone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		last, n, err := st.readRun(ctx, subj)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && last != rec {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tombstone not stored: last %d (the record was %d), count %d", last, rec, n)
		}
		if err := nc.FlushTimeout(time.Second); err != nil {
			t.Fatal(err)
		}
	}
}
