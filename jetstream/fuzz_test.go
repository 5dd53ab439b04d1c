package jetstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duroxide-go/duroxide/store"
)

// The Fuzz targets cover every decoder of bytes a NATS client can put in front of a
// store: inbox messages (subject and body), id tokens (also FuzzEncodeToken in
// subjects_test.go), and history records. `go test` runs their seeds;
// docs/RELIABILITY.md gives the fuzzing runs.

// FuzzValidateInstanceID: an id is accepted exactly when it is non-empty, at most
// MaxInstanceIDBytes and valid UTF-8, and a refusal is ErrInvalidInstanceID.
func FuzzValidateInstanceID(f *testing.F) {
	for _, s := range []string{"", "a", "order-1", "a.b.c", "€uro", "\xff", "\xe2\x82", strings.Repeat("x", MaxInstanceIDBytes),
		strings.Repeat("x", MaxInstanceIDBytes+1), strings.Repeat("€", 86)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateInstanceID(id)
		want := id != "" && len(id) <= MaxInstanceIDBytes && utf8.ValidString(id)
		if (err == nil) != want {
			t.Fatalf("ValidateInstanceID(%q) = %v; want accepted %v", id, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidInstanceID) {
			t.Fatalf("ValidateInstanceID(%q): error %v is not ErrInvalidInstanceID", id, err)
		}
	})
}

// fuzzStore is a store with only what decodeInbox reads.
func fuzzStore() *Store {
	return &Store{cfg: Config{MaxPayloadBytes: 4096}, subj: subjects{ns: "ns", partitions: 16}}
}

// FuzzInboxMessage: whatever a client publishes to the inbox, decodeInbox returns
// a reason or an item that every later step may rely on (the subject's valid
// instance in the body, a known type, a bounded name, JSON input and data), and
// decoding is stable: the accepted item, encoded again, decodes to the same item.
func FuzzInboxMessage(f *testing.F) {
	seeds := []struct {
		subject string
		body    string
	}{
		{"ns.in.3.order-1", `{"type":"StartOrchestration","instance":"order-1","name":"Order","input":"{\"n\":1}","version":"1.0.0"}`},
		{"ns.in.3.order-1", `{"type":"StartOrchestration","name":"Order"}`},
		{"ns.in.0.a=2Eb", `{"type":"ExternalRaised","instance":"a.b","name":"Approve","data":"true"}`},
		{"ns.in.15.q", `{"type":"QueueMessage","name":"inbox","data":"[1,2]"}`},
		{"ns.in.1.x", `{"type":"CancelInstance","reason":"stop"}`},
		{"ns.in.1.x", `{"type":"ActivityCompleted","execution_id":1,"id":2,"result":"\"ok\""}`},
		{"ns.in.1.x", `{"type":"ActivityFailed","execution_id":1,"id":2,"details":{"category":"Application","message":"boom"}}`},
		{"ns.in.1.x", `{"type":"TimerFired","execution_id":1,"id":3,"fire_at_ms":1700000000000}`},
		{"ns.in.1.x", `{"type":"SubOrchCompleted","execution_id":1,"id":4,"result":"1"}`},
		{"ns.in.1.x", `{"type":"ContinueAsNew","name":"Loop","input":"2","carry_forward_events":[{"name":"q","data":"1"}]}`},
		{"ns.in.1.x", `{"type":"StartOrchestration","name":"Child","parent_instance":"p","parent_id":7}`},
		{"ns.in.1.x", `{"type":"StartOrchestration","name":"Order","version":"banana"}`},
		{"ns.in.1.x", `{"type":"StartOrchestration","instance":"y","name":"Order"}`},
		{"ns.in.1.x", `{"type":"StartOrchestration","name":""}`},
		{"ns.in.1.x", `{"type":"StartOrchestration","name":"O","input":"not json"}`},
		{"ns.in.1.x", `{"type":"Bogus"}`},
		{"ns.in.1.x", `{}`},
		{"ns.in.1.x", `null`},
		{"ns.in.1.x", `[]`},
		{"ns.in.1.x", `{"type":"StartOrchestration","name":"O"`},
		{"ns.in.1.x", ""},
		{"ns.in.*", `{"type":"StartOrchestration","name":"O"}`},
		{"ns.in.>", `{"type":"StartOrchestration","name":"O"}`},
		{"ns.in.1.=ZZ", `{"type":"StartOrchestration","name":"O"}`},
		{"ns.in.1.=FF", `{"type":"StartOrchestration","name":"O"}`},
		{"", ""},
		{".", "{}"},
		{"x", `{"type":"StartOrchestration","name":"O"}`},
		{"ns.in.1.x", `{"type":"ExternalRaised","name":"` + strings.Repeat("n", 257) + `"}`},
		{"ns.in.1.x", `{"type":"ExternalRaised","name":"e","data":"` + strings.Repeat("1", 5000) + `"}`},
	}
	for _, s := range seeds {
		f.Add(s.subject, []byte(s.body))
	}
	st := fuzzStore()
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		in, reason := st.decodeInbox(subject, body)
		if in.instance != "" {
			if err := ValidateInstanceID(in.instance); err != nil {
				t.Fatalf("decodeInbox(%q) named the invalid instance %q: %v", subject, in.instance, err)
			}
		}
		if reason != "" {
			return
		}
		checkAccepted(t, subject, in)
		again, err := json.Marshal(in.item)
		if err != nil {
			t.Fatalf("accepted item %+v does not encode: %v", in.item, err)
		}
		in2, reason := st.decodeInbox(subject, again)
		if reason != "" {
			t.Fatalf("accepted item %s, encoded again, is refused: %s", again, reason)
		}
		again2, _ := json.Marshal(in2.item)
		if !bytes.Equal(again, again2) || in2.instance != in.instance || in2.partition != in.partition {
			t.Fatalf("decoding is not stable: %s then %s", again, again2)
		}
	})
}

// checkAccepted checks what decodeInbox promises of an item it accepts.
func checkAccepted(t *testing.T, subject string, in inboxMessage) {
	t.Helper()
	it := in.item
	tok := subject[strings.LastIndexByte(subject, '.')+1:]
	if dec, err := DecodeToken(tok); err != nil || dec != in.instance || it.Instance != in.instance {
		t.Fatalf("subject %q: instance %q, body instance %q", subject, in.instance, it.Instance)
	}
	switch it.Type {
	case store.StartOrchestration, store.ContinueAsNew, store.ExternalRaised, store.QueueMessage:
		if it.Name == "" {
			t.Fatalf("accepted a %s without a name", it.Type)
		}
	case store.CancelInstance, store.ActivityCompleted, store.ActivityFailed, store.TimerFired,
		store.SubOrchCompleted, store.SubOrchFailed:
	default:
		t.Fatalf("accepted the message type %q", it.Type)
	}
	if len(it.Name) > maxNameBytes {
		t.Fatalf("accepted a %d-byte name", len(it.Name))
	}
	for field, v := range map[string]string{"input": it.Input, "data": it.Data} {
		if v != "" && !json.Valid([]byte(v)) {
			t.Fatalf("accepted %s %q, which is not JSON", field, v)
		}
	}
}

// FuzzHistoryRecord: a history record decodes or is refused with an error, never a
// panic, and decoding is stable (decode, encode, decode gives the same record).
func FuzzHistoryRecord(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"exec":1,"events":[{"event_id":1,"instance_id":"a","execution_id":1,"timestamp_ms":1,"type":"OrchestrationStarted","name":"O","version":"1.0.0","input":"1"}],"consumed":[3],"summary":{"instance":"a","execution_id":1,"status":"Running"}}`,
		`{"v":1,"exec":2,"events":[],"prior_consumed":[1,2],"work":[{"type":"ActivityExecute","instance":"a","execution_id":2,"id":2,"name":"A","input":"null","tag":"gpu","session_id":"s"}],"orch":[{"type":"TimerFired","instance":"a","execution_id":2,"id":3,"fire_at_ms":5}],"cancel":[{"instance":"a","execution_id":2,"id":9}],"summary":{"instance":"a","execution_id":2,"status":"Completed","output":"1"}}`,
		`{"v":1,"exec":1,"events":[{"event_id":4,"type":"ActivityFailed","source_event_id":2,"details":{"category":"Application","message":"x"}},{"event_id":5,"type":"CustomStatusUpdated","status":null},{"event_id":6,"type":"KeyValueSet","key":"k","value":"v","last_updated_at_ms":7}]}`,
		`{"v":99}`, `{}`, `null`, `[]`, `""`, `{"exec":-1}`, `{"events":{}}`, `{"v":1,"exec":18446744073709551616}`,
		`{"events":[{"carry_forward_events":[{"name":"q","data":"1"}],"status":"s"}]}`, `not json`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodeRecord(data)
		if err != nil {
			if rec != nil {
				t.Fatalf("decodeRecord returned a record with the error %v", err)
			}
			return
		}
		enc, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("decoded record %+v does not encode: %v", rec, err)
		}
		rec2, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("decoded record, encoded again (%s), does not decode: %v", enc, err)
		}
		enc2, _ := json.Marshal(rec2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("decoding is not stable: %s then %s", enc, enc2)
		}
	})
}
