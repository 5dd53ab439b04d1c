package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// This file holds the chaos test's checks of what the load left behind: final
// statuses and every execution's history, read through the client.

// chaosStats counts what the histories hold.
type chaosStats struct {
	roots, children, executions  int
	activitiesScheduled          int
	activitiesCompleted          int
	activitiesCancelled          int
	timersCreated, timersFired   int
	subsScheduled, subsCompleted int
	eventsRaised, queueDelivered int
	historyProblems              []string
	instanceIDs                  []string
}

// add adds o's counts and findings to s.
func (s *chaosStats) add(o *chaosStats) {
	s.roots += o.roots
	s.children += o.children
	s.executions += o.executions
	s.activitiesScheduled += o.activitiesScheduled
	s.activitiesCompleted += o.activitiesCompleted
	s.activitiesCancelled += o.activitiesCancelled
	s.timersCreated += o.timersCreated
	s.timersFired += o.timersFired
	s.subsScheduled += o.subsScheduled
	s.subsCompleted += o.subsCompleted
	s.eventsRaised += o.eventsRaised
	s.queueDelivered += o.queueDelivered
	s.historyProblems = append(s.historyProblems, o.historyProblems...)
	s.instanceIDs = append(s.instanceIDs, o.instanceIDs...)
}

func (s *chaosStats) problem(format string, args ...any) {
	s.historyProblems = append(s.historyProblems, fmt.Sprintf(format, args...))
}

// checkInstance checks the final status and every execution's history of an
// acknowledged root instance and, recursively, of its sub-orchestrations.
func (l *chaosLoad) checkInstance(ctx context.Context, id string, want chaosWant, s *chaosStats) {
	var st *duroxide.Status
	if err := l.retry(ctx, "status "+id, func(ctx context.Context, _ int) (err error) { st, err = l.c.GetStatus(ctx, id); return err }); err != nil {
		s.problem("%s: %v", id, err)
		return
	}
	if err := checkOutput(st, want.output); err != nil {
		s.problem("%s (%s): %v", id, want.kind, err)
	}
	s.roots++
	l.checkHistory(ctx, id, want.execs, s)
}

// checkHistory checks that the instance ran exactly execs executions, each started
// once and ended once (continued as new, then completed), and that no activity, timer
// or sub-orchestration completed more than once for the event that scheduled it.
func (l *chaosLoad) checkHistory(ctx context.Context, id string, execs uint64, s *chaosStats) {
	s.instanceIDs = append(s.instanceIDs, id)
	var ids []uint64
	if err := l.retry(ctx, "executions "+id, func(ctx context.Context, _ int) (err error) { ids, err = l.c.ListExecutions(ctx, id); return err }); err != nil {
		s.problem("%s: %v", id, err)
		return
	}
	if uint64(len(ids)) != execs || (len(ids) > 0 && ids[len(ids)-1] != execs) {
		s.problem("%s: executions %v, want 1..%d", id, ids, execs)
	}
	for _, e := range ids {
		var h []history.Event
		if err := l.retry(ctx, "history "+id, func(ctx context.Context, _ int) (err error) { h, err = l.c.ReadHistory(ctx, id, e); return err }); err != nil {
			s.problem("%s: %v", id, err)
			continue
		}
		s.executions++
		last := history.OrchestrationContinuedAsNew
		if e == ids[len(ids)-1] {
			last = history.OrchestrationCompleted
		}
		l.checkExecution(ctx, id, e, h, last, s)
	}
}

func (l *chaosLoad) checkExecution(ctx context.Context, id string, e uint64, h []history.Event, last history.EventType, s *chaosStats) {
	where := fmt.Sprintf("%s execution %d", id, e)
	if len(h) == 0 || h[0].Type != history.OrchestrationStarted {
		s.problem("%s: history does not begin with OrchestrationStarted", where)
		return
	}
	if h[len(h)-1].Type != last {
		s.problem("%s: history ends with %s, want %s", where, h[len(h)-1].Type, last)
	}
	scheduled := map[uint64]history.EventType{} // event id -> kind of schedule
	done := map[uint64]int{}                    // scheduling event id -> completions
	cancelled := map[uint64]bool{}
	terminals := 0
	for i, ev := range h {
		if ev.EventID != uint64(i+1) {
			s.problem("%s: event %d has id %d", where, i+1, ev.EventID)
		}
		if ev.Type.IsTerminal() {
			terminals++
		}
		switch ev.Type {
		case history.OrchestrationStarted:
			if i != 0 {
				s.problem("%s: OrchestrationStarted again at event %d", where, ev.EventID)
			}
		case history.ActivityScheduled:
			scheduled[ev.EventID] = ev.Type
			s.activitiesScheduled++
		case history.TimerCreated:
			scheduled[ev.EventID] = ev.Type
			s.timersCreated++
		case history.SubOrchestrationScheduled:
			scheduled[ev.EventID] = ev.Type
			s.subsScheduled++
			s.children++
			l.checkHistory(ctx, ev.Instance, 1, s)
		case history.ActivityCompleted, history.TimerFired, history.SubOrchestrationCompleted:
			done[ev.SourceEventID]++
			switch ev.Type {
			case history.ActivityCompleted:
				s.activitiesCompleted++
			case history.TimerFired:
				s.timersFired++
			default:
				s.subsCompleted++
			}
		case history.ActivityFailed, history.SubOrchestrationFailed:
			done[ev.SourceEventID]++
			s.problem("%s: %s for event %d: %v", where, ev.Type, ev.SourceEventID, ev.Details)
		case history.ActivityCancelRequested:
			cancelled[ev.SourceEventID] = true
			s.activitiesCancelled++
		case history.ExternalEvent:
			s.eventsRaised++
		case history.QueueEventDelivered:
			s.queueDelivered++
		}
	}
	if terminals != 1 {
		s.problem("%s: %d terminal events, want 1", where, terminals)
	}
	for src, n := range done {
		if _, ok := scheduled[src]; !ok {
			s.problem("%s: a completion for event %d, which scheduled nothing", where, src)
		}
		if n > 1 {
			s.problem("%s: event %d (%s) completed %d times", where, src, scheduled[src], n)
		}
	}
	for src, kind := range scheduled {
		if done[src] == 0 && !cancelled[src] && kind != history.TimerCreated {
			s.problem("%s: %s %d never completed", where, kind, src)
		}
	}
}

// verify checks every acknowledged instance, a few at a time; it returns the counts.
func (l *chaosLoad) verify(ctx context.Context) *chaosStats {
	l.mu.Lock()
	ids := make([]string, 0, len(l.want))
	for id := range l.want {
		ids = append(ids, id)
	}
	want := maps.Clone(l.want)
	l.mu.Unlock()
	slices.Sort(ids)
	const par = 4
	parts := make([]*chaosStats, par)
	var wg sync.WaitGroup
	for p := range par {
		parts[p] = &chaosStats{}
		wg.Go(func() {
			for i := p; i < len(ids); i += par {
				l.checkInstance(ctx, ids[i], want[ids[i]], parts[p])
			}
		})
	}
	wg.Wait()
	s := &chaosStats{}
	for _, p := range parts {
		s.add(p)
	}
	return s
}
