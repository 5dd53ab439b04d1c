package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// maxPendingScan bounds how many of an instance's waiting inbox messages
// [Store.PendingStart] reads looking for its start.
const maxPendingScan = 16

// PendingStart reports what waits in the inbox for an instance: how many messages
// (including delayed ones not yet due), and the first StartOrchestration among the
// first few, or nil. A start waits there until a node has run its first turn; it
// stays there, retried with backoff, while no node has its orchestration registered.
//
// The runtime acks inbox messages only after the turn that consumed them is
// committed, so an instance with no history and nothing pending does not exist: a
// caller reads PendingStart first, then the history.
func (s *Store) PendingStart(ctx context.Context, instance string) (*store.WorkItem, uint64, error) {
	enc := EncodeToken(instance)
	var pending uint64
	for _, filter := range []string{s.subj.storedInboxAny(enc), s.subj.ns + ".timer." + enc + ".>"} {
		info, err := s.inbox.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return nil, 0, fmt.Errorf("jetstream: inbox stream info: %w", err)
		}
		for _, n := range info.State.Subjects {
			pending += n
		}
	}
	if pending == 0 {
		return nil, 0, nil
	}
	seq := uint64(1)
	for range maxPendingScan {
		m, err := s.inbox.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(s.subj.storedInboxAny(enc)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, pending, fmt.Errorf("jetstream: read the inbox of %q: %w", instance, err)
		}
		var it store.WorkItem
		if json.Unmarshal(m.Data, &it) == nil && it.Type == store.StartOrchestration {
			return &it, pending, nil
		}
		seq = m.Sequence + 1
	}
	return nil, pending, nil
}

// PendingStarts lists, in id-token order, instances whose start waits in the inbox
// while they have no history (see [Store.PendingStart]), of orchestration name if
// name is not empty: at most limit of them, after the id whose token is after (the
// previous page's last). next is the cursor of the next page, "" after the last.
func (s *Store) PendingStarts(ctx context.Context, name string, limit int, after string) (ids []string, next string, err error) {
	info, err := s.inbox.Info(ctx, jetstream.WithSubjectFilter(s.subj.ns+".in.*.*.*"))
	if err != nil {
		return nil, "", fmt.Errorf("jetstream: inbox stream info: %w", err)
	}
	toks := map[string]bool{}
	for subj := range info.State.Subjects {
		if tok, _, _, ok := s.subj.parseStored(subj); ok && tok > after {
			toks[tok] = true
		}
	}
	sorted := slices.Sorted(maps.Keys(toks))
	for i, tok := range sorted {
		id, err := DecodeToken(tok)
		if err != nil {
			continue // dead-lettered soon
		}
		start, _, err := s.PendingStart(ctx, id)
		if err != nil {
			return nil, "", err
		}
		if start == nil || name != "" && start.Name != name {
			continue
		}
		if _, err := s.InstanceSummary(ctx, id); !errors.Is(err, store.ErrNotFound) {
			if err != nil {
				return nil, "", err
			}
			continue // started: a duplicate start waits to be dropped
		}
		ids = append(ids, id)
		if len(ids) == limit && i < len(sorted)-1 {
			return ids, tok, nil
		}
	}
	return ids, "", nil
}

// LastDeadLetter returns the reason of the instance's last dead-lettered message
// (its Duroxide-Reason header), or "" if it has none.
func (s *Store) LastDeadLetter(ctx context.Context, instance string) (string, error) {
	m, err := s.dead.GetLastMsgForSubject(ctx, s.subj.dead(EncodeToken(instance)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("jetstream: read the dead letters of %q: %w", instance, err)
	}
	return m.Header.Get(HeaderReason), nil
}
