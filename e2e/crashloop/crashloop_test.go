// Package crashloop tests what survives a node process that dies while it handles a
// message: the test binary runs itself as the node (a child process), whose handler
// kills the process on every attempt.
package crashloop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// childEnv holds the data directory when the test binary runs as a node, and
// modeEnv what kills it: "activity" (an activity) or "orchestration" (an
// orchestration's turn on an event) or "start" (an orchestration's first turn).
const (
	childEnv = "DUROXIDE_CRASHLOOP_DATA_DIR"
	modeEnv  = "DUROXIDE_CRASHLOOP_MODE"
	firstEnv = "DUROXIDE_CRASHLOOP_FIRST" // "true" on the first run: start the instance
)

const (
	maxAttempts = 3
	crashCode   = 7 // the exit status of a node killed by its handler
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(childNode(dir, os.Getenv(modeEnv)))
	}
	os.Exit(m.Run())
}

// childNode runs a node on dir whose activity (mode "activity"), orchestration
// turn on the event "boom" (mode "orchestration") or first orchestration turn
// (mode "start") exits the process on every attempt, starts instance "crash" (once, raising "boom" once it runs), waits for
// it and prints its status as JSON.
func childNode(dir, mode string) int {
	ctx := context.Background()
	reg := duroxide.NewRegistry()
	if err := duroxide.RegisterActivity(reg, "Crash", func(_ *duroxide.ActivityContext, _ string) (string, error) {
		os.Exit(crashCode)
		return "", nil
	}); err != nil {
		return fail(err)
	}
	if err := duroxide.RegisterOrchestration(reg, "CrashFlow", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Crash", in))
	}); err != nil {
		return fail(err)
	}
	if err := duroxide.RegisterOrchestration(reg, "ExitOnEvent", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		if _, err := duroxide.Await[string](ctx.WaitForEvent("boom")); err != nil {
			return "", err
		}
		os.Exit(crashCode)
		return "", nil
	}); err != nil {
		return fail(err)
	}
	if err := duroxide.RegisterOrchestration(reg, "ExitOnStart", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		os.Exit(crashCode)
		return "", nil
	}); err != nil {
		return fail(err)
	}
	rt, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir, MaxAttempts: maxAttempts,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return fail(err)
	}
	c := rt.Client()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	name := map[string]string{"activity": "CrashFlow", "orchestration": "ExitOnEvent", "start": "ExitOnStart"}[mode]
	if os.Getenv(firstEnv) == "true" {
		if err := c.StartOrchestration(ctx, "crash", name, "x"); err != nil {
			return fail(err)
		}
		if mode == "orchestration" {
			if err := raiseOnceRunning(wctx, c); err != nil {
				return fail(err)
			}
		}
	}
	st, err := c.WaitForOrchestration(wctx, "crash")
	if err != nil {
		return fail(err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(st)
	_ = rt.Shutdown(ctx)
	return 0
}

// raiseOnceRunning raises "boom" once the instance's first turn committed.
func raiseOnceRunning(ctx context.Context, c *duroxide.Client) error {
	for {
		st, err := c.GetStatus(ctx, "crash")
		if err != nil {
			return err
		}
		if st.State == duroxide.StateRunning {
			return c.RaiseEvent(ctx, "crash", "boom", "now")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// An activity that kills its node on every attempt fails its instance as poison
// after MaxAttempts restarts: the attempt count survives the restarts of the node's
// embedded server (the broker's own delivery count starts again at 1).
func TestActivityThatKillsTheNodeBecomesPoisonAcrossRestarts(t *testing.T) {
	crashLoop(t, "activity")
}

// The same for an orchestration whose turn kills the node: the event's inbox
// message counts its attempts across restarts, and the instance fails as poison.
func TestOrchestrationTurnThatKillsTheNodeBecomesPoisonAcrossRestarts(t *testing.T) {
	crashLoop(t, "orchestration")
}

// And for an orchestration whose first turn kills the node: the start message is
// poison after MaxAttempts restarts.
func TestOrchestrationStartThatKillsTheNodeBecomesPoisonAcrossRestarts(t *testing.T) {
	crashLoop(t, "start")
}

// crashLoop runs the child node in mode until the instance finishes, and checks it
// failed as poison after exactly MaxAttempts crashes.
func crashLoop(t *testing.T, mode string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crashes := 0
	for run := 1; run <= maxAttempts+3; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), childEnv+"="+dir, modeEnv+"="+mode, fmt.Sprintf("%s=%t", firstEnv, run == 1))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit) && exit.ExitCode() == crashCode:
			crashes++
			continue
		case err != nil:
			t.Fatalf("node run %d: %v; stderr: %s", run, err, stderr.String())
		}
		var st duroxide.Status
		if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
			t.Fatalf("node run %d printed %q: %v", run, stdout.String(), err)
		}
		if st.State != duroxide.StateFailed || st.Failure == nil || !strings.Contains(strings.ToLower(fmt.Sprint(*st.Failure)), "poison") {
			t.Fatalf("after %d crashes the instance is %s (failure %+v), want Failed as poison", crashes, st.State, st.Failure)
		}
		if crashes != maxAttempts {
			t.Fatalf("the activity killed the node %d times before it was poison, want %d (MaxAttempts)", crashes, maxAttempts)
		}
		t.Logf("poison after %d crashes: %+v", crashes, *st.Failure)
		return
	}
	t.Fatalf("the node still crashes after %d runs (MaxAttempts %d): the attempt count restarts with the node", crashes, maxAttempts)
}
