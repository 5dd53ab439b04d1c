package jetstream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxInstanceIDBytes is the longest instance id accepted.
const MaxInstanceIDBytes = 256

// Errors for ids that cannot be used.
var (
	ErrInvalidInstanceID = errors.New("invalid instance id")
	ErrInvalidNamespace  = errors.New("invalid namespace")
)

// ValidateInstanceID checks that id is non-empty, at most [MaxInstanceIDBytes] bytes
// and valid UTF-8. Every such id works: [EncodeToken] makes it safe for subjects.
func ValidateInstanceID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: instance id is empty", ErrInvalidInstanceID)
	case len(id) > MaxInstanceIDBytes:
		return fmt.Errorf("%w: instance id is %d bytes, the limit is %d", ErrInvalidInstanceID, len(id), MaxInstanceIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: instance id is not valid UTF-8", ErrInvalidInstanceID)
	}
	return nil
}

const hexDigits = "0123456789ABCDEF"

// EncodeToken turns any string into one NATS subject token that is also a valid KV
// key: ASCII letters, digits, '-' and '_' stay as they are, every other byte becomes
// '=' followed by two upper-case hex digits. The encoding is reversible
// ([DecodeToken]) and documented in docs/PROTOCOL.md for clients in other languages.
func EncodeToken(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// DecodeToken reverses [EncodeToken]. It accepts only canonical tokens, those
// EncodeToken produces: EncodeToken(DecodeToken(t)) == t, so "=2e" (lower-case hex)
// and "=41" (an escaped plain byte) are errors wrapping [ErrInvalidInstanceID].
func DecodeToken(tok string) (string, error) {
	if !strings.Contains(tok, "=") {
		for i := 0; i < len(tok); i++ {
			if !plain(tok[i]) {
				return "", fmt.Errorf("%w: byte %q at %d is not allowed in an encoded token", ErrInvalidInstanceID, tok[i], i)
			}
		}
		return tok, nil
	}
	out := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case plain(c):
			out = append(out, c)
		case c == '=' && i+2 < len(tok):
			v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("%w: bad escape %q at %d", ErrInvalidInstanceID, tok[i:i+3], i)
			}
			out = append(out, byte(v))
			i += 2
		default:
			return "", fmt.Errorf("%w: byte %q at %d is not allowed in an encoded token", ErrInvalidInstanceID, c, i)
		}
	}
	if EncodeToken(string(out)) != tok {
		// One id, one token: a lower-case escape or an escaped plain byte would give
		// the same instance a second subject (and a second partition).
		return "", fmt.Errorf("%w: token %q is not canonical (the id encodes as %q)", ErrInvalidInstanceID, tok, EncodeToken(string(out)))
	}
	return string(out), nil
}

// subjects names every subject and stream of one namespace.
type subjects struct {
	ns         string
	partitions int
}

func validNamespace(ns string) error {
	if ns == "" || len(ns) > 32 {
		return fmt.Errorf("%w: %q must be 1 to 32 characters", ErrInvalidNamespace, ns)
	}
	for i := 0; i < len(ns); i++ {
		if !plain(ns[i]) {
			return fmt.Errorf("%w: %q may hold only letters, digits, '-' and '_'", ErrInvalidNamespace, ns)
		}
	}
	return nil
}

func (s subjects) streamName(kind string) string {
	return strings.ToUpper(strings.ReplaceAll(s.ns, "-", "_")) + "_" + kind
}

func (s subjects) inboxStream() string   { return s.streamName("INBOX") }
func (s subjects) historyStream() string { return s.streamName("HISTORY") }
func (s subjects) workStream() string    { return s.streamName("WORK") }
func (s subjects) deadStream() string    { return s.streamName("DEADLETTER") }

// dead is where rejected inbox messages go: <ns>.dead.<id> ("_" when the id itself
// was unusable).
func (s subjects) dead(enc string) string {
	if enc == "" {
		enc = "_"
	}
	return s.ns + ".dead." + enc
}
func (s subjects) deadAll() string { return s.ns + ".dead.>" }

// Two subject spaces feed the inbox stream, so that NATS permissions can tell clients
// from the runtime (docs/SECURITY.md):
//   - the client space <ns>.inbox.<id>: starts, raised events, queue messages and
//     cancellations from clients;
//   - the runtime space <ns>.rt.<id>: everything the runtime sends itself (activity
//     and sub-orchestration results, fired timers, sub-orchestration starts,
//     continue-as-new, cancellations of children).
//
// The stream stores both as <ns>.in.<partition>.<id>.<space>, <space> being the
// subject's second token ("inbox" or "rt"): one partition per id whatever the space,
// so one consumer per partition keeps each instance's messages in order.
const (
	clientSpace  = "inbox"
	runtimeSpace = "rt"
)

// inbox is the client subject of an instance.
func (s subjects) inbox(enc string) string { return s.ns + "." + clientSpace + "." + enc }

// runtime is the runtime subject of an instance.
func (s subjects) runtime(enc string) string { return s.ns + "." + runtimeSpace + "." + enc }

func (s subjects) inboxAll() string   { return s.ns + "." + clientSpace + ".*" }
func (s subjects) runtimeAll() string { return s.ns + "." + runtimeSpace + ".*" }

// strayFilters match what the stream stores without transforming it: a publish to a
// subject holding a literal wildcard token (<ns>.inbox.* or <ns>.inbox.>) is captured
// by the stream but not transformed, so no partition would ever deliver it.
func (s subjects) strayFilters() []string {
	return []string{s.ns + "." + clientSpace + ".>", s.ns + "." + runtimeSpace + ".>"}
}

// partitionTransform maps both spaces to the stored <ns>.in.<partition>.<id>.<space>.
func (s subjects) partitionTransform() (source, destination string) {
	return s.ns + ".*.*", fmt.Sprintf("%s.in.{{partition(%d,2)}}.{{wildcard(2)}}.{{wildcard(1)}}", s.ns, s.partitions)
}

// parseStored splits a stored inbox subject ns.in.<partition>.<id>.<space>.
func (s subjects) parseStored(subj string) (tok string, partition int, space string, ok bool) {
	rest, found := strings.CutPrefix(subj, s.ns+".in.")
	if !found {
		return "", 0, "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", 0, "", false
	}
	p, err := strconv.Atoi(parts[0])
	if err != nil {
		return "", 0, "", false
	}
	return parts[1], p, parts[2], true
}

func (s subjects) partitionFilter(p int) string { return fmt.Sprintf("%s.in.%d.*.*", s.ns, p) }
func (s subjects) storedInboxAny(enc string) string {
	return s.ns + ".in.*." + enc + ".*"
}

func (s subjects) timerAll() string { return s.ns + ".timer.>" }

// timerStream is the timers' subject in the stream's config: at least two tokens after
// "timer", so that no timer subject also matches the partition transform's source.
func (s subjects) timerStream() string { return s.ns + ".timer.*.>" }

// timer is the schedule subject of a durable timer. The incarnation (when the
// instance has one) is part of it: a timer of a deleted incarnation re-published late
// must not replace the timer of the same execution and id of a recreated instance.
func (s subjects) timer(enc string, exec, id uint64, inc string) string {
	if inc == "" {
		return fmt.Sprintf("%s.timer.%s.%d.%d", s.ns, enc, exec, id)
	}
	return fmt.Sprintf("%s.timer.%s.%d.%d.%s", s.ns, enc, exec, id, inc)
}
func (s subjects) delayed(enc, uniq string) string {
	return fmt.Sprintf("%s.timer.%s.d.%s", s.ns, enc, uniq)
}

func (s subjects) historyAll() string { return s.ns + ".hist.>" }
func (s subjects) history(enc string, exec uint64) string {
	return s.ns + ".hist." + enc + "." + strconv.FormatUint(exec, 10)
}
func (s subjects) historyAny(enc string) string { return s.ns + ".hist." + enc + ".*" }

const defaultTagToken = "_"

func (s subjects) workAll() string { return s.ns + ".work.>" }
func (s subjects) work(tag, enc string, exec, id uint64) string {
	t := defaultTagToken
	if tag != "" {
		t = "t" + EncodeToken(tag)
	}
	return fmt.Sprintf("%s.work.%s.%s.%d.%d", s.ns, t, enc, exec, id)
}
func (s subjects) workFilter(tag string) string {
	if tag == "" {
		return s.ns + ".work." + defaultTagToken + ".>"
	}
	return s.ns + ".work.t" + EncodeToken(tag) + ".>"
}

// events carries best-effort status-change notifications (core NATS).
func (s subjects) events(enc string) string { return s.ns + ".evt." + enc }
