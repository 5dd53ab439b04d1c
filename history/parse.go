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
// Client.ReadHistory, or several such arrays one after another (the executions of
// one instance, each exported with "node history ID --execution E --json"), whose
// events it concatenates. Every event must be a JSON object of the event's fields
// with a known type; unknown fields are refused, so the output of another command (a
// status, a list of instances) is not mistaken for a history. It returns an error
// wrapping [ErrMalformed] that says what was wrong (and at which position) for empty
// input, input that is not JSON, JSON that is not an array of events, or an empty
// array. It checks no ordering rules: the replayer does.
func ParseEvents(data []byte) ([]Event, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty: want a JSON array of history events", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var events []Event
	for {
		var value json.RawMessage
		err := dec.Decode(&value)
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not JSON: %v", ErrMalformed, syntaxError(err))
		}
		switch value[0] {
		case '[':
		case '{':
			return nil, fmt.Errorf("%w: a JSON object, not an array of history events (the output of another command?)", ErrMalformed)
		default:
			return nil, fmt.Errorf("%w: a JSON %s, not an array of history events", ErrMalformed, jsonKind(value[0]))
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(value, &raw); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if len(raw) == 0 {
			return nil, fmt.Errorf("%w: an empty array: a history begins with OrchestrationStarted", ErrMalformed)
		}
		for _, r := range raw {
			i := len(events)
			if r = bytes.TrimSpace(r); r[0] != '{' {
				return nil, fmt.Errorf("%w: element %d is a JSON %s, not an event object", ErrMalformed, i, jsonKind(r[0]))
			}
			var ev Event
			edec := json.NewDecoder(bytes.NewReader(r))
			edec.DisallowUnknownFields()
			if err := edec.Decode(&ev); err != nil {
				return nil, fmt.Errorf("%w: element %d is not a history event: %v", ErrMalformed, i, err)
			}
			switch {
			case ev.Type == "":
				return nil, fmt.Errorf("%w: element %d has no event type", ErrMalformed, i)
			case !ev.Type.Known():
				return nil, fmt.Errorf("%w: element %d has the unknown event type %q", ErrMalformed, i, ev.Type)
			}
			events = append(events, ev)
		}
	}
}

// syntaxError describes a JSON decoding error, with its byte offset.
func syntaxError(err error) error {
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
