package jetstream

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetters waits until n dead letters exist and the inbox stream is empty, and
// returns the dead letters.
func deadLetters(t *testing.T, st *Store, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Fetching starts the inbox consumers.
		if _, err := st.FetchOrchestrationItem(ctx, time.Second, 50*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
		di, err := st.dead.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ii, err := st.inbox.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int(di.State.Msgs) == n && ii.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d dead letters (want %d), %d messages left in the inbox (%v)", di.State.Msgs, n, ii.State.Msgs, ii.State.Subjects)
		}
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); len(out) < n; seq++ {
		m, err := st.dead.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("dead letter %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// A publish to a subject with a literal wildcard token is stored by the inbox stream
// without its transform; it must be dead-lettered, not left in the inbox forever.
func TestWildcardSubjectsAreDeadLettered(t *testing.T) {
	st, nc := openTestStore(t, Config{})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"duroxide.inbox.*", "duroxide.inbox.>", "duroxide.rt.*"} {
		if _, err := js.Publish(context.Background(), subj, []byte(`{"type":"CancelInstance"}`)); err != nil {
			t.Fatalf("publish to %s: %v", subj, err)
		}
	}
	for _, m := range deadLetters(t, st, 3) {
		if r := m.Header.Get(HeaderReason); !strings.Contains(r, "wildcard") {
			t.Errorf("dead letter of %s: reason %q", m.Header.Get(HeaderOriginalSubject), r)
		}
	}
}

// A bad message just under the server's max payload cannot be copied whole with the
// dead letter's headers: it is dead-lettered with the start of its body and its size.
func TestOversizedBadMessageIsDeadLettered(t *testing.T) {
	st, nc := openTestStore(t, Config{})
	body := []byte(strings.Repeat("x", int(nc.MaxPayload())-16)) // not JSON; no room for the headers
	m := nats.NewMsg("duroxide.inbox.big")
	m.Data = body
	js, _ := jetstream.New(nc)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatalf("publish %d bytes: %v", len(body), err)
	}
	dl := deadLetters(t, st, 1)[0]
	if got := dl.Header.Get(HeaderOriginalSize); got != strconv.Itoa(len(body)) {
		t.Errorf("original size header %q, want %d", got, len(body))
	}
	if dl.Header.Get(HeaderTruncated) != "true" || len(dl.Data) != deadLetterKeepBytes {
		t.Errorf("dead letter keeps %d bytes, truncated=%q; want %d, true", len(dl.Data), dl.Header.Get(HeaderTruncated), deadLetterKeepBytes)
	}
	if !strings.Contains(dl.Header.Get(HeaderReason), "not valid JSON") {
		t.Errorf("reason %q", dl.Header.Get(HeaderReason))
	}
}

// Messages that could never run are dead-lettered at once, not retried: a start with
// a version that is not semver, and a subject whose id token is not canonical.
func TestUnusableStartsAreDeadLettered(t *testing.T) {
	st, nc := openTestStore(t, Config{})
	js, _ := jetstream.New(nc)
	for subj, body := range map[string]string{
		"duroxide.inbox.v1":      `{"type":"StartOrchestration","instance":"v1","name":"O","version":"banana"}`,
		"duroxide.inbox.nc=2e0":  `{"type":"StartOrchestration","instance":"nc.0","name":"O"}`,
		"duroxide.inbox.=41bc":   `{"type":"StartOrchestration","instance":"Abc","name":"O"}`,
		"duroxide.inbox.parent1": `{"type":"StartOrchestration","instance":"parent1","name":"O","parent_instance":"p","parent_id":2}`,
	} {
		if _, err := js.Publish(context.Background(), subj, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"v1":      `version "banana" is not MAJOR.MINOR.PATCH`,
		"nc=2e0":  "not canonical",
		"=41bc":   "not canonical",
		"parent1": "may not name a parent",
	}
	for _, m := range deadLetters(t, st, len(want)) {
		subj := m.Header.Get(HeaderOriginalSubject)
		tok := strings.TrimSuffix(subj[strings.Index(subj, ".in.")+4:], ".inbox")
		tok = tok[strings.IndexByte(tok, '.')+1:]
		if r := m.Header.Get(HeaderReason); !strings.Contains(r, want[tok]) {
			t.Errorf("%s: reason %q, want it to mention %q", subj, r, want[tok])
		}
		delete(want, tok)
	}
	if len(want) > 0 {
		t.Errorf("not dead-lettered: %v", want)
	}
}
