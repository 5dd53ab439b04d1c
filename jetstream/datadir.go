package jetstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrDataDirLocked is returned by [LockDataDir] when another process (or another
// runtime in this process) holds the data directory.
var ErrDataDirLocked = errors.New("data directory is in use")

// Files a locked data directory holds next to the server's jetstream directory.
const (
	// DataDirLockFile is locked (flock, exclusive) for as long as a process serves
	// the directory, and holds that process's id.
	DataDirLockFile = "duroxide.lock"
	// DataDirNodeIDFile holds the node id of the node that serves the directory,
	// created on first use and kept across restarts.
	DataDirNodeIDFile = "duroxide-node-id"
)

// DataDirLock is an exclusive lock on an embedded server's data directory: while a
// process holds it, no other process (nor another lock in the same process) can
// serve the directory, so two servers never write the same JetStream files. The
// operating system releases it when the process dies, however it dies, so a
// killed node's restart is never blocked.
type DataDirLock struct {
	dir string
	f   *os.File
}

// LockDataDir creates dir if needed and locks it. If another process holds it the
// error wraps [ErrDataDirLocked] and names the directory and that process's id.
func LockDataDir(dir string) (*DataDirLock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %q: %w", dir, err)
	}
	path := filepath.Join(abs, DataDirLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: open lock file: %w", dir, err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errWouldBlock) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = "process " + strconv.Itoa(pid)
					if pid == os.Getpid() {
						holder += " (this process)"
					}
				}
			}
			return nil, fmt.Errorf("%w: %s is held by %s (lock file %s); stop that node first or use another data directory",
				ErrDataDirLocked, abs, holder, path)
		}
		return nil, fmt.Errorf("data directory %q: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DataDirLock{dir: abs, f: f}, nil
}

// Dir returns the locked directory (absolute).
func (l *DataDirLock) Dir() string { return l.dir }

// NodeID returns the node id kept in the directory (DataDirNodeIDFile), creating
// it on first use. Only the lock holder serves the directory, so the id names
// exactly one live node at a time, and the same one after every restart.
func (l *DataDirLock) NodeID() (string, error) {
	path := filepath.Join(l.dir, DataDirNodeIDFile)
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if validNodeID(id) {
			return id, nil
		}
		return "", fmt.Errorf("node id file %s: %q is not a node id (remove the file to make a new one)", path, id)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node id file: %w", err)
	}
	id := newID()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("node id file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("node id file: %w", err)
	}
	return id, nil
}

// validNodeID reports whether id can name a node in the nodes bucket.
func validNodeID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !plain(id[i]) {
			return false
		}
	}
	return true
}

// Release unlocks the directory. It is safe to call more than once.
func (l *DataDirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
