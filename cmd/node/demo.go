package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// demoCase is one orchestration instance the demo runs.
type demoCase struct {
	feature string
	name    string
	id      string
	input   any
	// after runs right after the start (the approval demo raises its event here).
	after func(ctx context.Context, c *duroxide.Client, id string) error
	want  string // the expected output, as JSON
}

var demoCases = []demoCase{
	{feature: "hello world (activity)", name: demo.HelloWorld, id: "demo-hello", input: "World",
		want: `"Hello, World!"`},
	{feature: "fan-out/fan-in", name: demo.FanOut, id: "demo-fan-out", input: 10,
		want: `55`},
	{feature: "timer race", name: demo.TimerRace, id: "demo-timer-race",
		input: demo.TimerRaceInput{WorkMs: 800, TimeoutMs: 200}, want: `"timer"`},
	{feature: "external event", name: demo.Approval, id: "demo-approval",
		after: func(ctx context.Context, c *duroxide.Client, id string) error {
			return c.RaiseEvent(ctx, id, demo.ApprovalEvent, "alice")
		},
		want: `"approved:alice"`},
	{feature: "sub-orchestrations", name: demo.GreetAll, id: "demo-greet-all", input: []string{"Ada", "Grace", "Linus"},
		want: `["Hello, Ada!","Hello, Grace!","Hello, Linus!"]`},
	{feature: "continue-as-new", name: demo.Countdown, id: "demo-countdown", input: 3,
		want: `"done after 4 executions"`},
}

// runDemo starts a node with an embedded server in a temporary directory, runs each
// demo orchestration in turn and prints its result and duration. It fails if any
// instance does not complete with the expected output.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("demo", "demo", stdout)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	dir, err := os.MkdirTemp("", "duroxide-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		return err
	}
	begin := time.Now()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := rt.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}()
	fmt.Fprintf(stdout, "duroxide demo: embedded node with its data in %s (removed on exit)\n\n", dir)
	const row = "%-24s %-14s %-16s %9s  %s\n"
	fmt.Fprintf(stdout, row, "FEATURE", "ORCHESTRATION", "INSTANCE", "DURATION", "RESULT")
	c := rt.Client()
	failed := 0
	for _, dc := range demoCases {
		res, d, err := runDemoCase(ctx, c, dc)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			failed++
			res = "FAILED: " + oneLine(err.Error())
		}
		fmt.Fprintf(stdout, row, dc.feature, dc.name, dc.id, d.Round(time.Millisecond), res)
	}
	fmt.Fprintf(stdout, "\n%d of %d instances completed as expected in %s\n", len(demoCases)-failed, len(demoCases),
		time.Since(begin).Round(time.Millisecond))
	if failed > 0 {
		return fmt.Errorf("%d demo instance(s) failed", failed)
	}
	return nil
}

// runDemoCase starts one instance, waits for it and returns its output and how long
// it took from start to finish.
func runDemoCase(ctx context.Context, c *duroxide.Client, dc demoCase) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.StartOrchestration(ctx, dc.id, dc.name, dc.input); err != nil {
		return "", 0, err
	}
	if dc.after != nil {
		if err := dc.after(ctx, c, dc.id); err != nil {
			return "", time.Since(start), err
		}
	}
	st, err := c.WaitForOrchestration(ctx, dc.id)
	d := time.Since(start)
	if err != nil {
		return "", d, err
	}
	if st.State == duroxide.StateFailed {
		return "", d, errors.New(failureText(st.Failure))
	}
	out := outputText(st.Output)
	if out != dc.want {
		return "", d, fmt.Errorf("output %s, want %s", out, dc.want)
	}
	return out, d, nil
}
