package duroxide

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide/projections"
	"github.com/duroxide-go/duroxide/store"
)

// ViewsWaitTimeout bounds how long a management read waits for the projector to
// apply every turn committed before the read.
const ViewsWaitTimeout = projections.ViewsWaitTimeout

// adminState holds the client's management side: on JetStream the store's
// [projections.Admin] (which implements store.Admin and store.Deleter), shared with
// the conformance suite; on another store the store itself when it implements both,
// else a stand-in whose calls fail with [ErrNotSupported]. The methods below
// validate input and map its types (its errors are the root sentinels: the root
// declares them as aliases of the store's).
type adminState struct {
	once sync.Once
	a    managementStore
}

// managementStore is the management side of the contract: reads and deletes.
type managementStore interface {
	store.Admin
	store.Deleter
}

func (c *Client) mgmt() managementStore {
	c.admin.once.Do(func() {
		switch m, ok := c.st.(managementStore); {
		case c.js != nil:
			c.admin.a = projections.NewAdmin(c.js)
		case ok:
			c.admin.a = m
		default:
			c.admin.a = noManagement{}
		}
	})
	return c.admin.a
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
	case store.StatusRunning, store.StatusCompleted, store.StatusFailed, store.StatusContinuedAsNew, string(StatePending):
		return true
	}
	return false
}

// ListInstances returns one page of instance ids: all instances in creation order,
// or those in a status in the order they reached it, filtered by orchestration name
// and creation time. Page through with Cursor and Next. An unknown status or a bad
// cursor returns an error wrapping [ErrInvalidInput]. The listing reflects every turn
// committed before the call; it returns [ErrViewsUnavailable] when no projector runs.
// Status "Pending" lists starts that no node has run yet (see [StatePending]), read
// from the inbox, in id order.
func (c *Client) ListInstances(ctx context.Context, opts ListOptions) (*InstancePage, error) {
	if opts.Status != "" && !ValidStatus(opts.Status) {
		return nil, fmt.Errorf("%w: unknown status %q (want Running, Completed, Failed, ContinuedAsNew or Pending)", ErrInvalidInput, opts.Status)
	}
	if opts.Limit < 0 || opts.Limit > 10000 {
		return nil, fmt.Errorf("%w: limit %d is outside 1..10000", ErrInvalidInput, opts.Limit)
	}
	if opts.Status == string(StatePending) {
		return c.listPending(ctx, opts)
	}
	if opts.Cursor != "" {
		if _, err := strconv.ParseUint(opts.Cursor, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: bad cursor %q", ErrInvalidInput, opts.Cursor)
		}
	}
	q := store.ListQuery{Status: opts.Status, Name: opts.Name, Limit: opts.Limit, Cursor: opts.Cursor}
	if !opts.CreatedAfter.IsZero() {
		q.CreatedFromMs = opts.CreatedAfter.UnixMilli()
	}
	if !opts.CreatedBefore.IsZero() {
		q.CreatedToMs = opts.CreatedBefore.UnixMilli()
	}
	p, err := c.mgmt().ListInstances(ctx, q)
	if err != nil {
		return nil, err
	}
	return &InstancePage{InstanceIDs: p.Instances, Next: p.Next}, nil
}

// listPending lists instances whose start waits in the inbox, no node having run it
// (see [StatePending]), in id-token order; the cursor is the last id token of the
// previous page. Creation-time filters do not apply: they have no history yet.
func (c *Client) listPending(ctx context.Context, opts ListOptions) (*InstancePage, error) {
	if !opts.CreatedAfter.IsZero() || !opts.CreatedBefore.IsZero() {
		return nil, fmt.Errorf("%w: Pending instances have no creation time to filter on", ErrInvalidInput)
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 100
	}
	p, ok := c.st.(store.PendingReader)
	if !ok {
		return &InstancePage{}, nil // the store keeps no starts waiting
	}
	ids, next, err := p.PendingStarts(ctx, opts.Name, limit, opts.Cursor)
	if err != nil {
		return nil, err
	}
	return &InstancePage{InstanceIDs: ids, Next: next}, nil
}

// ListAllInstances returns the ids of every instance matching opts (Limit and
// Cursor are ignored), reading page by page.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current.
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

// InstanceInfo describes an instance (the store's type).
type InstanceInfo = store.InstanceInfo

// InstanceInfo returns an instance's view, or an error wrapping
// [ErrInstanceNotFound].
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current; an invalid instance id, [ErrInvalidInput].
func (c *Client) InstanceInfo(ctx context.Context, instanceID string) (*InstanceInfo, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	iv, err := c.mgmt().InstanceInfo(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	return iv, nil
}

// ExecutionInfo describes one execution of an instance (the store's type).
type ExecutionInfo = store.ExecutionInfo

// ExecutionInfo returns an execution's view, or an error wrapping
// [ErrExecutionNotFound].
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current; an invalid instance id, [ErrInvalidInput].
func (c *Client) ExecutionInfo(ctx context.Context, instanceID string, executionID uint64) (*ExecutionInfo, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	ev, err := c.mgmt().ExecutionInfo(ctx, instanceID, executionID)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// SystemMetrics are system-wide totals (the store's type).
type SystemMetrics = store.SystemMetrics

// SystemMetrics returns the system-wide totals as of every turn committed before
// the call.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current.
func (c *Client) SystemMetrics(ctx context.Context) (*SystemMetrics, error) {
	t, err := c.mgmt().SystemMetrics(ctx)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// QueueDepths are the numbers of messages waiting in the queues (the store's type).
type QueueDepths = store.QueueDepths

// QueueDepths counts the messages in the streams (it needs no projector).
func (c *Client) QueueDepths(ctx context.Context) (*QueueDepths, error) {
	q, err := c.mgmt().QueueDepths(ctx)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// InstanceStats are the sizes of one instance (duroxide's get_instance_stats; the
// store's type).
type InstanceStats = store.InstanceStats

// InstanceStats returns an instance's sizes, or an error wrapping
// [ErrInstanceNotFound].
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current; an invalid instance id, [ErrInvalidInput].
func (c *Client) InstanceStats(ctx context.Context, instanceID string) (*InstanceStats, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	st, err := c.mgmt().InstanceStats(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// InstanceTree is an instance and all its sub-orchestrations, recursively (the
// store's type).
type InstanceTree = store.InstanceTree

// InstanceTree returns the instance and its sub-orchestrations (the instances that
// name it as their parent, recursively, from the views' children index), or an
// error wrapping [ErrInstanceNotFound]. It is what DeleteInstance deletes.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current; an invalid instance id, [ErrInvalidInput].
func (c *Client) InstanceTree(ctx context.Context, instanceID string) (*InstanceTree, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	t, err := c.mgmt().InstanceTree(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteResult counts what a delete removed (the store's type).
type DeleteResult = store.DeleteResult

// DeleteInstance deletes an instance and its sub-orchestrations, recursively: their
// histories, views, KV stores, and queued messages, timers and work items. It
// returns an error wrapping [ErrInstanceNotFound] for a missing instance,
// [ErrCannotDeleteSubOrchestration] for a sub-orchestration (delete its root), and
// [ErrInstanceStillRunning] when an instance of the tree runs and force is false.
//
// A forced delete of a running instance fences out its turn in flight: that turn's
// commit fails, so it cannot recreate the instance; nothing the deleted incarnation
// sent (work items, timers, child starts, results) runs or reappears afterwards, and
// activities still running finish with their results dropped. The same id can be
// started again at once: the new instance is a new incarnation.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current; an invalid instance id, [ErrInvalidInput].
func (c *Client) DeleteInstance(ctx context.Context, instanceID string, force bool) (*DeleteResult, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	r, err := c.mgmt().DeleteInstance(ctx, instanceID, force)
	return r, err
}

// InstanceFilter selects instances for the bulk operations (the store's type).
// Conditions combine with AND; an empty filter selects every instance.
type InstanceFilter = store.InstanceFilter

// DeleteInstanceBulk deletes the finished root instances the filter selects (and
// their sub-orchestrations), skipping running ones and sub-orchestrations, and
// returns the total counts.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current.
func (c *Client) DeleteInstanceBulk(ctx context.Context, f InstanceFilter) (*DeleteResult, error) {
	r, err := c.mgmt().DeleteInstanceBulk(ctx, f)
	return r, err
}

// PruneOptions selects the executions PruneExecutions deletes (the store's type).
// The current execution is never deleted.
type PruneOptions = store.PruneOptions

// PruneResult counts what a prune removed (the store's type).
type PruneResult = store.PruneResult

// PruneExecutions deletes the history of an instance's old executions, keeping the
// current one (and opts.KeepLast in all). It is safe while the instance runs: only
// ended executions are removed, and the KV store (instance-wide) is kept. It returns
// an error wrapping [ErrInstanceNotFound] for a missing instance.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current; an invalid instance id, [ErrInvalidInput].
func (c *Client) PruneExecutions(ctx context.Context, instanceID string, opts PruneOptions) (*PruneResult, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	r, err := c.mgmt().PruneExecutions(ctx, instanceID, opts)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// PruneExecutionsBulk prunes every instance the filter selects (running ones
// included: pruning is safe while they run) and returns the total counts.
// CompletedBefore in the filter is ignored; use opts.CompletedBefore.
// Reads of the management views return an error wrapping [ErrViewsUnavailable]
// when no projector keeps them current.
func (c *Client) PruneExecutionsBulk(ctx context.Context, f InstanceFilter, opts PruneOptions) (*PruneResult, error) {
	r, err := c.mgmt().PruneExecutionsBulk(ctx, f, opts)
	return r, err
}
