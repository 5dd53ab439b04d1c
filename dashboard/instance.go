package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

const (
	maxTreeNodes      = 200 // sub-orchestrations described on an instance page
	maxExecutionsRows = 50  // newest executions listed
	maxTimelineRows   = 2000
)

type kvPair struct{ Key, Value string }

type execRow struct {
	ID                       uint64
	Status                   string
	Started, Completed       time.Time
	Events                   int64
	Selected, SelectedIsLast bool
}

type eventRow struct {
	ID, Source  uint64
	Kind, Name  string
	Time        time.Time
	Offset      time.Duration // since the execution started
	Duration    time.Duration // from its scheduling event, for completions
	HasDuration bool
	Payload     string // JSON payload, failure or reason, shown on demand
	Class       string // ok, fail or "" (the colour of the kind)
}

// treeNode is an instance of a sub-orchestration tree.
type treeNode struct {
	ID, Name, Status string
	Current          bool
	Children         []*treeNode
}

type instanceData struct {
	ID           string
	Status       *duroxide.Status
	Info         *duroxide.InstanceInfo
	Input        string
	Output       string
	Failure      string
	CustomStatus string
	HasCustom    bool
	DeadLetter   string
	KV           []kvPair
	Executions   []execRow
	Exec         uint64
	Events       []eventRow
	EventsTotal  int // the execution's events; Events holds the first maxTimelineRows
	Tree         *treeNode
	TreeSize     int
	Live         bool
}

func (h *handler) instance(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	id := r.URL.Query().Get("id")
	st, err := h.c.GetStatus(ctx, id)
	if err != nil {
		h.failRead(w, "instance "+strconv.Quote(id), err)
		return
	}
	if st.State == duroxide.StateNotFound {
		h.fail(w, http.StatusNotFound, "Instance not found", "No instance has the id "+strconv.Quote(id)+" (it never existed, or it was deleted).")
		return
	}
	d := instanceData{ID: id, Status: st, Live: !st.State.IsTerminal()}
	if st.CustomStatus != nil {
		d.CustomStatus, d.HasCustom = *st.CustomStatus, true
	}
	switch st.State {
	case duroxide.StateCompleted:
		d.Output = string(st.Output)
	case duroxide.StateFailed:
		d.Failure = st.Failure.DisplayMessage()
	}
	if d.DeadLetter, err = h.c.LastDeadLetter(ctx, id); err != nil {
		h.failRead(w, "dead letters", err)
		return
	}
	if st.State != duroxide.StatePending {
		if err := h.fillInstance(ctx, &d, r.URL.Query().Get("exec")); err != nil {
			if errors.Is(err, errBadExec) {
				h.fail(w, http.StatusBadRequest, "Bad request", err.Error())
				return
			}
			h.failRead(w, "instance "+strconv.Quote(id), err)
			return
		}
	}
	refresh := 0
	if d.Live {
		refresh = h.opts.RefreshSeconds
	}
	h.render(w, http.StatusOK, "instance", page{Title: "Instance " + id, Nav: "instances", Refresh: refresh, Data: d})
}

var errBadExec = errors.New("the execution parameter must be a positive number")

// fillInstance reads what a started instance has: its view, KV store, executions,
// the chosen execution's history and the sub-orchestration tree.
func (h *handler) fillInstance(ctx context.Context, d *instanceData, exec string) error {
	var err error
	if d.Info, err = h.c.InstanceInfo(ctx, d.ID); err != nil {
		return err
	}
	d.Exec = d.Info.CurrentExecutionID
	if exec != "" {
		n, err := strconv.ParseUint(exec, 10, 64)
		if err != nil || n == 0 {
			return errBadExec
		}
		d.Exec = n
	}
	// The reads are independent (each fills its own fields): run them at once.
	var execs []uint64
	err = concurrently(
		func() error { return h.fillKV(ctx, d) },
		func() (err error) { execs, err = h.fillExecutions(ctx, d); return err },
		func() error { return h.fillHistory(ctx, d) },
		func() error { return h.fillTree(ctx, d) },
	)
	if err != nil {
		return err
	}
	if !slices.Contains(execs, d.Exec) {
		return fmt.Errorf("%w: instance %q has no execution %d", duroxide.ErrExecutionNotFound, d.ID, d.Exec)
	}
	return nil
}

// concurrently runs the functions at once and returns the first error.
func concurrently(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *handler) fillKV(ctx context.Context, d *instanceData) error {
	kv, err := h.c.GetAllValues(ctx, d.ID)
	if err != nil {
		return err
	}
	for k, v := range kv {
		d.KV = append(d.KV, kvPair{k, v})
	}
	slices.SortFunc(d.KV, func(a, b kvPair) int { return strings.Compare(a.Key, b.Key) })
	return nil
}

// fillExecutions describes the newest executions and returns every execution id.
func (h *handler) fillExecutions(ctx context.Context, d *instanceData) ([]uint64, error) {
	all, err := h.c.ListExecutions(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	execs := all
	if len(execs) > maxExecutionsRows {
		execs = execs[len(execs)-maxExecutionsRows:]
	}
	for i := len(execs) - 1; i >= 0; i-- {
		e, err := h.c.ExecutionInfo(ctx, d.ID, execs[i])
		if errors.Is(err, duroxide.ErrExecutionNotFound) {
			continue // pruned since the listing
		}
		if err != nil {
			return nil, err
		}
		d.Executions = append(d.Executions, execRow{ID: e.ExecutionID, Status: e.Status, Started: e.StartedAt,
			Completed: e.CompletedAt, Events: e.EventCount, Selected: e.ExecutionID == d.Exec})
	}
	return all, nil
}

func (h *handler) fillHistory(ctx context.Context, d *instanceData) error {
	events, err := h.c.ReadHistory(ctx, d.ID, d.Exec)
	if err != nil {
		return err
	}
	d.Events, d.EventsTotal = timeline(events), len(events)
	if len(d.Events) > maxTimelineRows {
		d.Events = d.Events[:maxTimelineRows]
	}
	if len(events) > 0 && events[0].Type == history.OrchestrationStarted {
		d.Input = events[0].Input
	}
	return nil
}

// timeline turns history events into rows, with each completion's duration since
// the event that scheduled it.
func timeline(events []history.Event) []eventRow {
	at := map[uint64]int64{}
	names := map[uint64]string{}
	var start int64
	if len(events) > 0 {
		start = events[0].TimestampMs
	}
	out := make([]eventRow, 0, len(events))
	for _, e := range events {
		at[e.EventID], names[e.EventID] = e.TimestampMs, e.Name
		name := e.Name
		if name == "" && e.SourceEventID != 0 {
			name = names[e.SourceEventID] // a completion: the name of what it completes
		}
		row := eventRow{ID: e.EventID, Source: e.SourceEventID, Kind: string(e.Type), Name: name,
			Time: time.UnixMilli(e.TimestampMs), Offset: time.Duration(e.TimestampMs-start) * time.Millisecond}
		if e.Instance != "" && row.Name != "" {
			row.Name += " → " + e.Instance
		}
		if s, ok := at[e.SourceEventID]; ok && e.SourceEventID != 0 {
			row.Duration, row.HasDuration = time.Duration(e.TimestampMs-s)*time.Millisecond, true
		}
		switch {
		case e.Details != nil:
			row.Payload = e.Details.DisplayMessage()
		case e.Output != "":
			row.Payload = e.Output
		case e.Input != "":
			row.Payload = e.Input
		case e.Data != "":
			row.Payload = e.Data
		case e.Reason != "":
			row.Payload = e.Reason
		}
		switch e.Type {
		case history.OrchestrationCompleted, history.ActivityCompleted, history.SubOrchestrationCompleted, history.TimerFired, history.ExternalEvent:
			row.Class = "ok"
		case history.OrchestrationFailed, history.ActivityFailed, history.SubOrchestrationFailed:
			row.Class = "fail"
		}
		out = append(out, row)
	}
	return out
}

// fillTree builds the sub-orchestration tree of the instance's root (its parents
// up to the root, then the root's tree), so the page shows where the instance sits.
func (h *handler) fillTree(ctx context.Context, d *instanceData) error {
	root := d.ID
	parent := d.Info.ParentInstanceID
	for hops := 0; parent != "" && hops < 64; hops++ {
		root = parent
		info, err := h.c.InstanceInfo(ctx, parent)
		if errors.Is(err, duroxide.ErrInstanceNotFound) {
			break
		}
		if err != nil {
			return err
		}
		parent = info.ParentInstanceID
	}
	tree, err := h.c.InstanceTree(ctx, root)
	if errors.Is(err, duroxide.ErrInstanceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tree.IsRootOnly() {
		return nil
	}
	d.TreeSize = tree.Size()
	nodes := map[string]*treeNode{}
	for i, id := range tree.AllIDs {
		if i >= maxTreeNodes {
			break
		}
		n := &treeNode{ID: id, Current: id == d.ID}
		info, err := h.c.InstanceInfo(ctx, id)
		switch {
		case err == nil:
			n.Name, n.Status = info.Name, info.Status
			if p := nodes[info.ParentInstanceID]; p != nil && i > 0 {
				p.Children = append(p.Children, n)
			}
		case errors.Is(err, duroxide.ErrInstanceNotFound):
			n.Status = "Pending"
			nodes[tree.RootID].Children = append(nodes[tree.RootID].Children, n)
		default:
			return err
		}
		if i == 0 {
			d.Tree = n
		}
		nodes[id] = n
	}
	return nil
}
