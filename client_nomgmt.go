package duroxide

import (
	"context"
	"fmt"

	"github.com/duroxide-go/duroxide/store"
)

// noManagement is the management side of a store that has none: every call fails
// with an error wrapping [ErrNotSupported] that names it.
type noManagement struct{}

func unsupported(call string) error {
	return fmt.Errorf("duroxide: %s: %w (the store implements no store.Admin and store.Deleter)", call, ErrNotSupported)
}

func (noManagement) ListInstances(context.Context, store.ListQuery) (*store.ListPage, error) {
	return nil, unsupported("list instances")
}
func (noManagement) ListAllInstances(context.Context, store.ListQuery) ([]string, error) {
	return nil, unsupported("list instances")
}
func (noManagement) ListExecutions(context.Context, string) ([]uint64, error) {
	return nil, unsupported("list executions")
}
func (noManagement) InstanceInfo(context.Context, string) (*store.InstanceInfo, error) {
	return nil, unsupported("instance info")
}
func (noManagement) ExecutionInfo(context.Context, string, uint64) (*store.ExecutionInfo, error) {
	return nil, unsupported("execution info")
}
func (noManagement) SystemMetrics(context.Context) (*store.SystemMetrics, error) {
	return nil, unsupported("system metrics")
}
func (noManagement) QueueDepths(context.Context) (*store.QueueDepths, error) {
	return nil, unsupported("queue depths")
}
func (noManagement) InstanceStats(context.Context, string) (*store.InstanceStats, error) {
	return nil, unsupported("instance stats")
}
func (noManagement) ListChildren(context.Context, string) ([]string, error) {
	return nil, unsupported("list children")
}
func (noManagement) ParentID(context.Context, string) (string, error) {
	return "", unsupported("parent id")
}
func (noManagement) InstanceTree(context.Context, string) (*store.InstanceTree, error) {
	return nil, unsupported("instance tree")
}
func (noManagement) DeleteInstance(context.Context, string, bool) (*store.DeleteResult, error) {
	return nil, unsupported("delete instance")
}
func (noManagement) DeleteInstances(context.Context, []string, bool) (*store.DeleteResult, error) {
	return nil, unsupported("delete instances")
}
func (noManagement) DeleteInstanceBulk(context.Context, store.InstanceFilter) (*store.DeleteResult, error) {
	return nil, unsupported("delete instances")
}
func (noManagement) PruneExecutions(context.Context, string, store.PruneOptions) (*store.PruneResult, error) {
	return nil, unsupported("prune executions")
}
func (noManagement) PruneExecutionsBulk(context.Context, store.InstanceFilter, store.PruneOptions) (*store.PruneResult, error) {
	return nil, unsupported("prune executions")
}
