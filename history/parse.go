package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed matches the error of [ParseEvents] for data that is not a history,
// and the replayer's error for a history that breaks the model's rules (ids out of
// order, no OrchestrationStarted first, a terminal event before the end).
var ErrMalformed = errors.New("malformed history")

// ParseEvents decodes a recorded history: a JSON array of events, as
// "node history ID --json" writes it and as json.Marshal writes the result of
// Client.ReadHistory. Every event must be a JSON object of the event's fields with a
// known type; unknown fields are refused, so the output of another command (a status,
// a list of instances) is not mistaken for a history. It returns an error wrapping
// [ErrMalformed] that says what was wrong (and at which position in the array) for
// empty input, input that is not JSON, JSON that is not an array of events, an empty
// array, or data after the array. It checks no ordering rules: the replayer does.
func ParseEvents(data []byte) ([]Event, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: empty: want a JSON array of history events", ErrMalformed)
	case !json.Valid(trimmed):
		return nil, fmt.Errorf("%w: not JSON: %v", ErrMalformed, syntaxError(trimmed))
	case trimmed[0] == '{':
		return nil, fmt.Errorf("%w: a JSON object, not an array of history events (the output of another command?)", ErrMalformed)
	case trimmed[0] != '[':
		return nil, fmt.Errorf("%w: a JSON %s, not an array of history events", ErrMalformed, jsonKind(trimmed[0]))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: an empty array: a history begins with OrchestrationStarted", ErrMalformed)
	}
	events := make([]Event, len(raw))
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) == 0 {
			return nil, fmt.Errorf("%w: element %d is empty", ErrMalformed, i)
		}
		if r[0] != '{' {
			return nil, fmt.Errorf("%w: element %d is a JSON %s, not an event object", ErrMalformed, i, jsonKind(r[0]))
		}
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&events[i]); err != nil {
			return nil, fmt.Errorf("%w: element %d is not a history event: %v", ErrMalformed, i, err)
		}
		switch t := events[i].Type; {
		case t == "":
			return nil, fmt.Errorf("%w: element %d has no event type", ErrMalformed, i)
		case !t.Known():
			return nil, fmt.Errorf("%w: element %d has the unknown event type %q", ErrMalformed, i, t)
		}
	}
	return events, nil
}

// syntaxError returns the JSON syntax error of data, with its byte offset.
func syntaxError(data []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			return fmt.Errorf("data after the first JSON value at byte %d", dec.InputOffset())
		}
		return errors.New("invalid JSON")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%v (at byte %d)", se, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of input (truncated?)")
	}
	return err
}

func jsonKind(first byte) string {
	switch first {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// Known reports whether t is one of the event kinds this module's history model has.
func (t EventType) Known() bool {
	switch t {
	case OrchestrationStarted, OrchestrationCompleted, OrchestrationFailed, OrchestrationContinuedAsNew,
		OrchestrationCancelRequested, OrchestrationChained,
		ActivityScheduled, ActivityCompleted, ActivityFailed, ActivityCancelRequested,
		TimerCreated, TimerFired,
		ExternalSubscribed, ExternalEvent, ExternalSubscribedCancelled,
		SubOrchestrationScheduled, SubOrchestrationCompleted, SubOrchestrationFailed, SubOrchestrationCancelRequested,
		QueueSubscribed, QueueEventDelivered, QueueSubscriptionCancelled,
		CustomStatusUpdated, KeyValueSet, KeyValueCleared, KeyValuesCleared:
		return true
	}
	return false
}
