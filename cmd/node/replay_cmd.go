package main

import (
	"context"
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
// printing one line per file. It fails if any file is not a history or does not
// replay.
func runReplay(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	fs := newFlagSet("replay", "replay FILE... (a file written by \"node history ID --json\"; - reads standard input)", out)
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
	for _, name := range files {
		line, ok := replayFile(ctx, reg, name, stdin)
		fmt.Fprintln(out, line)
		if !ok {
			failed++
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d histories %w", failed, len(files), errReplayFailed)
	}
	return nil
}

// replayFile reads, decodes and replays one history file and returns its report
// line: "FILE: ok ...", "FILE: nondeterministic at event N: ..." or "FILE: error:
// ...", and whether it replayed.
func replayFile(ctx context.Context, reg *duroxide.Registry, name string, stdin io.Reader) (string, bool) {
	data, err := readHistoryFile(name, stdin)
	if err != nil {
		return fmt.Sprintf("%s: error: %s", name, oneLine(err.Error())), false
	}
	return replayData(ctx, reg, name, data)
}

// replayData decodes and replays one history and returns its report line and
// whether it replayed.
func replayData(ctx context.Context, reg *duroxide.Registry, name string, data []byte) (string, bool) {
	events, err := history.ParseEvents(data)
	if err != nil {
		return fmt.Sprintf("%s: error: not a history file: %s", name, oneLine(err.Error())), false
	}
	err = duroxide.ReplayHistory(ctx, reg, events)
	var nd *duroxide.NondeterminismError
	switch {
	case err == nil:
		execs := map[uint64]bool{}
		for _, ev := range events {
			execs[ev.ExecutionID] = true
		}
		return fmt.Sprintf("%s: ok (instance %q, %s %s, %d events in %d executions)", name, events[0].InstanceID,
			events[0].Name, events[0].Version, len(events), len(execs)), true
	case errors.As(err, &nd):
		return fmt.Sprintf("%s: nondeterministic at event %d: history holds %s, but the code asked for %s (instance %q, execution %d)",
			name, nd.EventID, oneLine(nd.History), oneLine(nd.Code), nd.Instance, nd.Execution), false
	default:
		return fmt.Sprintf("%s: error: %s", name, oneLine(err.Error())), false
	}
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
