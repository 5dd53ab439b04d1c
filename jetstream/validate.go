package jetstream

import (
	"fmt"

	"github.com/duroxide-go/duroxide/store"
)

// validateCommit checks a turn against the instance's state before anything is
// written: the delta's event ids must grow strictly and, within the current
// execution, follow its last event (duroxide rejects a duplicate (instance,
// execution, event id)). A commit for an execution older than the current one is
// rejected too, and so is a pinned engine version that does not parse. st is the
// lock holder's state, so reading it needs no lock.
func validateCommit(st *instState, c store.Commit) error {
	if v := c.Metadata.PinnedEngineVersion; v != "" {
		if _, err := store.ParseSemver(v); err != nil {
			return fmt.Errorf("%w: pinned engine version: %v", store.ErrInvalidCommit, err)
		}
	}
	if len(c.HistoryDelta) == 0 {
		if metadataChanges(st, c.Metadata) && (!st.exists || c.ExecutionID != st.exec) {
			// Status and output belong to an execution: without its history there is
			// no execution to give them to.
			return fmt.Errorf("%w: metadata (status %q) without history events for execution %d, which has none",
				store.ErrInvalidCommit, c.Metadata.Status, c.ExecutionID)
		}
		return nil
	}
	if st.exists && c.ExecutionID < st.exec {
		return fmt.Errorf("%w: execution %d is older than the current execution %d", store.ErrInvalidCommit, c.ExecutionID, st.exec)
	}
	var last uint64
	if c.ExecutionID == st.exec && len(st.events) > 0 {
		last = st.events[len(st.events)-1].EventID
	}
	for i := range c.HistoryDelta {
		id := c.HistoryDelta[i].EventID
		if id <= last {
			if i == 0 {
				return fmt.Errorf("%w: event id %d does not follow the execution's last event id %d", store.ErrInvalidCommit, id, last)
			}
			return fmt.Errorf("%w: event id %d follows event id %d in the delta", store.ErrInvalidCommit, id, last)
		}
		last = id
	}
	return nil
}

// restoreLease puts back a lease taken for a commit that was rejected before anything
// was written: the caller keeps the lock (duroxide: a failed ack keeps the instance
// locked until the lock expires or is abandoned).
func (s *Store) restoreLease(token string, l *orchLease) {
	s.mu.Lock()
	s.leases[token] = l
	s.mu.Unlock()
}

// metadataChanges reports whether md changes what the instance summary in st says
// (status, output, name, version, parent). Empty fields change nothing.
func metadataChanges(st *instState, md store.ExecutionMetadata) bool {
	sum := &st.summary
	differs := func(v, cur string) bool { return v != "" && v != cur }
	return differs(md.Status, sum.Status) || differs(md.Output, sum.Output) ||
		differs(md.OrchestrationName, sum.Name) || differs(md.OrchestrationVersion, sum.Version) ||
		differs(md.ParentInstanceID, sum.ParentInstance)
}
