package store

import "github.com/duroxide-go/duroxide/history"

// NextSummary returns the instance summary after commit c, the rule every store
// applies so that InstanceSummary reads the same on all of them. prev is the
// summary before the commit, nil for an instance the commit creates; newExec says
// whether c starts a new execution (a start or continue-as-new). The commit's
// terminal events set status, output and failure, its metadata overrides them, and
// a status still unset is Running.
func NextSummary(prev *InstanceSummary, instance string, newExec bool, c Commit, nowMs int64) InstanceSummary {
	var sum InstanceSummary
	if prev != nil {
		sum = *prev
	} else {
		sum = InstanceSummary{Instance: instance, CreatedAtMs: nowMs}
	}
	if newExec {
		sum.ExecutionID = c.ExecutionID
		sum.Status = StatusRunning
		sum.Output, sum.Failure = "", nil
	}
	for i := range c.HistoryDelta {
		e := &c.HistoryDelta[i]
		switch e.Type {
		case history.OrchestrationStarted:
			sum.Name, sum.Version, sum.ParentInstance = e.Name, e.Version, e.ParentInstance
			if e.CustomStatus != nil && sum.CustomStatus == nil {
				sum.CustomStatus = e.CustomStatus
			}
		case history.CustomStatusUpdated:
			sum.CustomStatus = e.CustomStatus
			sum.CustomStatusVersion++
		case history.OrchestrationCompleted:
			sum.Status, sum.Output, sum.Failure = StatusCompleted, e.Output, nil
		case history.OrchestrationFailed:
			sum.Status, sum.Output, sum.Failure = StatusFailed, "", e.Details
			if e.Details != nil {
				sum.Output = e.Details.DisplayMessage()
			}
		case history.OrchestrationContinuedAsNew:
			sum.Status, sum.Output = StatusContinuedAsNew, e.Input
		}
	}
	md := c.Metadata
	if md.Status != "" {
		sum.Status = md.Status
	}
	if md.Output != "" {
		sum.Output = md.Output
	}
	if md.OrchestrationName != "" {
		sum.Name = md.OrchestrationName
	}
	if md.OrchestrationVersion != "" {
		sum.Version = md.OrchestrationVersion
	}
	if md.ParentInstanceID != "" {
		sum.ParentInstance = md.ParentInstanceID
	}
	if sum.Status == "" {
		sum.Status = StatusRunning
	}
	if sum.ExecutionID == 0 {
		sum.ExecutionID = c.ExecutionID
	}
	sum.UpdatedAtMs = nowMs
	return sum
}
