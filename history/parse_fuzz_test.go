package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseEvents: any input is refused with an error wrapping ErrMalformed, or
// decodes to events of known types; decode, encode, decode gives the same bytes.
func FuzzParseEvents(f *testing.F) {
	for _, s := range []string{
		`[{"event_id":1,"instance_id":"h1","execution_id":1,"timestamp_ms":5,"type":"OrchestrationStarted","name":"HelloWorld","version":"1.0.0","input":"\"World\""}]`,
		`[{"event_id":1,"type":"OrchestrationStarted","carry_forward_events":[],"status":""}] [{"event_id":2,"type":"KeyValueSet","key":"k","value":"v"}]`,
		`[{"event_id":3,"type":"ActivityFailed","details":{"category":"application","kind":"ActivityFailed","message":"boom"}}]`,
		`{"instance_id":"h1"}`, `[]`, `[1]`, `[null]`, `[{}]`, `[{"type":"Nope"}]`, `[{"type":"TimerFired","extra":1}]`,
		`[{"type":"TimerFired"}`, ``, ` `, `null`, `"x"`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ParseEvents(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEvents(%q): error %v does not wrap ErrMalformed", data, err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatalf("ParseEvents(%q) accepted no events", data)
		}
		for i, ev := range events {
			if !ev.Type.Known() {
				t.Fatalf("ParseEvents(%q): event %d has the unknown type %q", data, i, ev.Type)
			}
		}
		b1, err := json.Marshal(events)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := ParseEvents(b1)
		if err != nil {
			t.Fatalf("ParseEvents(%s), its own encoding: %v", b1, err)
		}
		b2, err := json.Marshal(again)
		if err != nil {
			t.Fatalf("encode again: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("decode, encode, decode differs:\n%s\n%s", b1, b2)
		}
	})
}
