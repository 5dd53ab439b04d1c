package duroxide

import (
	"fmt"
	"testing"

	"github.com/duroxide-go/duroxide/history"
)

// An unbounded stream of event names adds at most maxEventNameLabels values.
func TestEventNameLabelIsBounded(t *testing.T) {
	b := newBoundedLabel(maxEventNameLabels)
	seen := map[string]bool{}
	for i := 0; i < 10*maxEventNameLabels; i++ {
		seen[b.value(fmt.Sprintf("event-%d", i))] = true
	}
	if len(seen) != maxEventNameLabels+1 || !seen[otherLabel] {
		t.Fatalf("%d label values (want %d names and %q)", len(seen), maxEventNameLabels, otherLabel)
	}
	if got := b.value("event-0"); got != "event-0" {
		t.Fatalf("an admitted name became %q", got)
	}
}

// Names and versions this node did not register, and error kinds and categories
// outside the known sets, map to fixed values.
func TestNameAndErrorLabelsAreBounded(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterOrchestration(reg, "Known", func(*OrchestrationContext, string) (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}
	if err := RegisterActivity(reg, "Act", func(*ActivityContext, string) (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}
	m := &metrics{reg: reg}
	for _, c := range []struct{ name, version, wantName, wantVersion string }{
		{"Known", DefaultVersion, "Known", DefaultVersion},
		{"Known", "9.9.9", unknownLabel, unknownLabel},
		{"Known", "", unknownLabel, unknownLabel},
		{"Attacker<script>", DefaultVersion, unknownLabel, unknownLabel},
	} {
		if n, v := m.orchestrationLabels(c.name, c.version); n != c.wantName || v != c.wantVersion {
			t.Errorf("orchestrationLabels(%q, %q) = %q, %q; want %q, %q", c.name, c.version, n, v, c.wantName, c.wantVersion)
		}
	}
	if m.orchestrationName("Known") != "Known" || m.orchestrationName("x") != unknownLabel {
		t.Errorf("orchestrationName does not bound names")
	}
	if m.activityName("Act") != "Act" || m.activityName("x") != unknownLabel {
		t.Errorf("activityName does not bound names")
	}
	if k, c := errorLabels(&history.ErrorDetails{Kind: "made up", Category: "made up"}); k != otherLabel || c != otherLabel {
		t.Errorf("errorLabels of unknown kind and category: %q, %q", k, c)
	}
	if k, c := errorLabels(&history.ErrorDetails{Kind: history.KindPoison, Category: history.Poison}); k != history.KindPoison || c != "poison" {
		t.Errorf("errorLabels of a poison failure: %q, %q", k, c)
	}
	for n, want := range map[int]string{0: "0", 1: "1", 9: "9", 10: "10+", 1000: "10+"} {
		if got := retryAttemptLabel(n); got != want {
			t.Errorf("retryAttemptLabel(%d) = %q, want %q", n, got, want)
		}
	}
}
