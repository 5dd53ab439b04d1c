package duroxide

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go/micro"
)

// fuzzRequest is a micro.Request that records the handler's reply.
type fuzzRequest struct {
	data    []byte
	replies int
	code    string
	body    []byte
}

func (r *fuzzRequest) Respond(b []byte, _ ...micro.RespondOpt) error {
	r.replies++
	r.body = b
	return nil
}

func (r *fuzzRequest) RespondJSON(v any, _ ...micro.RespondOpt) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.Respond(b)
}

func (r *fuzzRequest) Error(code, _ string, _ []byte, _ ...micro.RespondOpt) error {
	r.replies++
	r.code = code
	return nil
}

func (r *fuzzRequest) Data() []byte           { return r.data }
func (r *fuzzRequest) Headers() micro.Headers { return nil }
func (r *fuzzRequest) Subject() string        { return "ns.api.list" }
func (r *fuzzRequest) Reply() string          { return "_INBOX.x" }

// FuzzServiceRequest: whatever a client sends to a management endpoint, the handler
// replies exactly once: 400 for a body that is not a request, else it runs the
// endpoint with the decoded request; and decoding is stable (the request, encoded
// again, decodes to the same request).
func FuzzServiceRequest(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `{"instance":"order-1"}`, `{"instance":"a","execution":2}`,
		`{"status":"Running","name":"Order","limit":10,"cursor":"42"}`,
		`{"created_after":"2026-01-02T03:04:05Z","created_before":"2026-01-02T03:04:05.123456789+01:00"}`,
		`{"key":"k"}`, `{"limit":-1}`, `{"limit":1e99}`, `{"execution":-1}`, `{"instance":1}`,
		`{"created_after":"yesterday"}`, `[]`, `"x"`, `{"instance":"a"`, `{"instance":"\ud800"}`,
		`{"instance":"a","instance":"b"}`, `{"unknown":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got *ServiceRequest
		h := serviceHandler(func(_ context.Context, r ServiceRequest) (any, error) {
			got = &r
			return r, nil
		})
		req := &fuzzRequest{data: data}
		h.Handle(req)
		if req.replies != 1 {
			t.Fatalf("%d replies to %q; want 1", req.replies, data)
		}
		if got == nil {
			if req.code != "400" {
				t.Fatalf("request %q: the endpoint did not run and the reply code is %q; want 400", data, req.code)
			}
			return
		}
		if req.code != "" {
			t.Fatalf("request %q: the endpoint ran and the reply is the error %q", data, req.code)
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("decoded request %+v does not encode: %v", got, err)
		}
		again, err := decodeServiceRequest(enc)
		if err != nil {
			t.Fatalf("decoded request, encoded again (%s), does not decode: %v", enc, err)
		}
		enc2, _ := json.Marshal(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("decoding is not stable: %s then %s", enc, enc2)
		}
	})
}
