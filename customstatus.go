package duroxide

import (
	"fmt"

	"github.com/duroxide-go/duroxide/history"
)

// MaxCustomStatusBytes is the largest custom status an orchestration may set
// (256 KiB, as in duroxide).
const MaxCustomStatusBytes = 256 * 1024

// SetCustomStatus sets the instance's custom status, a free-form string clients read
// from [Status.CustomStatus] and wait for with [Client.WaitForStatusChange]. Each
// call records a CustomStatusUpdated event and advances the status version by one
// when the turn commits. The status survives continue-as-new.
//
// A status larger than [MaxCustomStatusBytes] fails the orchestration (an
// application failure naming the size), as in duroxide.
func (c *OrchestrationContext) SetCustomStatus(status string) {
	e := c.e
	if len(status) > MaxCustomStatusBytes {
		e.failFromCoroutine(&history.ErrorDetails{Category: history.Application, Kind: history.KindOrchestrationFailed,
			Message: fmt.Sprintf("custom status is %d bytes, the limit is %d", len(status), MaxCustomStatusBytes)})
	}
	s := status
	e.emit(history.Event{Type: history.CustomStatusUpdated, CustomStatus: &s})
	e.customStatus = &s
}

// ResetCustomStatus clears the custom status (it also advances the status version).
func (c *OrchestrationContext) ResetCustomStatus() {
	e := c.e
	e.emit(history.Event{Type: history.CustomStatusUpdated})
	e.customStatus = nil
}

// CustomStatus returns the current custom status and whether one is set: the last
// value set in this execution, or the one carried over by continue-as-new.
func (c *OrchestrationContext) CustomStatus() (string, bool) {
	if c.e.customStatus == nil {
		return "", false
	}
	return *c.e.customStatus, true
}
