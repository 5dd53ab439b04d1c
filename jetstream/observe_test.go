package jetstream

import (
	"strings"
	"testing"
)

// TestDeadLetterClassOfEveryRejection runs real rejections through decodeInbox and
// checks each reason's class, so a reworded reason cannot silently change class.
func TestDeadLetterClassOfEveryRejection(t *testing.T) {
	s := &Store{subj: subjects{ns: "t", partitions: 4}, cfg: Config{MaxPayloadBytes: 16}}
	ok := "t.in.1." + EncodeToken("i1")
	cases := []struct {
		name, subject, body, class string
	}{
		{"not an inbox subject", "t.other", `{}`, DeadLetterSubject},
		{"bad instance token", "t.in.1.%%%.inbox", `{}`, DeadLetterSubject},
		{"unknown space", ok + ".zz", `{"type":"ExternalRaised","name":"e"}`, DeadLetterSubject},
		{"body not JSON", ok + ".inbox", `{`, DeadLetterJSON},
		{"client sends a parent", ok + ".inbox", `{"type":"StartOrchestration","name":"o","parent_instance":"p"}`, DeadLetterForbidden},
		{"client sends carry-forward", ok + ".inbox", `{"type":"StartOrchestration","name":"o","carry_forward_events":[{"name":"q","data":"1"}]}`, DeadLetterForbidden},
		{"client sends a runtime type", ok + ".inbox", `{"type":"ActivityCompleted","id":1}`, DeadLetterForbidden},
		{"name too long", ok + ".rt", `{"type":"ExternalRaised","name":"` + strings.Repeat("n", maxNameBytes+1) + `"}`, DeadLetterTooLarge},
		{"payload too large", ok + ".rt", `{"type":"ExternalRaised","name":"e","data":"\"` + strings.Repeat("d", 20) + `\""}`, DeadLetterTooLarge},
		{"instance mismatch", ok + ".rt", `{"type":"ExternalRaised","name":"e","instance":"other"}`, DeadLetterInvalid},
		{"no name", ok + ".rt", `{"type":"StartOrchestration"}`, DeadLetterInvalid},
		{"bad version", ok + ".rt", `{"type":"StartOrchestration","name":"o","version":"x"}`, DeadLetterInvalid},
		{"no type", ok + ".rt", `{"name":"e"}`, DeadLetterInvalid},
		{"unknown type", ok + ".rt", `{"type":"Nope"}`, DeadLetterInvalid},
		{"data not JSON", ok + ".rt", `{"type":"ExternalRaised","name":"e","data":"{"}`, DeadLetterInvalid},
	}
	for _, c := range cases {
		_, reason := s.decodeInbox(c.subject, []byte(c.body))
		if reason == "" {
			t.Errorf("%s: not rejected", c.name)
			continue
		}
		if got := deadLetterClass(reason); got != c.class {
			t.Errorf("%s: reason %q has class %q, want %q", c.name, reason, got, c.class)
		}
	}
	// The stray consumer's reason for a wildcard subject.
	if got := deadLetterClass(`subject "t.inbox.*" holds a wildcard token; publish to t.inbox.<token> with an encoded instance id`); got != DeadLetterSubject {
		t.Errorf("wildcard subject: class %q", got)
	}
}

func TestPublishKind(t *testing.T) {
	for subj, want := range map[string]string{
		"ns.hist.x.1": PublishHistory, "ns.inbox.x": PublishInbox, "ns.rt.x": PublishInbox,
		"ns.timer.x.1.2": PublishTimer, "ns.work._.x.1.2": PublishWork, "ns.dead.x": PublishDeadLetter,
		"ns.runs.w.1.2": PublishOther, "other.hist.x": PublishOther, "ns": PublishOther,
	} {
		if got := publishKind("ns", subj); got != want {
			t.Errorf("publishKind(%q) = %q, want %q", subj, got, want)
		}
	}
}
