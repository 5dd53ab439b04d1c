package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide/history"
	djs "github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/store"
)

// ViewsWaitTimeout bounds how long a management read waits for the projector to
// apply every turn committed before the read.
const ViewsWaitTimeout = 10 * time.Second

// Admin is the management side of the JetStream store: it implements [store.Admin]
// and [store.Deleter] from the store's streams (queue depths, deletes, prunes) and
// the views a [Projector] keeps (listings, infos, metrics, children). A projector
// must run in the namespace (every runtime runs one). Admin is safe for concurrent
// use.
type Admin struct {
	st    *djs.Store
	mu    sync.Mutex
	views *Views
}

var (
	_ store.Admin   = (*Admin)(nil)
	_ store.Deleter = (*Admin)(nil)
)

// NewAdmin returns the management side of st.
func NewAdmin(st *djs.Store) *Admin { return &Admin{st: st} }

// CaughtUp returns the views, caught up with every turn committed before the call;
// errors wrap [store.ErrViewsUnavailable] when no projector created them or it did
// not catch up within [ViewsWaitTimeout].
func (a *Admin) CaughtUp(ctx context.Context) (*Views, error) {
	v, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.WaitCaughtUp(ctx, ViewsWaitTimeout); err != nil {
		if errors.Is(err, ErrLagging) {
			return nil, fmt.Errorf("%w: %w", store.ErrViewsUnavailable, err)
		}
		return nil, err
	}
	return v, nil
}

// open returns the views, bound on first use; errors wrap
// [store.ErrViewsUnavailable] when no projector created them.
func (a *Admin) open(ctx context.Context) (*Views, error) {
	a.mu.Lock()
	v := a.views
	a.mu.Unlock()
	if v != nil {
		return v, nil
	}
	v, err := OpenViews(ctx, a.st.Conn(), a.st.JetStream(), a.st.Namespace(), a.st.HistoryStream(), a.st.HistoryLastSeq)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrViewsUnavailable, err)
	}
	a.mu.Lock()
	a.views = v
	a.mu.Unlock()
	return v, nil
}

// Lag returns how far the views are behind the history stream now, without
// waiting for the projector; errors wrap [store.ErrViewsUnavailable] when no
// projector created the views.
func (a *Admin) Lag(ctx context.Context) (*Lag, error) {
	v, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return v.Lag(ctx, a.st.HistorySubjects())
}

// ListInstances implements [store.Admin]. The cursor is an index stream sequence.
func (a *Admin) ListInstances(ctx context.Context, q store.ListQuery) (*store.ListPage, error) {
	var after uint64
	if q.Cursor != "" {
		var err error
		if after, err = strconv.ParseUint(q.Cursor, 10, 64); err != nil {
			return nil, fmt.Errorf("projections: bad cursor %q", q.Cursor)
		}
	}
	v, err := a.CaughtUp(ctx)
	if err != nil {
		return nil, err
	}
	p, err := v.List(ctx, ListQuery{Status: q.Status, Name: q.Name, CreatedFrom: q.CreatedFromMs, CreatedTo: q.CreatedToMs,
		Limit: q.Limit, After: after}, djs.DecodeToken)
	if err != nil {
		return nil, err
	}
	page := &store.ListPage{Instances: p.Instances}
	if page.Instances == nil {
		page.Instances = []string{}
	}
	if p.Next != 0 {
		page.Next = strconv.FormatUint(p.Next, 10)
	}
	return page, nil
}

// ListAllInstances implements [store.Admin].
func (a *Admin) ListAllInstances(ctx context.Context, q store.ListQuery) ([]string, error) {
	q.Limit, q.Cursor = 1000, ""
	var out []string
	for {
		p, err := a.ListInstances(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Instances...)
		if p.Next == "" {
			return out, nil
		}
		q.Cursor = p.Next
	}
}

// ListExecutions implements [store.Admin] from the history stream.
func (a *Admin) ListExecutions(ctx context.Context, instance string) ([]uint64, error) {
	return a.st.ListExecutions(ctx, instance)
}

// instanceView returns the caught-up view of instance, or [store.ErrNotFound].
func (a *Admin) instanceView(ctx context.Context, instance string) (*InstanceView, error) {
	v, err := a.CaughtUp(ctx)
	if err != nil {
		return nil, err
	}
	iv, err := v.Instance(ctx, djs.EncodeToken(instance))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, instance)
	}
	return iv, err
}

// InstanceInfo implements [store.Admin].
func (a *Admin) InstanceInfo(ctx context.Context, instance string) (*store.InstanceInfo, error) {
	iv, err := a.instanceView(ctx, instance)
	if err != nil {
		return nil, err
	}
	return &store.InstanceInfo{InstanceID: iv.Instance, Name: iv.Name, Version: iv.Version, CurrentExecutionID: iv.ExecutionID,
		Status: iv.Status, Output: iv.Output, Failure: iv.Failure, CustomStatus: iv.CustomStatus,
		CustomStatusVersion: iv.CustomStatusVersion, ParentInstanceID: iv.ParentInstance,
		CreatedAt: time.UnixMilli(iv.CreatedAtMs), UpdatedAt: time.UnixMilli(iv.UpdatedAtMs),
		ExecutionCount: iv.Executions, EventCount: iv.Events}, nil
}

// ExecutionInfo implements [store.Admin].
func (a *Admin) ExecutionInfo(ctx context.Context, instance string, execution uint64) (*store.ExecutionInfo, error) {
	v, err := a.CaughtUp(ctx)
	if err != nil {
		return nil, err
	}
	ev, err := v.Execution(ctx, djs.EncodeToken(instance), execution)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: execution %d of %q", store.ErrExecutionNotFound, execution, instance)
	}
	if err != nil {
		return nil, err
	}
	info := &store.ExecutionInfo{ExecutionID: ev.ExecutionID, Status: ev.Status, Output: ev.Output, Failure: ev.Failure,
		StartedAt: time.UnixMilli(ev.StartedAtMs), EventCount: ev.Events}
	if ev.CompletedAtMs != 0 {
		info.CompletedAt = time.UnixMilli(ev.CompletedAtMs)
	}
	return info, nil
}

// SystemMetrics implements [store.Admin].
func (a *Admin) SystemMetrics(ctx context.Context) (*store.SystemMetrics, error) {
	v, err := a.CaughtUp(ctx)
	if err != nil {
		return nil, err
	}
	return systemMetrics(ctx, v)
}

// SystemMetricsNow returns the totals as the views hold them now, without waiting
// for the projector to catch up (for gauges read under load: [Admin.Lag] says how
// far behind they are). Errors wrap [store.ErrViewsUnavailable] when no projector
// created the views.
func (a *Admin) SystemMetricsNow(ctx context.Context) (*store.SystemMetrics, error) {
	v, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return systemMetrics(ctx, v)
}

func systemMetrics(ctx context.Context, v *Views) (*store.SystemMetrics, error) {
	st, _, err := v.Stats(ctx)
	if err != nil {
		return nil, err
	}
	t := st.Totals
	return &store.SystemMetrics{TotalInstances: t.Instances, TotalExecutions: t.Executions, RunningInstances: t.Running,
		CompletedInstances: t.Completed, FailedInstances: t.Failed, ContinuedAsNewInstances: t.ContinuedAsNew,
		TotalEvents: t.Events}, nil
}

// QueueDepths implements [store.Admin] from the streams (no projector needed).
func (a *Admin) QueueDepths(ctx context.Context) (*store.QueueDepths, error) {
	q, err := a.st.QueueDepths(ctx)
	if err != nil {
		return nil, err
	}
	return &store.QueueDepths{OrchestratorQueue: int64(q.Orchestrator), WorkerQueue: int64(q.Worker), TimerQueue: int64(q.Timers)}, nil
}

// InstanceStats implements [store.Admin]: history sizes from the instance view, the
// KV store (the running execution's changes included) from the store, the
// carry-forward count from the current execution's OrchestrationStarted.
func (a *Admin) InstanceStats(ctx context.Context, instance string) (*store.InstanceStats, error) {
	iv, err := a.instanceView(ctx, instance)
	if err != nil {
		return nil, err
	}
	st := &store.InstanceStats{HistoryEventCount: iv.Events, HistorySizeBytes: iv.HistoryBytes}
	kv, err := a.st.InstanceKV(ctx, instance)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, e := range kv {
		st.KVUserKeyCount++
		st.KVTotalValueBytes += int64(len(e.Value))
	}
	h, err := a.st.ReadHistory(ctx, instance, 0)
	if err != nil {
		return nil, err
	}
	if len(h) > 0 && h[0].Type == history.OrchestrationStarted {
		st.QueuePendingCount = int64(len(h[0].CarryForward))
	}
	return st, nil
}

// ListChildren implements [store.Admin] from the children index of the views.
func (a *Admin) ListChildren(ctx context.Context, instance string) ([]string, error) {
	v, err := a.CaughtUp(ctx)
	if err != nil {
		return nil, err
	}
	encs, err := v.Children(ctx, djs.EncodeToken(instance))
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range encs {
		id, err := djs.DecodeToken(e)
		if err != nil {
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// ParentID implements [store.Admin] from the instance's last history record.
func (a *Admin) ParentID(ctx context.Context, instance string) (string, error) {
	sum, err := a.st.InstanceSummary(ctx, instance)
	if err != nil {
		return "", err
	}
	return sum.ParentInstance, nil
}

// InstanceTree implements [store.Admin].
func (a *Admin) InstanceTree(ctx context.Context, instance string) (*store.InstanceTree, error) {
	if _, err := a.st.InstanceSummary(ctx, instance); err != nil {
		return nil, err
	}
	t := &store.InstanceTree{RootID: instance, AllIDs: []string{instance}}
	seen := map[string]bool{instance: true}
	for i := 0; i < len(t.AllIDs); i++ {
		children, err := a.ListChildren(ctx, t.AllIDs[i])
		if err != nil {
			return nil, err
		}
		slices.Sort(children)
		for _, ch := range children {
			if !seen[ch] {
				seen[ch] = true
				t.AllIDs = append(t.AllIDs, ch)
			}
		}
	}
	return t, nil
}

func isRunning(status string) bool {
	return status == store.StatusRunning || status == store.StatusContinuedAsNew
}

// DeleteInstance implements [store.Deleter].
func (a *Admin) DeleteInstance(ctx context.Context, instance string, force bool) (*store.DeleteResult, error) {
	sum, err := a.st.InstanceSummary(ctx, instance)
	if err != nil {
		return nil, err
	}
	if sum.ParentInstance != "" {
		return nil, fmt.Errorf("%w: %q is a sub-orchestration of %q (delete the root)", store.ErrCannotDeleteSubOrchestration, instance, sum.ParentInstance)
	}
	tree, err := a.InstanceTree(ctx, instance)
	if err != nil {
		return nil, err
	}
	return a.DeleteInstances(ctx, tree.AllIDs, force)
}

// DeleteInstances implements [store.Deleter].
func (a *Admin) DeleteInstances(ctx context.Context, instances []string, force bool) (*store.DeleteResult, error) {
	in := make(map[string]bool, len(instances))
	for _, id := range instances {
		in[id] = true
	}
	var existing []string
	for _, id := range instances {
		sum, err := a.st.InstanceSummary(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !force && isRunning(sum.Status) {
			return nil, fmt.Errorf("%w: %q is %s (use force)", store.ErrInstanceStillRunning, id, sum.Status)
		}
		children, err := a.ListChildren(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, ch := range children {
			if !in[ch] {
				return nil, fmt.Errorf("%w: child %q of %q is not in the delete (delete the whole tree)", store.ErrWouldOrphan, ch, id)
			}
		}
		existing = append(existing, id)
	}
	res := &store.DeleteResult{}
	// Last first: for a tree listed root first, children go before their parents, so
	// a failure part way leaves a smaller tree, never orphans.
	for i := len(existing) - 1; i >= 0; i-- {
		r, err := a.deleteOne(ctx, existing[i])
		if err != nil {
			return res, err
		}
		res.Add(r)
	}
	return res, nil
}

func (a *Admin) deleteOne(ctx context.Context, id string) (*store.DeleteResult, error) {
	execs, err := a.st.ListExecutions(ctx, id)
	if err != nil {
		return nil, err
	}
	r := &store.DeleteResult{InstancesDeleted: 1, ExecutionsDeleted: int64(len(execs))}
	for _, e := range execs {
		h, err := a.st.ReadHistory(ctx, id, e)
		if err != nil {
			return nil, err
		}
		r.EventsDeleted += int64(len(h))
	}
	counts, err := a.st.DeleteInstanceData(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("projections: delete %q: %w", id, err)
	}
	r.QueueMessagesDeleted = int64(counts.InboxMessages + counts.Timers + counts.WorkItems)
	return r, nil
}

func bulkLimit(l int) int {
	if l <= 0 {
		return 1000
	}
	return l
}

// DeleteInstanceBulk implements [store.Deleter]. Without ids it selects from the
// Completed and Failed listings.
func (a *Admin) DeleteInstanceBulk(ctx context.Context, f store.InstanceFilter) (*store.DeleteResult, error) {
	limit := bulkLimit(f.Limit)
	ids := f.InstanceIDs
	if ids == nil {
		for _, status := range []string{store.StatusCompleted, store.StatusFailed} {
			more, err := a.ListAllInstances(ctx, store.ListQuery{Status: status})
			if err != nil {
				return nil, err
			}
			ids = append(ids, more...)
		}
	}
	res := &store.DeleteResult{}
	n := 0
	for _, id := range ids {
		if n >= limit {
			break
		}
		if djs.ValidateInstanceID(id) != nil {
			continue
		}
		sum, err := a.st.InstanceSummary(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return res, err
		}
		if sum.ParentInstance != "" || isRunning(sum.Status) {
			continue
		}
		if !f.CompletedBefore.IsZero() && sum.UpdatedAtMs >= f.CompletedBefore.UnixMilli() {
			continue
		}
		r, err := a.DeleteInstance(ctx, id, true)
		if err != nil {
			return res, err
		}
		res.Add(r)
		n++
	}
	return res, nil
}

// PruneExecutions implements [store.Deleter]. An execution has ended when its view
// says so (or, without a view, when its history ends with a terminal event); its
// end time is the view's completion time (or the terminal event's timestamp).
func (a *Admin) PruneExecutions(ctx context.Context, instance string, opts store.PruneOptions) (*store.PruneResult, error) {
	sum, err := a.st.InstanceSummary(ctx, instance)
	if err != nil {
		return nil, err
	}
	execs, err := a.st.ListExecutions(ctx, instance)
	if err != nil {
		return nil, err
	}
	slices.Sort(execs)
	keep := max(opts.KeepLast, 1)
	res := &store.PruneResult{InstancesProcessed: 1}
	if len(execs) <= keep {
		return res, nil
	}
	v, err := a.CaughtUp(ctx)
	if err != nil {
		return nil, err
	}
	enc := djs.EncodeToken(instance)
	var prune []uint64
	for _, e := range execs[:len(execs)-keep] {
		if e >= sum.ExecutionID {
			continue // never the current execution
		}
		var ended bool
		var endMs, events int64
		ev, err := v.Execution(ctx, enc, e)
		switch {
		case err == nil:
			ended, endMs, events = ev.Status != store.StatusRunning, ev.CompletedAtMs, ev.Events
		case errors.Is(err, ErrNotFound):
			h, err := a.st.ReadHistory(ctx, instance, e)
			if err != nil {
				return nil, err
			}
			if len(h) > 0 && h[len(h)-1].Type.IsTerminal() {
				ended, endMs = true, h[len(h)-1].TimestampMs
			}
			events = int64(len(h))
		default:
			return nil, err
		}
		if !ended || !opts.CompletedBefore.IsZero() && endMs >= opts.CompletedBefore.UnixMilli() {
			continue
		}
		prune = append(prune, e)
		res.EventsDeleted += events
	}
	if _, err := a.st.PruneExecutionData(ctx, instance, prune); err != nil {
		return nil, fmt.Errorf("projections: prune %q: %w", instance, err)
	}
	res.ExecutionsDeleted = int64(len(prune))
	return res, nil
}

// PruneExecutionsBulk implements [store.Deleter].
func (a *Admin) PruneExecutionsBulk(ctx context.Context, f store.InstanceFilter, opts store.PruneOptions) (*store.PruneResult, error) {
	limit := bulkLimit(f.Limit)
	ids := f.InstanceIDs
	if ids == nil {
		var err error
		if ids, err = a.ListAllInstances(ctx, store.ListQuery{}); err != nil {
			return nil, err
		}
	}
	res := &store.PruneResult{}
	for i, id := range ids {
		if i >= limit {
			break
		}
		if djs.ValidateInstanceID(id) != nil {
			continue
		}
		r, err := a.PruneExecutions(ctx, id, opts)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return res, err
		}
		res.InstancesProcessed += r.InstancesProcessed
		res.ExecutionsDeleted += r.ExecutionsDeleted
		res.EventsDeleted += r.EventsDeleted
	}
	return res, nil
}
