package jetstream

import (
	"encoding/json"
	"fmt"

	"github.com/duroxide-go/duroxide/store"
)

// inboxMessage is an inbox message as the store reads it: the instance named by its
// subject, the partition it is stored in, and its validated work item.
type inboxMessage struct {
	instance  string
	partition int
	item      store.WorkItem
}

// decodeInbox reads one message of the inbox stream, stored on subject
// (ns.in.<partition>.<id>.<space>) with body data. Any NATS client may publish to
// the client space, so nothing in it is trusted: it returns why the message cannot
// be processed (the message is dead-lettered with that reason), or "". When the
// subject names a valid instance, in.instance is set even if the body is refused.
func (s *Store) decodeInbox(subject string, data []byte) (in inboxMessage, reason string) {
	tok, part, space, ok := s.subj.parseStored(subject)
	if !ok {
		return in, fmt.Sprintf("subject %q is not an instance inbox subject", subject)
	}
	instance, err := DecodeToken(tok)
	if err == nil {
		err = ValidateInstanceID(instance)
	}
	if err != nil {
		return in, fmt.Sprintf("subject %q does not name a valid instance: %v", subject, err)
	}
	in.instance, in.partition = instance, part
	if err := json.Unmarshal(data, &in.item); err != nil {
		return in, "body is not valid JSON: " + err.Error()
	}
	if in.item.Instance == "" {
		in.item.Instance = instance
	}
	if reason := checkOrigin(&in.item, space, s.subj.inbox(tok)); reason != "" {
		return in, reason
	}
	return in, s.checkInbound(&in.item, instance)
}
