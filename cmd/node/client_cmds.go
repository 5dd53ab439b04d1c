package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/duroxide-go/duroxide"
)

const defaultNATSURL = "nats://127.0.0.1:4222"

// requestTimeout bounds start, raise and status.
const requestTimeout = 30 * time.Second

// clientFlags are the flags every client command has.
type clientFlags struct {
	natsURL string
	conn    connFlags
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.natsURL, "nats-url", defaultNATSURL, "the serving node's NATS `URL` (comma-separated for a cluster)")
	f.conn.register(fs)
}

// connect returns a client on a new connection to the node; close closes it.
func (f *clientFlags) connect(ctx context.Context) (c *duroxide.Client, close func(), err error) {
	nc, err := f.conn.connect(f.natsURL, "duroxide-node-cli")
	if err != nil {
		return nil, nil, err
	}
	c, err = duroxide.NewClient(ctx, nc, duroxide.ClientOptions{Namespace: f.conn.namespace})
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open duroxide client on %s: %w", f.natsURL, err)
	}
	return c, nc.Close, nil
}

// run connects (bounded by requestTimeout), calls f and closes the connection.
func (f *clientFlags) run(ctx context.Context, fn func(ctx context.Context, c *duroxide.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	c, closeConn, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	return fn(ctx, c)
}

// parseJSON checks that s is one JSON document (what the inbox accepts: syntax
// only, so a number beyond float64 such as 1e400 passes); what names it in the error.
func parseJSON(what, s string) (json.RawMessage, error) {
	var v json.RawMessage
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, usageErrorf("%s is not valid JSON: %v (a JSON string needs quotes, e.g. '\"World\"')", what, err)
	}
	return json.RawMessage(s), nil
}

// runStart starts an orchestration instance and prints its id.
func runStart(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("start", "start NAME --id ID [--input JSON] [--nats-url URL]", stdout)
	var cf clientFlags
	cf.register(fs.FlagSet)
	id := fs.String("id", "", "the new instance's `ID` (required)")
	input := fs.String("input", "", "the orchestration's input as `JSON` (default: none)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageErrorf("missing orchestration NAME (usage: node start NAME --id ID [--input JSON])")
	case len(pos) > 1:
		return usageErrorf("unexpected argument %q after NAME", pos[1])
	case *id == "":
		return usageErrorf("missing --id ID")
	}
	var in any
	if fs.isSet("input") {
		raw, err := parseJSON("--input", *input)
		if err != nil {
			return err
		}
		in = raw
	}
	err = cf.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		return c.StartOrchestration(ctx, *id, pos[0], in)
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, *id)
	return nil
}

// runRaise raises an external event for an instance.
func runRaise(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("raise", "raise ID EVENT [JSON] [--nats-url URL]", stdout)
	var cf clientFlags
	cf.register(fs.FlagSet)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageErrorf("want ID EVENT [JSON], got %d arguments", len(pos))
	}
	var data any
	if len(pos) == 3 {
		raw, err := parseJSON("event data", pos[2])
		if err != nil {
			return err
		}
		data = raw
	}
	err = cf.run(ctx, func(ctx context.Context, c *duroxide.Client) error {
		return c.RaiseEvent(ctx, pos[0], pos[1], data)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "raised %s for %s\n", pos[1], pos[0])
	return nil
}

// runStatus prints an instance's status. A missing instance is an error (exit 1).
func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("status", "status ID [--json] [--nats-url URL]", stdout)
	var cf clientFlags
	cf.register(fs.FlagSet)
	asJSON := fs.Bool("json", false, "print the status as a JSON object")
	id, err := parseID(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	c, closeConn, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	st, err := c.GetStatus(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, st); err != nil {
			return err
		}
	} else {
		printStatus(stdout, st)
	}
	if st.State == duroxide.StateNotFound {
		if reason, err := c.LastDeadLetter(ctx, id); err == nil && reason != "" {
			return fmt.Errorf("instance %q not found; its last message was dead-lettered: %s", id, reason)
		}
		return fmt.Errorf("instance %q not found", id)
	}
	return nil
}

// runWait waits for an instance to finish. It prints the output of a completed
// instance (exit 0) or reports the failure of a failed one (exit 1).
func runWait(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("wait", "wait ID [--timeout 60s] [--json] [--nats-url URL]", stdout)
	var cf clientFlags
	cf.register(fs.FlagSet)
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait")
	asJSON := fs.Bool("json", false, "print the final status as a JSON object")
	id, err := parseID(fs, args)
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, closeConn, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	st, err := c.WaitForOrchestration(ctx, id)
	if err != nil {
		if errors.Is(err, duroxide.ErrInstanceNotFound) {
			msg := fmt.Sprintf("instance %q does not exist: it has no history and no start is waiting for it", id)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
			defer cancel()
			if reason, err := c.LastDeadLetter(sctx, id); err == nil && reason != "" {
				msg += "; its last message was dead-lettered: " + reason
			}
			return errors.New(msg)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
			defer cancel()
			if st, serr := c.GetStatus(sctx, id); serr == nil && st.State == duroxide.StatePending {
				return fmt.Errorf("instance %q did not start within %s: its start is waiting for %s", id, *timeout, st.WaitingFor)
			}
			return fmt.Errorf("instance %q did not finish within %s", id, *timeout)
		}
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, st); err != nil {
			return err
		}
	} else if st.State == duroxide.StateCompleted {
		fmt.Fprintln(stdout, outputText(st.Output))
	}
	if st.State == duroxide.StateFailed {
		return fmt.Errorf("instance %q failed: %s", id, failureText(st.Failure))
	}
	return nil
}

// parseID parses a command that takes exactly one instance ID.
func parseID(fs *flagSet, args []string) (string, error) {
	pos, err := fs.parse(args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", usageErrorf("missing instance ID")
	case 1:
		return pos[0], nil
	}
	return "", usageErrorf("unexpected argument %q after ID", pos[1])
}

func outputText(out json.RawMessage) string {
	if len(out) == 0 {
		return "null"
	}
	return string(out)
}

func failureText(f *duroxide.FailureDetails) string {
	if f == nil {
		return "unknown failure"
	}
	return f.DisplayMessage()
}

func printStatus(w io.Writer, st *duroxide.Status) {
	fmt.Fprintf(w, "instance:  %s\n", st.InstanceID)
	fmt.Fprintf(w, "state:     %s\n", st.State)
	if st.State == duroxide.StateNotFound {
		return
	}
	fmt.Fprintf(w, "name:      %s %s\n", st.Name, st.Version)
	if st.State == duroxide.StatePending {
		fmt.Fprintf(w, "waiting:   for %s\n", st.WaitingFor)
		return
	}
	fmt.Fprintf(w, "execution: %d\n", st.ExecutionID)
	if st.ParentInstanceID != "" {
		fmt.Fprintf(w, "parent:    %s\n", st.ParentInstanceID)
	}
	if st.CustomStatus != nil {
		fmt.Fprintf(w, "custom:    %s\n", *st.CustomStatus)
	}
	switch st.State {
	case duroxide.StateCompleted:
		fmt.Fprintf(w, "output:    %s\n", outputText(st.Output))
	case duroxide.StateFailed:
		fmt.Fprintf(w, "failure:   %s\n", oneLine(failureText(st.Failure)))
	}
	fmt.Fprintf(w, "created:   %s\n", st.CreatedAt.Format(time.RFC3339Nano))
	fmt.Fprintf(w, "updated:   %s\n", st.UpdatedAt.Format(time.RFC3339Nano))
}

// statusJSON is the --json form of a status.
type statusJSON struct {
	InstanceID       string                   `json:"instance_id"`
	State            duroxide.State           `json:"state"`
	Name             string                   `json:"name,omitempty"`
	Version          string                   `json:"version,omitempty"`
	ExecutionID      uint64                   `json:"execution_id,omitempty"`
	Output           json.RawMessage          `json:"output,omitempty"`
	Failure          *duroxide.FailureDetails `json:"failure,omitempty"`
	CustomStatus     *string                  `json:"custom_status,omitempty"`
	ParentInstanceID string                   `json:"parent_instance_id,omitempty"`
	CreatedAt        *time.Time               `json:"created_at,omitempty"`
	UpdatedAt        *time.Time               `json:"updated_at,omitempty"`
	WaitingFor       string                   `json:"waiting_for,omitempty"`
}

func printJSON(w io.Writer, st *duroxide.Status) error {
	j := statusJSON{InstanceID: st.InstanceID, State: st.State, Name: st.Name, Version: st.Version,
		ExecutionID: st.ExecutionID, Failure: st.Failure, CustomStatus: st.CustomStatus,
		ParentInstanceID: st.ParentInstanceID, WaitingFor: st.WaitingFor}
	if st.State == duroxide.StateCompleted {
		j.Output = json.RawMessage(outputText(st.Output))
	}
	if st.State != duroxide.StateNotFound && st.State != duroxide.StatePending {
		j.CreatedAt, j.UpdatedAt = &st.CreatedAt, &st.UpdatedAt
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
