package duroxide

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// State is an instance's lifecycle state as a client sees it.
type State string

// Instance states.
const (
	StateNotFound State = "NotFound"
	// StatePending is an instance whose start is accepted but has not run yet: no
	// node has taken it, because none is running or none has its orchestration
	// registered (Status.WaitingFor says which orchestration is needed).
	StatePending   State = "Pending"
	StateRunning   State = "Running"
	StateCompleted State = "Completed"
	StateFailed    State = "Failed"
)

// IsTerminal reports whether the state is Completed or Failed.
func (s State) IsTerminal() bool { return s == StateCompleted || s == StateFailed }

// FailureDetails describes why an instance failed. Category is one of application,
// configuration, infrastructure or poison.
type FailureDetails = history.ErrorDetails

// Status is an instance's state as of its last committed turn.
type Status struct {
	InstanceID string `json:"instance_id"`
	State      State  `json:"state"`
	Name       string `json:"name,omitempty"`
	Version    string `json:"version,omitempty"`
	// ExecutionID is the current execution (it grows with continue-as-new).
	ExecutionID uint64 `json:"execution_id,omitempty"`
	// Output is the JSON result of a Completed instance.
	Output json.RawMessage `json:"output,omitempty"`
	// Failure is set for a Failed instance.
	Failure             *FailureDetails `json:"failure,omitempty"`
	CustomStatus        *string         `json:"custom_status,omitempty"`
	CustomStatusVersion uint64          `json:"custom_status_version,omitempty"`
	ParentInstanceID    string          `json:"parent_instance_id,omitempty"`
	CreatedAt           time.Time       `json:"created_at,omitzero"`
	UpdatedAt           time.Time       `json:"updated_at,omitzero"`
	// WaitingFor says, for a Pending instance, what its start waits for.
	WaitingFor string `json:"waiting_for,omitempty"`
}

// Decode decodes a Completed instance's output into out.
func (s *Status) Decode(out any) error {
	if s.State != StateCompleted {
		return fmt.Errorf("duroxide: instance %q is %s, not Completed", s.InstanceID, s.State)
	}
	return decodePayload(string(s.Output), out, "orchestration output")
}

// Err returns nil unless the instance Failed. For a Failed instance it returns an
// error that names the instance and wraps Failure: errors.Is matches it against the
// kinds of failure ([ErrCancelled], [ErrNondeterminism], [ErrPoison],
// [ErrUnregistered], [ErrPanicked]) and errors.As extracts the *[FailureDetails].
func (s *Status) Err() error {
	if s.State != StateFailed {
		return nil
	}
	f := s.Failure
	if f == nil {
		f = &FailureDetails{Category: history.Application, Kind: history.KindOrchestrationFailed}
	}
	return fmt.Errorf("duroxide: instance %q failed: %w", s.InstanceID, f)
}

func statusFromSummary(sum *store.InstanceSummary) *Status {
	st := &Status{
		InstanceID:          sum.Instance,
		Name:                sum.Name,
		Version:             sum.Version,
		ExecutionID:         sum.ExecutionID,
		CustomStatus:        sum.CustomStatus,
		CustomStatusVersion: sum.CustomStatusVersion,
		ParentInstanceID:    sum.ParentInstance,
		CreatedAt:           time.UnixMilli(sum.CreatedAtMs),
		UpdatedAt:           time.UnixMilli(sum.UpdatedAtMs),
	}
	switch sum.Status {
	case store.StatusCompleted:
		st.State = StateCompleted
		st.Output = json.RawMessage(sum.Output)
	case store.StatusFailed:
		st.State = StateFailed
		st.Failure = sum.Failure
		if st.Failure == nil {
			st.Failure = &FailureDetails{Category: history.Application, Kind: history.KindOrchestrationFailed, Message: sum.Output}
		}
	default: // Running, or ContinuedAsNew until the next execution starts
		st.State = StateRunning
	}
	return st
}
