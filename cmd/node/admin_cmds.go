package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/duroxide-go/duroxide"
)

// adminCmd is a management subcommand: it gets a connected client and writes its
// result as a table or, with --json, as one JSON value.
type adminCmd struct {
	fs     *flagSet
	cf     clientFlags
	asJSON *bool
}

func newAdminCmd(name, usageLine string, stdout io.Writer) *adminCmd {
	a := &adminCmd{fs: newFlagSet(name, usageLine+" [--json] [--nats-url URL]", stdout)}
	a.cf.register(a.fs.FlagSet)
	a.asJSON = a.fs.Bool("json", false, "print the result as JSON")
	return a
}

// run connects and calls f.
func (a *adminCmd) run(ctx context.Context, f func(ctx context.Context, c *duroxide.Client) error) error {
	return a.cf.run(ctx, f)
}

func (a *adminCmd) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if *a.asJSON {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func msTime(t time.Time) string {
	if t.IsZero() || t.UnixMilli() == 0 {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// runList lists instances.
func runList(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("list", "list [--status S] [--name N] [--limit K] [--cursor C]", stdout)
	status := a.fs.String("status", "", "only instances in this `status` (Running, Completed, Failed, ContinuedAsNew, or Pending: started, not yet run by any node)")
	name := a.fs.String("name", "", "only instances of this orchestration `name`")
	limit := a.fs.Int("limit", 100, "page size (1..10000)")
	cursor := a.fs.String("cursor", "", "continue from a previous page's next cursor")
	pos, err := a.fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *status != "" && !duroxide.ValidStatus(*status) {
		return usageErrorf("unknown --status %q (want Running, Completed, Failed, ContinuedAsNew or Pending)", *status)
	}
	if *limit < 1 || *limit > 10000 {
		return usageErrorf("--limit must be 1..10000")
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		page, err := c.ListInstances(ctx, duroxide.ListOptions{Status: *status, Name: *name, Limit: *limit, Cursor: *cursor})
		if err != nil {
			return err
		}
		return a.print(stdout, struct {
			Instances []string `json:"instances"`
			Next      string   `json:"next,omitempty"`
		}{page.InstanceIDs, page.Next}, func(tw *tabwriter.Writer) {
			for _, id := range page.InstanceIDs {
				fmt.Fprintln(tw, id)
			}
			if page.Next != "" {
				fmt.Fprintf(tw, "(more: --cursor %s)\n", page.Next)
			}
		})
	})
}

// runInfo prints an instance's info and its executions.
func runInfo(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("info", "info ID", stdout)
	id, err := parseID(a.fs, args)
	if err != nil {
		return err
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		info, err := c.InstanceInfo(ctx, id)
		if err != nil {
			return err
		}
		execs, err := c.ListExecutions(ctx, id)
		if err != nil {
			return err
		}
		var ex []*duroxide.ExecutionInfo
		for _, e := range execs {
			ei, err := c.ExecutionInfo(ctx, id, e)
			if err != nil {
				return err
			}
			ex = append(ex, ei)
		}
		return a.print(stdout, struct {
			*duroxide.InstanceInfo
			Executions []*duroxide.ExecutionInfo
		}{info, ex}, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "instance:\t%s\n", info.InstanceID)
			fmt.Fprintf(tw, "name:\t%s %s\n", info.Name, info.Version)
			fmt.Fprintf(tw, "status:\t%s\n", info.Status)
			fmt.Fprintf(tw, "execution:\t%d\n", info.CurrentExecutionID)
			if info.ParentInstanceID != "" {
				fmt.Fprintf(tw, "parent:\t%s\n", info.ParentInstanceID)
			}
			if info.CustomStatus != nil {
				fmt.Fprintf(tw, "custom:\t%s (v%d)\n", *info.CustomStatus, info.CustomStatusVersion)
			}
			if info.Output != "" {
				fmt.Fprintf(tw, "output:\t%s\n", oneLine(info.Output))
			}
			fmt.Fprintf(tw, "created:\t%s\n", msTime(info.CreatedAt))
			fmt.Fprintf(tw, "updated:\t%s\n", msTime(info.UpdatedAt))
			fmt.Fprintf(tw, "\nEXECUTION\tSTATUS\tEVENTS\tSTARTED\tCOMPLETED\n")
			for _, e := range ex {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", e.ExecutionID, e.Status, e.EventCount, msTime(e.StartedAt), msTime(e.CompletedAt))
			}
		})
	})
}

// runHistory prints an execution's history.
func runHistory(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("history", "history ID [--execution E]", stdout)
	exec := a.fs.Uint64("execution", 0, "the execution (default: the current one)")
	id, err := parseID(a.fs, args)
	if err != nil {
		return err
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		h, err := c.ReadHistory(ctx, id, *exec)
		if err != nil {
			return err
		}
		if len(h) == 0 {
			return fmt.Errorf("instance %q has no history (execution %d)", id, *exec)
		}
		return a.print(stdout, h, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "ID\tTYPE\tSOURCE\tTIME\tDETAIL\n")
			for _, e := range h {
				detail := e.Name
				switch {
				case e.Output != "":
					detail += " " + e.Output
				case e.Details != nil:
					detail += " " + e.Details.DisplayMessage()
				case e.Key != "":
					detail = e.Key + "=" + e.Value
				}
				src := "-"
				if e.SourceEventID != 0 {
					src = strconv.FormatUint(e.SourceEventID, 10)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.EventID, e.Type, src, msTime(time.UnixMilli(e.TimestampMs)), oneLine(detail))
			}
		})
	})
}

// runMetrics prints the system metrics.
func runMetrics(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("metrics", "metrics", stdout)
	if pos, err := a.fs.parse(args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		m, err := c.SystemMetrics(ctx)
		if err != nil {
			return err
		}
		return a.print(stdout, m, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "instances:\t%d\n", m.TotalInstances)
			fmt.Fprintf(tw, "running:\t%d\n", m.RunningInstances)
			fmt.Fprintf(tw, "completed:\t%d\n", m.CompletedInstances)
			fmt.Fprintf(tw, "failed:\t%d\n", m.FailedInstances)
			fmt.Fprintf(tw, "continued-as-new:\t%d\n", m.ContinuedAsNewInstances)
			fmt.Fprintf(tw, "executions:\t%d\n", m.TotalExecutions)
			fmt.Fprintf(tw, "events:\t%d\n", m.TotalEvents)
		})
	})
}

// runQueues prints the queue depths.
func runQueues(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("queues", "queues", stdout)
	if pos, err := a.fs.parse(args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		q, err := c.QueueDepths(ctx)
		if err != nil {
			return err
		}
		return a.print(stdout, q, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "orchestrator:\t%d\n", q.OrchestratorQueue)
			fmt.Fprintf(tw, "worker:\t%d\n", q.WorkerQueue)
			fmt.Fprintf(tw, "timers:\t%d\n", q.TimerQueue)
		})
	})
}

// runStats prints an instance's stats.
func runStats(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("stats", "stats ID", stdout)
	id, err := parseID(a.fs, args)
	if err != nil {
		return err
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		s, err := c.InstanceStats(ctx, id)
		if err != nil {
			return err
		}
		return a.print(stdout, s, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "history events:\t%d\n", s.HistoryEventCount)
			fmt.Fprintf(tw, "history bytes:\t%d\n", s.HistorySizeBytes)
			fmt.Fprintf(tw, "kv keys:\t%d\n", s.KVUserKeyCount)
			fmt.Fprintf(tw, "kv bytes:\t%d\n", s.KVTotalValueBytes)
			fmt.Fprintf(tw, "queue pending:\t%d\n", s.QueuePendingCount)
		})
	})
}

// runTree prints an instance and its sub-orchestrations.
func runTree(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("tree", "tree ID", stdout)
	id, err := parseID(a.fs, args)
	if err != nil {
		return err
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		t, err := c.InstanceTree(ctx, id)
		if err != nil {
			return err
		}
		return a.print(stdout, t, func(tw *tabwriter.Writer) {
			for _, x := range t.AllIDs {
				fmt.Fprintln(tw, x)
			}
		})
	})
}

// runDelete deletes an instance tree.
func runDelete(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("delete", "delete ID [--force]", stdout)
	force := a.fs.Bool("force", false, "delete even if the instance is running")
	id, err := parseID(a.fs, args)
	if err != nil {
		return err
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		r, err := c.DeleteInstance(ctx, id, *force)
		if err != nil {
			return err
		}
		return a.print(stdout, r, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "deleted %s: %d instances, %d executions, %d events, %d queued messages\n",
				id, r.InstancesDeleted, r.ExecutionsDeleted, r.EventsDeleted, r.QueueMessagesDeleted)
		})
	})
}

// runPrune prunes old executions of an instance.
func runPrune(ctx context.Context, args []string, stdout io.Writer) error {
	a := newAdminCmd("prune", "prune ID --keep-last N", stdout)
	keep := a.fs.Int("keep-last", 0, "executions to keep, the current one included (required, >= 1)")
	id, err := parseID(a.fs, args)
	if err != nil {
		return err
	}
	if *keep < 1 {
		return usageErrorf("--keep-last N (N >= 1) is required")
	}
	return a.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		r, err := c.PruneExecutions(ctx, id, duroxide.PruneOptions{KeepLast: *keep})
		if err != nil {
			return err
		}
		return a.print(stdout, r, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "pruned %s: %d executions, %d events\n", id, r.ExecutionsDeleted, r.EventsDeleted)
		})
	})
}
