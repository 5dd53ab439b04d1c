package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// The management reads read the backend directly: every turn committed before the
// call is reflected, and ErrViewsUnavailable never happens.

// defaultPageSize is ListQuery's default Limit.
const defaultPageSize = 100

// listOrder returns the instance's position in a listing: its creation order, or
// with a status filter the order in which it reached its status.
func listOrder(in *instance, byStatus bool) uint64 {
	if byStatus {
		return in.statusOrder
	}
	return in.created
}

// selected returns the instances q selects, in listing order. The caller holds mu.
func (b *backend) selected(q store.ListQuery) []*instance {
	var out []*instance
	for _, in := range b.insts {
		sum := &in.summary
		if q.Status != "" && sum.Status != q.Status || q.Name != "" && sum.Name != q.Name ||
			q.CreatedFromMs != 0 && sum.CreatedAtMs < q.CreatedFromMs || q.CreatedToMs != 0 && sum.CreatedAtMs >= q.CreatedToMs {
			continue
		}
		out = append(out, in)
	}
	byStatus := q.Status != ""
	slices.SortFunc(out, func(a, c *instance) int { return cmp.Compare(listOrder(a, byStatus), listOrder(c, byStatus)) })
	return out
}

// ListInstances implements [store.Admin]. The cursor is the listing position of the
// page's last instance; instances created (or reaching the status) later appear on
// later pages.
func (s *Store) ListInstances(ctx context.Context, q store.ListQuery) (*store.ListPage, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var after uint64
	if q.Cursor != "" {
		var err error
		if after, err = strconv.ParseUint(q.Cursor, 10, 64); err != nil {
			return nil, fmt.Errorf("memstore: bad cursor %q: not a cursor of this store", q.Cursor)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	byStatus := q.Status != ""
	page := &store.ListPage{Instances: []string{}}
	for _, in := range b.selected(q) {
		pos := listOrder(in, byStatus)
		if pos <= after {
			continue
		}
		if len(page.Instances) == limit {
			page.Next = strconv.FormatUint(after, 10)
			break
		}
		page.Instances = append(page.Instances, in.id)
		after = pos
	}
	return page, nil
}

// ListAllInstances implements [store.Admin].
func (s *Store) ListAllInstances(ctx context.Context, q store.ListQuery) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []string{}
	for _, in := range b.selected(q) {
		out = append(out, in.id)
	}
	return out, nil
}

// ListExecutions implements [store.Admin].
func (s *Store) ListExecutions(ctx context.Context, instance string) ([]uint64, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []uint64{}
	if in := b.insts[instance]; in != nil {
		for _, ex := range in.execs {
			out = append(out, ex.id)
		}
	}
	return out, nil
}

// counts returns the executions and events the instance still holds.
func (in *instance) counts() (execs, events int64) {
	for _, ex := range in.execs {
		execs++
		events += int64(len(ex.events))
	}
	return execs, events
}

// InstanceInfo implements [store.Admin].
func (s *Store) InstanceInfo(ctx context.Context, instance string) (*store.InstanceInfo, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return nil, fmt.Errorf("memstore: %q: %w", instance, store.ErrNotFound)
	}
	sum := &in.summary
	execs, events := in.counts()
	return &store.InstanceInfo{InstanceID: in.id, Name: sum.Name, Version: sum.Version, CurrentExecutionID: sum.ExecutionID,
		Status: sum.Status, Output: sum.Output, Failure: sum.Failure, CustomStatus: sum.CustomStatus,
		CustomStatusVersion: sum.CustomStatusVersion, ParentInstanceID: sum.ParentInstance,
		CreatedAt: time.UnixMilli(sum.CreatedAtMs), UpdatedAt: time.UnixMilli(sum.UpdatedAtMs),
		ExecutionCount: execs, EventCount: events}, nil
}

// ExecutionInfo implements [store.Admin].
func (s *Store) ExecutionInfo(ctx context.Context, instance string, executionID uint64) (*store.ExecutionInfo, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var ex *execution
	if in := b.insts[instance]; in != nil {
		ex = in.exec(executionID)
	}
	if ex == nil {
		return nil, fmt.Errorf("memstore: execution %d of %q: %w", executionID, instance, store.ErrExecutionNotFound)
	}
	info := &store.ExecutionInfo{ExecutionID: ex.id, Status: ex.status, Output: ex.output, Failure: ex.failure,
		StartedAt: time.UnixMilli(ex.startedMs), EventCount: int64(len(ex.events))}
	if ex.completedMs != 0 {
		info.CompletedAt = time.UnixMilli(ex.completedMs)
	}
	return info, nil
}

// SystemMetrics implements [store.Admin].
func (s *Store) SystemMetrics(ctx context.Context) (*store.SystemMetrics, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	m := &store.SystemMetrics{}
	for _, in := range b.insts {
		m.TotalInstances++
		execs, events := in.counts()
		m.TotalExecutions += execs
		m.TotalEvents += events
		switch in.summary.Status {
		case store.StatusRunning:
			m.RunningInstances++
		case store.StatusCompleted:
			m.CompletedInstances++
		case store.StatusFailed:
			m.FailedInstances++
		case store.StatusContinuedAsNew:
			m.ContinuedAsNewInstances++
		}
	}
	return m, nil
}

// QueueDepths implements [store.Admin]: the orchestrator queue counts messages not
// removed (locked ones included) except timers not yet due; the timer queue counts
// those; the worker queue counts items not yet acked.
func (s *Store) QueueDepths(ctx context.Context) (*store.QueueDepths, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	q := &store.QueueDepths{}
	for m := range b.allMsgs {
		switch {
		case m.scheduled && m.visibleAt.After(now):
			q.TimerQueue++
		default:
			q.OrchestratorQueue++
		}
	}
	for _, e := range b.work {
		if !e.removed {
			q.WorkerQueue++
		}
	}
	return q, nil
}

// InstanceStats implements [store.Admin]. HistorySizeBytes is the JSON size of the
// events still held.
func (s *Store) InstanceStats(ctx context.Context, instance string) (*store.InstanceStats, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[instance]
	if in == nil {
		return nil, fmt.Errorf("memstore: %q: %w", instance, store.ErrNotFound)
	}
	st := &store.InstanceStats{}
	for _, ex := range in.execs {
		st.HistoryEventCount += int64(len(ex.events))
		st.HistorySizeBytes += ex.bytes
	}
	for _, e := range in.kv() {
		st.KVUserKeyCount++
		st.KVTotalValueBytes += int64(len(e.Value))
	}
	if evs := in.cur().events; len(evs) > 0 && evs[0].Type == history.OrchestrationStarted {
		st.QueuePendingCount = int64(len(evs[0].CarryForward))
	}
	return st, nil
}

// children returns the instance's direct sub-orchestrations, in creation order. The
// caller holds mu.
func (b *backend) children(id string) []*instance {
	var out []*instance
	for _, in := range b.insts {
		if in.summary.ParentInstance == id && in.id != id {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, c *instance) int { return cmp.Compare(a.created, c.created) })
	return out
}

// ListChildren implements [store.Admin]; the children come in creation order.
func (s *Store) ListChildren(ctx context.Context, instance string) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []string{}
	for _, ch := range b.children(instance) {
		out = append(out, ch.id)
	}
	return out, nil
}

// ParentID implements [store.Admin].
func (s *Store) ParentID(ctx context.Context, instance string) (string, error) {
	sum, err := s.InstanceSummary(ctx, instance)
	if err != nil {
		return "", err
	}
	return sum.ParentInstance, nil
}

// tree returns the instance and its descendants, breadth first (children of one
// parent in creation order). The caller holds mu and has checked the root exists.
func (b *backend) tree(root string) []string {
	all := []string{root}
	seen := map[string]bool{root: true}
	for i := 0; i < len(all); i++ {
		for _, ch := range b.children(all[i]) {
			if !seen[ch.id] {
				seen[ch.id] = true
				all = append(all, ch.id)
			}
		}
	}
	return all
}

// InstanceTree implements [store.Admin].
func (s *Store) InstanceTree(ctx context.Context, instance string) (*store.InstanceTree, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.insts[instance] == nil {
		return nil, fmt.Errorf("memstore: %q: %w", instance, store.ErrNotFound)
	}
	return &store.InstanceTree{RootID: instance, AllIDs: b.tree(instance)}, nil
}
