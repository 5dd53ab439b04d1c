package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/duroxide-go/duroxide"
)

// Two runtimes on one data directory would write the same JetStream files and lose
// what either acknowledged: the second Start is refused, naming the directory and
// the process holding it, and the directory is free again after Shutdown.
func TestSecondStartOnSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	reg := duroxide.NewRegistry()
	rt1, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: dir})
	must(t, err)

	rt2, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: dir})
	if err == nil {
		_ = rt2.Shutdown(context.Background())
		t.Fatal("a second Start on the same data directory succeeded")
	}
	if !errors.Is(err, duroxide.ErrDataDirLocked) {
		t.Fatalf("error %v does not wrap ErrDataDirLocked", err)
	}
	abs, _ := filepath.Abs(dir)
	for _, want := range []string{abs, "process " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	must(t, rt1.Shutdown(context.Background()))
	rt3, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Start after the holder shut down: %v", err)
	}
	must(t, rt3.Shutdown(context.Background()))
}
