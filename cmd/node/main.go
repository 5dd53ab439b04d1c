// Command node runs a duroxide node and talks to one.
//
//	node demo                                  run the demo orchestrations in a throwaway node
//	node bench [--inflight C] [--duration T | --count K] [--cluster N] [--json]   measure the reference workload
//	node bench --idle N [--restart] [--json]   measure N instances waiting for an event
//	node serve [--data-dir DIR] [--listen HOST:PORT] [cluster flags] | [--nats-url URL]
//	node start NAME --id ID [--input JSON]     start an orchestration
//	node raise ID EVENT [JSON]                 raise an external event
//	node status ID [--json]                    print an instance's status
//	node wait ID [--timeout 60s] [--json]      wait for an instance and print its output
//	node replay FILE...                        replay recorded histories against this binary's orchestrations
//
// node list/info/history/metrics/queues/stats/tree/delete/prune manage instances (see
// "node help"). The client commands find the node with --nats-url (default nats://127.0.0.1:4222).
// Exit status: 0 on success, 1 when the operation failed (including a failed
// instance), 2 for a usage error; errors are one line on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/duroxide-go/duroxide"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `node runs a duroxide node (durable orchestrations on NATS JetStream) and talks to one.

Usage:
  node demo                                  run the demo orchestrations in a throwaway node
  node serve [flags]                         run a node until SIGINT/SIGTERM
  node bench [flags]                         run the reference workload and print its measurements
  node start NAME --id ID [--input JSON]     start an orchestration instance
  node raise ID EVENT [JSON]                 raise an external event for an instance
  node status ID [--json]                    print an instance's status
  node wait ID [--timeout 60s] [--json]      wait for an instance to finish; print its output
  node list [--status S] [--name N] [--limit K] [--cursor C]   list instances (one page)
  node info ID                               an instance's info and its executions
  node history ID [--execution E]            an execution's history
  node metrics                               system metrics (instances, executions, events)
  node queues                                queue depths (orchestrator, worker, timers)
  node stats ID                              an instance's sizes (history, KV, queue)
  node tree ID                               an instance and its sub-orchestrations
  node delete ID [--force]                   delete an instance tree (--force: even if running)
  node prune ID --keep-last N                delete old executions, keeping the last N
  node replay FILE... [--json]               replay histories (from "node history ID --json"; - is stdin)
                                             against this binary's orchestrations; exit 1 if any does not replay
  node help                                  print this help

serve flags:
  --data-dir DIR      embedded server's data directory (default ./duroxide-data)
  --listen HOST:PORT  embedded server's client address (default 127.0.0.1:4222; port 0 picks a free one)
  --cluster-name C --cluster-listen HOST:PORT --routes URLS [--server-name N]
                      join the embedded server to a NATS cluster with the other nodes
  --nats-url URL      use this NATS server or cluster instead of an embedded server
                      (with --creds, --nkey, --user/--password, --tls-cert/--tls-key/--tls-ca)
  --replicas N        stream replicas when first created (default: 3 with three or more servers)
  --node-id ID        stable node identity; a restart with it takes the node's partitions back at once
                      (default: kept in the data directory; with --nats-url, new per start)
  --http HOST:PORT    dashboard, /metrics, /healthz and /readyz (default 127.0.0.1:8233; "off" disables)
  --namespace NS      subject and stream prefix (default duroxide), also on client commands

bench flags (see "node bench -h"): --activities N (5) --work D (10ms) --inflight C (20)
  --duration T (20s) | --count K, --timeout D (1m per orchestration), --json,
  --nats-url URL (default: a throwaway embedded node), --cluster N (N clustered in-process nodes)
  --idle N [--restart] [--sample K] [--settle D] [--memprofile FILE]: N instances waiting for an
  event; memory, disk, raise latency, restart time

The client commands (all but demo, serve, bench and replay) find the node with --nats-url URL (default nats://127.0.0.1:4222).
A node serves the orchestrations HelloWorld (input a name), FanOut (input n) and
Approval (waits for the event "approval"), among others; see internal/demo.

Exit status: 0 on success, 1 when the operation or the instance failed, 2 for a usage error.
Run "node COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status. SIGINT and SIGTERM
// cancel the command's context (serve then shuts down).
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, args, stdout, stderr)
}

// execute runs args until done or until ctx ends.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "start":
		err = runStart(ctx, rest, stdout)
	case "raise":
		err = runRaise(ctx, rest, stdout)
	case "status":
		err = runStatus(ctx, rest, stdout)
	case "wait":
		err = runWait(ctx, rest, stdout)
	case "list":
		err = runList(ctx, rest, stdout)
	case "info":
		err = runInfo(ctx, rest, stdout)
	case "history":
		err = runHistory(ctx, rest, stdout)
	case "metrics":
		err = runMetrics(ctx, rest, stdout)
	case "queues":
		err = runQueues(ctx, rest, stdout)
	case "stats":
		err = runStats(ctx, rest, stdout)
	case "tree":
		err = runTree(ctx, rest, stdout)
	case "delete":
		err = runDelete(ctx, rest, stdout)
	case "prune":
		err = runPrune(ctx, rest, stdout)
	case "replay":
		err = runReplay(ctx, rest, os.Stdin, stdout)
	default:
		err = usageErrorf("unknown command %q (run \"node help\")", cmd)
		cmd = ""
	}
	return report(stderr, cmd, err)
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp means the command printed its help: exit status 0.
var errHelp = errors.New("help requested")

// report prints err as one line on stderr and returns the exit status for it.
func report(stderr io.Writer, cmd string, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	prefix := "node: "
	if cmd != "" {
		prefix = "node " + cmd + ": "
	}
	fmt.Fprintln(stderr, prefix+oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) || errors.Is(err, duroxide.ErrInvalidInput) {
		return exitUsage
	}
	return exitFailure
}

// oneLine folds a multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// flagSet is a subcommand's flags.
type flagSet struct {
	*flag.FlagSet
	usageLine string
	stdout    io.Writer
}

// newFlagSet returns the flags of a subcommand; usageLine is the first line of its
// -h output. Parse errors are returned, not printed.
func newFlagSet(name, usageLine string, stdout io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // called on every parse error; parse prints help only for -h
	return &flagSet{FlagSet: fs, usageLine: usageLine, stdout: stdout}
}

// parse parses flags that may come before, between or after the positional
// arguments (flag.Parse alone stops at the first positional one), and returns the
// positional arguments. Everything after "--" is positional. For -h it prints the
// command's help and returns errHelp.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(fs.stdout, "Usage: node %s\n", fs.usageLine)
				fs.SetOutput(fs.stdout)
				fs.PrintDefaults()
				fs.SetOutput(io.Discard)
				return nil, errHelp
			}
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
				if _, nerr := strconv.ParseFloat(name, 64); nerr == nil {
					return nil, usageErrorf("%v (put -- before a negative number argument)", err)
				}
			}
			return nil, usageErrorf("%v", err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isSet reports whether the named flag was given on the command line.
func (fs *flagSet) isSet(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
