package duroxide

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/projections"
	"github.com/duroxide-go/duroxide/store"
)

// Errors of the management API.
var (
	// ErrInstanceNotFound means the instance does not exist.
	ErrInstanceNotFound = errors.New("instance not found")
	// ErrExecutionNotFound means the instance has no such execution (any more).
	ErrExecutionNotFound = errors.New("execution not found")
	// ErrInstanceStillRunning means a delete without force met a running instance.
	ErrInstanceStillRunning = errors.New("instance is still running")
	// ErrCannotDeleteSubOrchestration means the instance is a sub-orchestration:
	// delete its root instead, which deletes the whole tree.
	ErrCannotDeleteSubOrchestration = errors.New("cannot delete a sub-orchestration directly")
	// ErrViewsUnavailable means the management views are not (yet) up to date: no
	// runtime runs a projector in the namespace, or it is far behind.
	ErrViewsUnavailable = errors.New("management views unavailable")
)

// ViewsWaitTimeout bounds how long a management read waits for the projector to
// apply every turn committed before the read.
const ViewsWaitTimeout = 10 * time.Second

// adminState caches the client's binding to the views.
type adminState struct {
	mu    sync.Mutex
	views *projections.Views
}

// views returns the views, caught up with every turn committed before the call.
func (c *Client) views(ctx context.Context) (*projections.Views, error) {
	c.admin.mu.Lock()
	v := c.admin.views
	c.admin.mu.Unlock()
	if v == nil {
		var err error
		v, err = projections.OpenViews(ctx, c.nc, c.st.JetStream(), c.st.Namespace(), c.st.HistoryStream(), c.st.HistoryLastSeq)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrViewsUnavailable, err)
		}
		c.admin.mu.Lock()
		c.admin.views = v
		c.admin.mu.Unlock()
	}
	if err := v.WaitCaughtUp(ctx, ViewsWaitTimeout); err != nil {
		if errors.Is(err, projections.ErrLagging) {
			return nil, fmt.Errorf("%w: %w", ErrViewsUnavailable, err)
		}
		return nil, err
	}
	return v, nil
}

// ListOptions selects the instances ListInstances returns. Zero fields select all.
type ListOptions struct {
	// Status keeps instances in this status: "Running", "Completed", "Failed" or
	// "ContinuedAsNew".
	Status string
	// Name keeps instances of this orchestration.
	Name string
	// CreatedAfter and CreatedBefore keep instances created in [after, before).
	CreatedAfter, CreatedBefore time.Time
	// Limit is the page size: default 100, at most 10000.
	Limit int
	// Cursor continues a listing: pass the previous page's Next.
	Cursor string
}

// InstancePage is one page of a listing.
type InstancePage struct {
	InstanceIDs []string `json:"instance_ids"`
	// Next is the cursor of the next page, "" after the last page.
	Next string `json:"next,omitempty"`
}

// ValidStatus reports whether s is an instance status a listing accepts.
func ValidStatus(s string) bool {
	switch s {
	case store.StatusRunning, store.StatusCompleted, store.StatusFailed, store.StatusContinuedAsNew:
		return true
	}
	return false
}

// ListInstances returns one page of instance ids: all instances in creation order,
// or those in a status in the order they reached it, filtered by orchestration name
// and creation time. Page through with Cursor and Next. An unknown status or a bad
// cursor returns an error wrapping [ErrInvalidInput]. The listing reflects every turn
// committed before the call; it returns [ErrViewsUnavailable] when no projector runs.
func (c *Client) ListInstances(ctx context.Context, opts ListOptions) (*InstancePage, error) {
	if opts.Status != "" && !ValidStatus(opts.Status) {
		return nil, fmt.Errorf("%w: unknown status %q (want Running, Completed, Failed or ContinuedAsNew)", ErrInvalidInput, opts.Status)
	}
	if opts.Limit < 0 || opts.Limit > 10000 {
		return nil, fmt.Errorf("%w: limit %d is outside 1..10000", ErrInvalidInput, opts.Limit)
	}
	var after uint64
	if opts.Cursor != "" {
		var err error
		if after, err = strconv.ParseUint(opts.Cursor, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: bad cursor %q", ErrInvalidInput, opts.Cursor)
		}
	}
	v, err := c.views(ctx)
	if err != nil {
		return nil, err
	}
	q := projections.ListQuery{Status: opts.Status, Name: opts.Name, Limit: opts.Limit, After: after}
	if !opts.CreatedAfter.IsZero() {
		q.CreatedFrom = opts.CreatedAfter.UnixMilli()
	}
	if !opts.CreatedBefore.IsZero() {
		q.CreatedTo = opts.CreatedBefore.UnixMilli()
	}
	p, err := v.List(ctx, q, jetstream.DecodeToken)
	if err != nil {
		return nil, err
	}
	page := &InstancePage{InstanceIDs: p.Instances}
	if page.InstanceIDs == nil {
		page.InstanceIDs = []string{}
	}
	if p.Next != 0 {
		page.Next = strconv.FormatUint(p.Next, 10)
	}
	return page, nil
}

// ListAllInstances returns the ids of every instance matching opts (Limit and
// Cursor are ignored), reading page by page.
func (c *Client) ListAllInstances(ctx context.Context, opts ListOptions) ([]string, error) {
	opts.Limit, opts.Cursor = 1000, ""
	var out []string
	for {
		p, err := c.ListInstances(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, p.InstanceIDs...)
		if p.Next == "" {
			return out, nil
		}
		opts.Cursor = p.Next
	}
}

// InstanceInfo describes an instance.
type InstanceInfo struct {
	InstanceID         string `json:"instance_id"`
	Name               string `json:"name"`
	Version            string `json:"version"`
	CurrentExecutionID uint64 `json:"current_execution_id"`
	// Status is "Running", "Completed", "Failed" or "ContinuedAsNew".
	Status string `json:"status"`
	// Output is the result of a Completed instance (JSON) or the failure message.
	Output              string          `json:"output,omitempty"`
	Failure             *FailureDetails `json:"failure,omitempty"`
	CustomStatus        *string         `json:"custom_status,omitempty"`
	CustomStatusVersion uint64          `json:"custom_status_version"`
	ParentInstanceID    string          `json:"parent_instance_id,omitempty"`
	CreatedAt           time.Time       `json:"created_at,omitzero"`
	UpdatedAt           time.Time       `json:"updated_at,omitzero"`
	// ExecutionCount and EventCount count what the history still holds.
	ExecutionCount int64 `json:"execution_count"`
	EventCount     int64 `json:"event_count"`
}

// InstanceInfo returns an instance's view, or an error wrapping
// [ErrInstanceNotFound].
func (c *Client) InstanceInfo(ctx context.Context, instanceID string) (*InstanceInfo, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	v, err := c.views(ctx)
	if err != nil {
		return nil, err
	}
	iv, err := v.Instance(ctx, jetstream.EncodeToken(instanceID))
	if errors.Is(err, projections.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrInstanceNotFound, instanceID)
	}
	if err != nil {
		return nil, err
	}
	return &InstanceInfo{InstanceID: iv.Instance, Name: iv.Name, Version: iv.Version, CurrentExecutionID: iv.ExecutionID,
		Status: iv.Status, Output: iv.Output, Failure: iv.Failure, CustomStatus: iv.CustomStatus,
		CustomStatusVersion: iv.CustomStatusVersion, ParentInstanceID: iv.ParentInstance,
		CreatedAt: time.UnixMilli(iv.CreatedAtMs), UpdatedAt: time.UnixMilli(iv.UpdatedAtMs),
		ExecutionCount: iv.Executions, EventCount: iv.Events}, nil
}

// ExecutionInfo describes one execution of an instance.
type ExecutionInfo struct {
	ExecutionID uint64 `json:"execution_id"`
	// Status is "Running", "Completed", "Failed" or "ContinuedAsNew".
	Status string `json:"status"`
	// Output is the result, the failure message, or the continue-as-new input.
	Output    string          `json:"output,omitempty"`
	Failure   *FailureDetails `json:"failure,omitempty"`
	StartedAt time.Time       `json:"started_at,omitzero"`
	// CompletedAt is zero while the execution runs.
	CompletedAt time.Time `json:"completed_at,omitzero"`
	EventCount  int64     `json:"event_count"`
}

// ExecutionInfo returns an execution's view, or an error wrapping
// [ErrExecutionNotFound].
func (c *Client) ExecutionInfo(ctx context.Context, instanceID string, executionID uint64) (*ExecutionInfo, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	v, err := c.views(ctx)
	if err != nil {
		return nil, err
	}
	ev, err := v.Execution(ctx, jetstream.EncodeToken(instanceID), executionID)
	if errors.Is(err, projections.ErrNotFound) {
		return nil, fmt.Errorf("%w: execution %d of %q", ErrExecutionNotFound, executionID, instanceID)
	}
	if err != nil {
		return nil, err
	}
	info := &ExecutionInfo{ExecutionID: ev.ExecutionID, Status: ev.Status, Output: ev.Output, Failure: ev.Failure,
		StartedAt: time.UnixMilli(ev.StartedAtMs), EventCount: ev.Events}
	if ev.CompletedAtMs != 0 {
		info.CompletedAt = time.UnixMilli(ev.CompletedAtMs)
	}
	return info, nil
}

// SystemMetrics are system-wide totals.
type SystemMetrics struct {
	TotalInstances     int64 `json:"total_instances"`
	TotalExecutions    int64 `json:"total_executions"`
	RunningInstances   int64 `json:"running_instances"`
	CompletedInstances int64 `json:"completed_instances"`
	FailedInstances    int64 `json:"failed_instances"`
	// ContinuedAsNewInstances are between two executions.
	ContinuedAsNewInstances int64 `json:"continued_as_new_instances"`
	TotalEvents             int64 `json:"total_events"`
}

// SystemMetrics returns the system-wide totals as of every turn committed before
// the call.
func (c *Client) SystemMetrics(ctx context.Context) (*SystemMetrics, error) {
	v, err := c.views(ctx)
	if err != nil {
		return nil, err
	}
	st, _, err := v.Stats(ctx)
	if err != nil {
		return nil, err
	}
	t := st.Totals
	return &SystemMetrics{TotalInstances: t.Instances, TotalExecutions: t.Executions, RunningInstances: t.Running,
		CompletedInstances: t.Completed, FailedInstances: t.Failed, ContinuedAsNewInstances: t.ContinuedAsNew,
		TotalEvents: t.Events}, nil
}

// QueueDepths are the numbers of messages waiting in the queues.
type QueueDepths struct {
	// OrchestratorQueue counts unprocessed instance messages (timers excluded).
	OrchestratorQueue int64 `json:"orchestrator_queue"`
	// WorkerQueue counts activity work items not yet completed.
	WorkerQueue int64 `json:"worker_queue"`
	// TimerQueue counts durable timers not yet fired.
	TimerQueue int64 `json:"timer_queue"`
}

// QueueDepths counts the messages in the streams (it needs no projector).
func (c *Client) QueueDepths(ctx context.Context) (*QueueDepths, error) {
	q, err := c.st.QueueDepths(ctx)
	if err != nil {
		return nil, err
	}
	return &QueueDepths{OrchestratorQueue: int64(q.Orchestrator), WorkerQueue: int64(q.Worker), TimerQueue: int64(q.Timers)}, nil
}

// InstanceStats are the sizes of one instance (duroxide's get_instance_stats).
type InstanceStats struct {
	// HistoryEventCount and HistorySizeBytes cover every execution still held
	// (HistorySizeBytes: the size of the stored turn records).
	HistoryEventCount int64 `json:"history_event_count"`
	HistorySizeBytes  int64 `json:"history_size_bytes"`
	// KVUserKeyCount and KVTotalValueBytes describe the instance's key-value store,
	// including the running execution's changes.
	KVUserKeyCount    int64 `json:"kv_user_key_count"`
	KVTotalValueBytes int64 `json:"kv_total_value_bytes"`
	// QueuePendingCount is the number of queue messages the current execution
	// carried forward from the previous one.
	QueuePendingCount int64 `json:"queue_pending_count"`
}

// InstanceStats returns an instance's sizes, or an error wrapping
// [ErrInstanceNotFound].
func (c *Client) InstanceStats(ctx context.Context, instanceID string) (*InstanceStats, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	v, err := c.views(ctx)
	if err != nil {
		return nil, err
	}
	iv, err := v.Instance(ctx, jetstream.EncodeToken(instanceID))
	if errors.Is(err, projections.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrInstanceNotFound, instanceID)
	}
	if err != nil {
		return nil, err
	}
	st := &InstanceStats{HistoryEventCount: iv.Events, HistorySizeBytes: iv.HistoryBytes}
	kv, err := c.st.InstanceKV(ctx, instanceID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, e := range kv {
		st.KVUserKeyCount++
		st.KVTotalValueBytes += int64(len(e.Value))
	}
	h, err := c.st.ReadHistory(ctx, instanceID, 0)
	if err != nil {
		return nil, err
	}
	if len(h) > 0 && h[0].Type == history.OrchestrationStarted {
		st.QueuePendingCount = int64(len(h[0].CarryForward))
	}
	return st, nil
}

// InstanceTree is an instance and all its sub-orchestrations, recursively.
type InstanceTree struct {
	RootID string `json:"root_id"`
	// AllIDs holds the root first, then its descendants breadth first.
	AllIDs []string `json:"all_ids"`
}

// Size is the number of instances in the tree.
func (t *InstanceTree) Size() int { return len(t.AllIDs) }

// IsRootOnly reports whether the instance has no sub-orchestrations.
func (t *InstanceTree) IsRootOnly() bool { return len(t.AllIDs) == 1 }

// InstanceTree returns the instance and its sub-orchestrations (found through the
// SubOrchestrationScheduled events of its histories), or an error wrapping
// [ErrInstanceNotFound]. It is what DeleteInstance deletes.
func (c *Client) InstanceTree(ctx context.Context, instanceID string) (*InstanceTree, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	if _, err := c.summary(ctx, instanceID); err != nil {
		return nil, err
	}
	t := &InstanceTree{RootID: instanceID, AllIDs: []string{instanceID}}
	seen := map[string]bool{instanceID: true}
	for i := 0; i < len(t.AllIDs); i++ {
		children, err := c.children(ctx, t.AllIDs[i])
		if err != nil {
			return nil, err
		}
		for _, ch := range children {
			if !seen[ch] {
				seen[ch] = true
				t.AllIDs = append(t.AllIDs, ch)
			}
		}
	}
	return t, nil
}

func (c *Client) summary(ctx context.Context, id string) (*store.InstanceSummary, error) {
	sum, err := c.st.InstanceSummary(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrInstanceNotFound, id)
	}
	return sum, err
}

// children returns the existing sub-orchestrations id scheduled.
func (c *Client) children(ctx context.Context, id string) ([]string, error) {
	execs, err := c.st.ListExecutions(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range execs {
		h, err := c.st.ReadHistory(ctx, id, e)
		if err != nil {
			return nil, err
		}
		for i := range h {
			if h[i].Type != history.SubOrchestrationScheduled {
				continue
			}
			sum, err := c.st.InstanceSummary(ctx, h[i].Instance)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if sum.ParentInstance == id {
				out = append(out, h[i].Instance)
			}
		}
	}
	return out, nil
}

// DeleteResult counts what a delete removed.
type DeleteResult struct {
	InstancesDeleted  int64 `json:"instances_deleted"`
	ExecutionsDeleted int64 `json:"executions_deleted"`
	EventsDeleted     int64 `json:"events_deleted"`
	// QueueMessagesDeleted counts inbox messages, timers and activity work items.
	QueueMessagesDeleted int64 `json:"queue_messages_deleted"`
}

func (r *DeleteResult) add(o *DeleteResult) {
	r.InstancesDeleted += o.InstancesDeleted
	r.ExecutionsDeleted += o.ExecutionsDeleted
	r.EventsDeleted += o.EventsDeleted
	r.QueueMessagesDeleted += o.QueueMessagesDeleted
}

func isRunning(status string) bool {
	return status == store.StatusRunning || status == store.StatusContinuedAsNew
}

// DeleteInstance deletes an instance and its sub-orchestrations, recursively: their
// histories, views, KV stores, and queued messages, timers and work items. It
// returns an error wrapping [ErrInstanceNotFound] for a missing instance,
// [ErrCannotDeleteSubOrchestration] for a sub-orchestration (delete its root), and
// [ErrInstanceStillRunning] when an instance of the tree runs and force is false.
//
// A forced delete of a running instance fences out its turn in flight: that turn's
// commit fails, so it cannot recreate the instance; activities still running finish
// and their results are dropped. Deleting and then starting the same id within two
// minutes may be deduplicated away (the start's JetStream deduplication window).
func (c *Client) DeleteInstance(ctx context.Context, instanceID string, force bool) (*DeleteResult, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	sum, err := c.summary(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	if sum.ParentInstance != "" {
		return nil, fmt.Errorf("%w: %q is a sub-orchestration of %q", ErrCannotDeleteSubOrchestration, instanceID, sum.ParentInstance)
	}
	return c.deleteTree(ctx, instanceID, force)
}

func (c *Client) deleteTree(ctx context.Context, root string, force bool) (*DeleteResult, error) {
	tree, err := c.InstanceTree(ctx, root)
	if err != nil {
		return nil, err
	}
	if !force {
		for _, id := range tree.AllIDs {
			sum, err := c.summary(ctx, id)
			if err != nil {
				return nil, err
			}
			if isRunning(sum.Status) {
				return nil, fmt.Errorf("%w: %q is %s (use force)", ErrInstanceStillRunning, id, sum.Status)
			}
		}
	}
	res := &DeleteResult{}
	// Children first, so a failure part way leaves a smaller tree, never orphans.
	for i := len(tree.AllIDs) - 1; i >= 0; i-- {
		r, err := c.deleteOne(ctx, tree.AllIDs[i])
		if err != nil {
			return res, err
		}
		res.add(r)
	}
	return res, nil
}

func (c *Client) deleteOne(ctx context.Context, id string) (*DeleteResult, error) {
	execs, err := c.st.ListExecutions(ctx, id)
	if err != nil {
		return nil, err
	}
	r := &DeleteResult{InstancesDeleted: 1, ExecutionsDeleted: int64(len(execs))}
	for _, e := range execs {
		h, err := c.st.ReadHistory(ctx, id, e)
		if err != nil {
			return nil, err
		}
		r.EventsDeleted += int64(len(h))
	}
	counts, err := c.st.DeleteInstanceData(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("duroxide: delete %q: %w", id, err)
	}
	r.QueueMessagesDeleted = int64(counts.InboxMessages + counts.Timers + counts.WorkItems)
	return r, nil
}

// InstanceFilter selects instances for the bulk operations. Conditions combine with
// AND; an empty filter selects every instance.
type InstanceFilter struct {
	// InstanceIDs, if set, limits the operation to these instances.
	InstanceIDs []string
	// CompletedBefore, if set, keeps instances that finished before it.
	CompletedBefore time.Time
	// Limit bounds the number of instances (roots) processed: default 1000.
	Limit int
}

// DeleteInstanceBulk deletes the finished root instances the filter selects (and
// their sub-orchestrations), skipping running ones and sub-orchestrations, and
// returns the total counts.
func (c *Client) DeleteInstanceBulk(ctx context.Context, f InstanceFilter) (*DeleteResult, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	ids := f.InstanceIDs
	if ids == nil {
		for _, status := range []string{store.StatusCompleted, store.StatusFailed} {
			more, err := c.ListAllInstances(ctx, ListOptions{Status: status})
			if err != nil {
				return nil, err
			}
			ids = append(ids, more...)
		}
	}
	res := &DeleteResult{}
	n := 0
	for _, id := range ids {
		if n >= limit {
			break
		}
		if validateInstanceID(id) != nil {
			continue
		}
		sum, err := c.st.InstanceSummary(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return res, err
		}
		if sum.ParentInstance != "" || isRunning(sum.Status) {
			continue
		}
		if !f.CompletedBefore.IsZero() && !time.UnixMilli(sum.UpdatedAtMs).Before(f.CompletedBefore) {
			continue
		}
		r, err := c.deleteTree(ctx, id, true)
		if err != nil {
			return res, err
		}
		res.add(r)
		n++
	}
	return res, nil
}

// PruneOptions selects the executions PruneExecutions deletes. The current
// execution is never deleted.
type PruneOptions struct {
	// KeepLast keeps the most recent executions, the current one included (0 and 1
	// both keep only the current one).
	KeepLast int
	// CompletedBefore, if set, deletes only executions that ended before it.
	CompletedBefore time.Time
}

// PruneResult counts what a prune removed.
type PruneResult struct {
	InstancesProcessed int64 `json:"instances_processed"`
	ExecutionsDeleted  int64 `json:"executions_deleted"`
	EventsDeleted      int64 `json:"events_deleted"`
}

// PruneExecutions deletes the history of an instance's old executions, keeping the
// current one (and opts.KeepLast in all). It is safe while the instance runs: only
// ended executions are removed, and the KV store (instance-wide) is kept. It returns
// an error wrapping [ErrInstanceNotFound] for a missing instance.
func (c *Client) PruneExecutions(ctx context.Context, instanceID string, opts PruneOptions) (*PruneResult, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	sum, err := c.summary(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	execs, err := c.st.ListExecutions(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	sort.Slice(execs, func(i, j int) bool { return execs[i] < execs[j] })
	keep := max(opts.KeepLast, 1)
	res := &PruneResult{InstancesProcessed: 1}
	if len(execs) <= keep {
		return res, nil
	}
	var prune []uint64
	for _, e := range execs[:len(execs)-keep] {
		if e >= sum.ExecutionID {
			continue // never the current execution
		}
		h, err := c.st.ReadHistory(ctx, instanceID, e)
		if err != nil {
			return nil, err
		}
		if len(h) == 0 || !h[len(h)-1].Type.IsTerminal() {
			continue
		}
		if !opts.CompletedBefore.IsZero() && !time.UnixMilli(h[len(h)-1].TimestampMs).Before(opts.CompletedBefore) {
			continue
		}
		prune = append(prune, e)
		res.EventsDeleted += int64(len(h))
	}
	if _, err := c.st.PruneExecutionData(ctx, instanceID, prune); err != nil {
		return nil, fmt.Errorf("duroxide: prune %q: %w", instanceID, err)
	}
	res.ExecutionsDeleted = int64(len(prune))
	return res, nil
}

// PruneExecutionsBulk prunes every instance the filter selects (running ones
// included: pruning is safe while they run) and returns the total counts.
// CompletedBefore in the filter is ignored; use opts.CompletedBefore.
func (c *Client) PruneExecutionsBulk(ctx context.Context, f InstanceFilter, opts PruneOptions) (*PruneResult, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	ids := f.InstanceIDs
	if ids == nil {
		var err error
		if ids, err = c.ListAllInstances(ctx, ListOptions{}); err != nil {
			return nil, err
		}
	}
	res := &PruneResult{}
	for i, id := range ids {
		if i >= limit {
			break
		}
		r, err := c.PruneExecutions(ctx, id, opts)
		if errors.Is(err, ErrInstanceNotFound) || errors.Is(err, ErrInvalidInput) {
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
