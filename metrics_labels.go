package duroxide

import (
	"strconv"
	"sync"

	"github.com/duroxide-go/duroxide/history"
)

// Label values stay bounded: names come from the registry (a name or version this
// node did not register is "unknown", so starting instances of made-up names
// creates no series), error kinds and categories from fixed sets, and event names
// from the first maxEventNameLabels seen (orchestration names too on a standalone
// client, which has no registry: the first maxClientOrchestrationLabels).

// unknownLabel stands for a name or version this node has not registered.
const unknownLabel = "unknown"

// otherLabel stands for a value outside a label's fixed set.
const otherLabel = "other"

// maxClientOrchestrationLabels bounds the orchestration_name values of a
// standalone client's starts counter (it has no registry to check names against).
const maxClientOrchestrationLabels = 100

// maxEventNameLabels bounds the event_name values of the raised-events counter.
const maxEventNameLabels = 100

// orchestrationLabels returns the name and version labels of an orchestration:
// both "unknown" unless this node registered that version of it.
func (m *metrics) orchestrationLabels(name, version string) (string, string) {
	if _, v, ok := m.reg.resolveOrchestration(name, version); ok && v == version {
		return name, version
	}
	return unknownLabel, unknownLabel
}

// orchestrationName is the name label of an orchestration of any version: for a
// standalone client (no registry), one of the first maxClientOrchestrationLabels
// names it started, else "other".
func (m *metrics) orchestrationName(name string) string {
	if m.reg == nil {
		return m.names.value(name)
	}
	if _, _, ok := m.reg.resolveOrchestration(name, ""); ok {
		return name
	}
	return unknownLabel
}

// activityName is the name label of an activity.
func (m *metrics) activityName(name string) string {
	if _, ok := m.reg.activity(name); ok {
		return name
	}
	return unknownLabel
}

// tagLabel names the default (untagged) activity queue "default".
func tagLabel(tag string) string {
	if tag == "" {
		return "default"
	}
	return tag
}

// errorLabels returns the error_type (the failure's kind) and error_category labels.
func errorLabels(d *history.ErrorDetails) (string, string) {
	if d == nil {
		return otherLabel, otherLabel
	}
	kind, cat := otherLabel, otherLabel
	switch d.Kind {
	case history.KindActivityFailed, history.KindOrchestrationFailed, history.KindPanicked, history.KindCancelled,
		history.KindNondeterminism, history.KindUnregistered, history.KindInvalidInput, history.KindPoison, history.KindStore:
		kind = d.Kind
	}
	switch d.Category {
	case history.Application, history.Configuration, history.Infrastructure, history.Poison:
		cat = string(d.Category)
	}
	return kind, cat
}

// turnCountLabel is the final_turn_count label: the range the count falls in.
func turnCountLabel(n int) string {
	switch {
	case n <= 5:
		return "1-5"
	case n <= 10:
		return "6-10"
	case n <= 50:
		return "11-50"
	case n <= 100:
		return "51-100"
	}
	return "100+"
}

// retryAttemptLabel is the retry_attempt label: 0 for an activity's first attempt
// (and for activities scheduled without a retry policy), n for its n-th retry,
// "10+" from the tenth on.
func retryAttemptLabel(n int) string {
	if n >= 10 {
		return "10+"
	}
	return strconv.Itoa(max(n, 0))
}

// boundedLabel admits the first max distinct values of a free-form label and
// reports every later one as "other".
type boundedLabel struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newBoundedLabel(max int) *boundedLabel {
	return &boundedLabel{max: max, seen: make(map[string]bool)}
}

func (b *boundedLabel) value(v string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= b.max {
		return otherLabel
	}
	b.seen[v] = true
	return v
}
