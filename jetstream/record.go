package jetstream

import (
	"encoding/json"
	"fmt"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// turnRecord is one message of the history stream: everything a committed turn
// produced. It is the unit of the fence (one record per commit) and the outbox: the
// work items and messages it lists are (re)published from it, so a crash between the
// commit and their dispatch loses nothing.
type turnRecord struct {
	V      int             `json:"v"`
	Exec   uint64          `json:"exec"`
	Events []history.Event `json:"events"`
	// Consumed are the inbox stream sequences of the messages this turn processed. A
	// redelivered message whose sequence is listed here was already applied: it is
	// acked and the record's outbox is dispatched again (idempotently).
	Consumed []uint64 `json:"consumed,omitempty"`
	// PriorConsumed, on the first record of an execution, repeats the Consumed of the
	// previous execution's last record, so redeliveries across continue-as-new are
	// recognised too.
	PriorConsumed []uint64         `json:"prior_consumed,omitempty"`
	Work          []store.WorkItem `json:"work,omitempty"`
	Orch          []store.WorkItem `json:"orch,omitempty"`
	// Cancel are the activities whose work items the turn removed; they are purged
	// after Work is published, on every dispatch of the outbox.
	Cancel []store.ScheduledActivity `json:"cancel,omitempty"`
	// Inc is the instance's incarnation (see store.WorkItem.Incarnation): a unique id
	// drawn by the commit that created the instance and repeated by every later
	// record, across executions. ParentInc is the parent's incarnation, for a
	// sub-orchestration (taken from its start message). Records written before
	// incarnations existed have neither.
	Inc       string `json:"inc,omitempty"`
	ParentInc string `json:"parent_inc,omitempty"`
	// Summary is the instance's state after this turn: status reads are one direct get
	// of the instance's last record.
	Summary store.InstanceSummary `json:"summary"`
}

const recordVersion = 1

// decodeRecord decodes one history record. The history stream holds what the
// stores wrote, but it is a stream any client with rights on it can append to, and
// a record may be damaged: the error names what could not be read.
func decodeRecord(data []byte) (*turnRecord, error) {
	var rec turnRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("history record is not valid JSON: %w", err)
	}
	return &rec, nil
}

// HeaderEngineVersion is the header of a history record that holds its execution's
// pinned engine version (store.ExecutionMetadata.PinnedEngineVersion). Every record
// of an execution repeats it, so the instance's last record names the current
// execution's version, and a fetch with a capability filter reads it without decoding
// the record. A record without it belongs to an execution with no pinned version.
const HeaderEngineVersion = "Duroxide-Engine-Version"

// HeaderIncarnation is the header of a history record that holds the instance's
// incarnation (turnRecord.Inc), so that checking whether an incarnation is still
// alive reads the instance's last record without decoding it.
const HeaderIncarnation = "Duroxide-Incarnation"

// instState is the store's cached view of one instance: enough to serve a fetch and
// fence the next commit without reading the stream.
type instState struct {
	exists  bool
	exec    uint64
	events  []history.Event
	lastSeq uint64 // history stream sequence of the instance's last record
	// consumed maps inbox sequences processed by this execution (and the previous
	// execution's last turn) to the history sequence of the record that did it.
	consumed map[uint64]uint64
	summary  store.InstanceSummary
	// histErr is set when the stored history could not be decoded.
	histErr string
	// inc and parentInc are the instance's and its parent's incarnations (turnRecord.Inc).
	inc, parentInc string
	// pinned is the current execution's pinned engine version ("" if none).
	pinned string
	// headerOnly marks a state read only as far as the last record's header (a
	// filtered fetch that skipped the instance): exists, lastSeq and pinned are
	// set, nothing else. A fetch that takes the instance loads it fully.
	headerOnly bool
	// kv is the instance's KV store as of execution kvExec (see kvstate.go).
	kv       map[string]store.KVEntry
	kvExec   uint64
	kvLoaded bool
}
