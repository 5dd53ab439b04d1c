package jetstream

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	for _, c := range []struct {
		in   string
		seq  uint64
		fast bool
	}{
		{`{"stream":"duroxide_inbox","seq":42}`, 42, true},
		{`{"stream":"S","seq":18446744073709551}`, 18446744073709551, true},
		{`{"stream":"S","seq":7,"duplicate":true}`, 7, true},
		{`{"stream":"S","seq":7,"domain":"hub"}`, 0, false},
		{`{"stream":"S","seq":7,"duplicate":false}`, 0, false},
		{`{"stream":"S","seq":0}`, 0, false},
		{`{"stream":"S","seq":99999999999999999999}`, 0, false}, // 20 digits: encoding/json decides
		{`{"stream":"S\"x","seq":7}`, 0, false},
		{`{"stream":"","seq":7}`, 0, false},
		{`{"stream":"S","seq":}`, 0, false},
		{`{"stream":"S","seq":7`, 0, false},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"S","seq":0}`, 0, false},
		{``, 0, false},
	} {
		seq, ok := parsePubAck([]byte(c.in))
		if ok != c.fast || seq != c.seq {
			t.Errorf("parsePubAck(%s) = %d, %v; want %d, %v", c.in, seq, ok, c.seq, c.fast)
		}
	}
	ack := []byte(`{"stream":"duroxide_inbox","seq":42}`)
	if n := testing.AllocsPerRun(100, func() { _, _ = parsePubAck(ack) }); n != 0 {
		t.Fatalf("parsePubAck allocated %.0f times", n)
	}
}

// publishAck answers as jetstream.JetStream.PublishMsg does against a real server:
// the sequence, the first message's sequence for a duplicate, an APIError for a
// refused expected sequence, ErrNoStreamResponse where no stream takes the subject.
func TestPublishAckAgainstServer(t *testing.T) {
	ctx := context.Background()
	st, nc := openTestStore(t, Config{})
	js := st.js
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PUBACK", Subjects: []string{"puback.>"}, Duplicates: 60e9}); err != nil {
		t.Fatal(err)
	}
	msg := func(subj, id string) *nats.Msg {
		m := nats.NewMsg(subj)
		m.Data = []byte("x")
		if id != "" {
			m.Header.Set(nats.MsgIdHdr, id)
		}
		return m
	}
	s1, err := publishAck(ctx, nc, msg("puback.a", "one"))
	if err != nil || s1 != 1 {
		t.Fatalf("first publish: seq %d, err %v", s1, err)
	}
	ack, err := js.PublishMsg(ctx, msg("puback.b", ""))
	if err != nil || ack.Sequence != 2 {
		t.Fatalf("nats.go publish: %+v, %v", ack, err)
	}
	if dup, err := publishAck(ctx, nc, msg("puback.a", "one")); err != nil || dup != s1 {
		t.Fatalf("duplicate: seq %d (want %d), err %v", dup, s1, err)
	}

	// Expected last sequence of the subject: 0 (none) fails for puback.a, 1 passes.
	m := msg("puback.a", "")
	expectLastSubjectSeq(m, 0, "")
	_, err = publishAck(ctx, nc, m)
	var apiErr *jetstream.APIError
	if !isWrongLastSeq(err) || !errors.As(err, &apiErr) {
		t.Fatalf("expected last sequence 0 on a subject that has one: %v", err)
	}
	_, jsErr := js.PublishMsg(ctx, msg("puback.a", ""), jetstream.WithExpectLastSequencePerSubject(0))
	if jsErr == nil || err.Error() != jsErr.Error() {
		t.Fatalf("errors differ: publishAck %q, nats.go %q", err, jsErr)
	}
	m = msg("puback.a", "")
	expectLastSubjectSeq(m, 1, "")
	if seq, err := publishAck(ctx, nc, m); err != nil || seq != 3 {
		t.Fatalf("expected last sequence 1: seq %d, err %v", seq, err)
	}
	// For a wildcard subject: puback.> last has sequence 3.
	m = msg("puback.c", "")
	expectLastSubjectSeq(m, 2, "puback.>")
	if _, err := publishAck(ctx, nc, m); !isWrongLastSeq(err) {
		t.Fatalf("expected last sequence 2 for puback.>: %v", err)
	}
	m = msg("puback.c", "")
	expectLastSubjectSeq(m, 3, "puback.>")
	if seq, err := publishAck(ctx, nc, m); err != nil || seq != 4 {
		t.Fatalf("expected last sequence 3 for puback.>: seq %d, err %v", seq, err)
	}

	if _, err := publishAck(ctx, nc, msg("nostream.x", "")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("no stream: %v", err)
	}
}

// BenchmarkPublishAck publishes a small message synchronously through nats.go's
// PublishMsg and through publishAck, to an embedded server with file storage:
// go test ./jetstream -run '^$' -bench PublishAck -benchmem
func BenchmarkPublishAck(b *testing.B) {
	ctx := context.Background()
	srv, err := StartServer(ServerOptions{DataDir: b.TempDir(), Listen: "none"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PUBACK", Subjects: []string{"puback.>"}, MaxMsgsPerSubject: 1}); err != nil {
		b.Fatal(err)
	}
	data := []byte("1")
	b.Run("nats.go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "puback.a", Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("publishAck", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := publishAck(ctx, nc, &nats.Msg{Subject: "puback.a", Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
