package duroxide

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/duroxide-go/duroxide/jetstream"
)

// DefaultMaxPayloadBytes is the default limit on one payload: an orchestration input
// or output, an activity input or result, an event's data.
const DefaultMaxPayloadBytes = 1 << 20

// encodePayload encodes v as JSON. A nil v is the empty payload. field names the
// payload in errors.
func encodePayload(v any, field string, limit int) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%w: %s cannot be encoded as JSON: %v", ErrInvalidInput, field, err)
	}
	if limit > 0 && len(b) > limit {
		return "", fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrPayloadTooLarge, field, len(b), limit)
	}
	return string(b), nil
}

// decodePayload decodes a JSON payload into out; the empty payload leaves out at its
// zero value.
func decodePayload(s string, out any, field string) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		return fmt.Errorf("%w: %s is not a valid %s: %v", ErrInvalidInput, field, reflect.TypeOf(out).Elem(), err)
	}
	return nil
}

// MaxNameBytes bounds orchestration, activity and event names.
const MaxNameBytes = 256

func validateInstanceID(id string) error {
	if err := jetstream.ValidateInstanceID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	return nil
}

func validateName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s name is empty", ErrInvalidInput, kind)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%w: %s name is %d bytes, the limit is %d", ErrInvalidInput, kind, len(name), MaxNameBytes)
	}
	return nil
}
