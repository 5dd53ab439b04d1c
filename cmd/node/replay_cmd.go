package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/internal/demo"
)

// maxHistoryFile bounds the size of a history file node replay reads.
const maxHistoryFile = 256 << 20

// errReplayFailed means at least one history did not replay: exit status 1.
var errReplayFailed = errors.New("did not replay")

// runReplay replays recorded histories (files written by "node history ID --json",
// or "-" for standard input) against the orchestrations this node binary registers,
// printing one line per file (with --json, one JSON array of results). It fails if
// any file is not a history or does not replay.
func runReplay(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	fs := newFlagSet("replay", "replay FILE... [--json] (a file written by \"node history ID --json\"; - reads standard input)", out)
	asJSON := fs.Bool("json", false, "print the results as one JSON array")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageErrorf("replay needs at least one history FILE (written by \"node history ID --json\")")
	}
	reg := duroxide.NewRegistry()
	if err := demo.Register(reg); err != nil {
		return err
	}
	failed := 0
	results := make([]replayResult, 0, len(files))
	for _, name := range files {
		r := replayFile(ctx, reg, name, stdin)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.Result != resultOK {
			failed++
		}
		if *asJSON {
			results = append(results, r)
		} else {
			fmt.Fprintln(out, r.line())
		}
	}
	if *asJSON {
		b, err := json.Marshal(results)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", b)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d histories %w", failed, len(files), errReplayFailed)
	}
	return nil
}

// The results of one file.
const (
	resultOK               = "ok"
	resultNondeterministic = "nondeterministic"
	resultError            = "error"
)

// replayResult is what node replay reports for one file.
type replayResult struct {
	File string `json:"file"`
	// Result is "ok", "nondeterministic" or "error".
	Result string `json:"result"`
	// Instance, Name and Version come from the history's first event (when it
	// decoded); Events and Executions count what it holds.
	Instance   string `json:"instance,omitempty"`
	Name       string `json:"name,omitempty"`
	Version    string `json:"version,omitempty"`
	Events     int    `json:"events,omitempty"`
	Executions int    `json:"executions,omitempty"`
	// Execution, EventID, History and Code describe a divergence.
	Execution uint64 `json:"execution,omitempty"`
	EventID   uint64 `json:"event_id,omitempty"`
	History   string `json:"history,omitempty"`
	Code      string `json:"code,omitempty"`
	// Error says what was wrong otherwise.
	Error string `json:"error,omitempty"`
}

// line is the result as node replay prints it: "FILE: ok (...)", "FILE:
// nondeterministic at event N: ..." or "FILE: error: ...".
func (r *replayResult) line() string {
	switch r.Result {
	case resultOK:
		return fmt.Sprintf("%s: ok (instance %q, %s %s, %d events in %d executions)", r.File, r.Instance,
			r.Name, r.Version, r.Events, r.Executions)
	case resultNondeterministic:
		return fmt.Sprintf("%s: nondeterministic at event %d: history holds %s, but the code asked for %s (instance %q, execution %d)",
			r.File, r.EventID, oneLine(r.History), oneLine(r.Code), r.Instance, r.Execution)
	}
	return fmt.Sprintf("%s: error: %s", r.File, oneLine(r.Error))
}

// replayFile reads, decodes and replays one history file.
func replayFile(ctx context.Context, reg *duroxide.Registry, name string, stdin io.Reader) replayResult {
	data, err := readHistoryFile(name, stdin)
	if err != nil {
		return replayResult{File: name, Result: resultError, Error: err.Error()}
	}
	return replayData(ctx, reg, name, data)
}

// replayData decodes and replays one history.
func replayData(ctx context.Context, reg *duroxide.Registry, name string, data []byte) replayResult {
	events, err := history.ParseEvents(data)
	if err != nil {
		return replayResult{File: name, Result: resultError, Error: "not a history file: " + err.Error()}
	}
	execs := map[uint64]bool{}
	for _, ev := range events {
		execs[ev.ExecutionID] = true
	}
	r := replayResult{File: name, Result: resultOK, Instance: events[0].InstanceID, Name: events[0].Name,
		Version: events[0].Version, Events: len(events), Executions: len(execs)}
	err = duroxide.ReplayHistory(ctx, reg, events)
	var nd *duroxide.NondeterminismError
	switch {
	case err == nil:
	case errors.As(err, &nd):
		r.Result, r.Execution, r.EventID, r.History, r.Code = resultNondeterministic, nd.Execution, nd.EventID, nd.History, nd.Code
	default:
		r.Result, r.Error = resultError, err.Error()
	}
	return r
}

// readHistoryFile reads a history file ("-": stdin), refusing one larger than
// maxHistoryFile.
func readHistoryFile(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxHistoryFile+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > maxHistoryFile {
		return nil, fmt.Errorf("larger than %d MiB: not a history file", maxHistoryFile>>20)
	}
	return data, nil
}
