package duroxide

import (
	"context"
	"fmt"

	"github.com/duroxide-go/duroxide/store"
)

// EnqueueEvent appends data (encoded as JSON) to the named queue of an instance, for
// its [OrchestrationContext.DequeueEvent]. Queue messages are kept, in order, until
// the orchestration dequeues them, and up to [MaxCarryForwardEvents] unconsumed ones
// survive continue-as-new. A message for an instance that does not exist, or has
// finished, is dropped (as in duroxide). See DequeueEvent for how queues differ from
// RaiseEvent. Invalid arguments return an error wrapping [ErrInvalidInput] or
// [ErrPayloadTooLarge] naming the field.
func (c *Client) EnqueueEvent(ctx context.Context, instanceID, queue string, data any) error {
	return c.publishNamed(ctx, store.QueueMessage, "queue message", instanceID, queue, data)
}

// WaitForStatusChange waits until the instance's custom status version is greater
// than lastSeenVersion, or the instance has completed or failed, and returns the
// status then. Pass the CustomStatusVersion of the last status seen (0 at first) to
// follow every change. It waits through NotFound and returns ctx's error when ctx
// ends first: give it a deadline. Transient read errors are retried until then.
//
// It returns an error wrapping [ErrInvalidInput] for an invalid instance id, and
// ctx's error (with the last read error, if any) when ctx ends first.
//
// Like WaitForOrchestration it listens for the runtime's status notices, takes the
// status each carries, and re-reads the status at least every second.
func (c *Client) WaitForStatusChange(ctx context.Context, instanceID string, lastSeenVersion uint64) (*Status, error) {
	if err := validateInstanceID(instanceID); err != nil {
		return nil, err
	}
	return c.waitStatus(ctx, instanceID, fmt.Sprintf("wait for a status change of %q", instanceID), false, func(st *Status) bool {
		return st.State.IsTerminal() || st.State != StateNotFound && st.CustomStatusVersion > lastSeenVersion
	})
}
