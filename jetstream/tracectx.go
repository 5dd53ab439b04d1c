package jetstream

import (
	"github.com/nats-io/nats.go"

	"github.com/duroxide-go/duroxide/store"
)

// The W3C trace context of a message ([store.WorkItem.TraceParent] and TraceState)
// travels in NATS headers, never in the JSON body, so any client may set it on the
// messages it publishes (docs/PROTOCOL.md). Every message the store publishes for
// an item carries them: inbox and runtime messages, timers (a schedule's fired
// message keeps its headers), work items, moved session work, activity results. A
// turn's history record carries its outbox's context too (one value per record),
// so a re-driven outbox sends the same context as the first dispatch; the record's
// body, the persisted history format, is unchanged.
const (
	// HeaderTraceParent is the W3C traceparent header.
	HeaderTraceParent = "traceparent"
	// HeaderTraceState is the W3C tracestate header.
	HeaderTraceState = "tracestate"
	// maxTraceHeader bounds a trace header value taken from a message: W3C's
	// traceparent is 55 characters and tracestate at most 512. A longer value (any
	// client can publish one) is ignored, not rejected: tracing is best-effort.
	maxTraceHeader = 1024
)

// setTraceHeaders sets the item's trace context on m's headers (nothing when none).
func setTraceHeaders(m *nats.Msg, it *store.WorkItem) {
	if it.TraceParent == "" {
		return
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(HeaderTraceParent, it.TraceParent)
	if it.TraceState != "" {
		m.Header.Set(HeaderTraceState, it.TraceState)
	}
}

// readTraceHeaders sets the item's trace context from a received message's headers,
// ignoring values too long to be one.
func readTraceHeaders(h nats.Header, it *store.WorkItem) {
	if h == nil {
		return
	}
	tp := h.Get(HeaderTraceParent)
	if tp == "" || len(tp) > maxTraceHeader {
		return
	}
	it.TraceParent = tp
	if ts := h.Get(HeaderTraceState); len(ts) <= maxTraceHeader {
		it.TraceState = ts
	}
}

// recordTrace is the trace context a turn's history record carries: the first one
// among its outbox items (the runtime sets the turn's context on all of them).
func recordTrace(rec *turnRecord) *store.WorkItem {
	for _, items := range [][]store.WorkItem{rec.Work, rec.Orch} {
		for i := range items {
			if items[i].TraceParent != "" {
				return &items[i]
			}
		}
	}
	return nil
}

// applyRecordTrace gives every outbox item of a record read back from the stream the
// trace context of the record's headers (the body does not hold it).
func applyRecordTrace(rec *turnRecord, h nats.Header) {
	var from store.WorkItem
	readTraceHeaders(h, &from)
	if from.TraceParent == "" {
		return
	}
	for _, items := range [][]store.WorkItem{rec.Work, rec.Orch} {
		for i := range items {
			items[i].TraceParent, items[i].TraceState = from.TraceParent, from.TraceState
		}
	}
}
