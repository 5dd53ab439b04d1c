//go:build !unix

package jetstream

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// lockFile does not lock on systems without flock: the data directory is then
// protected only by the operator.
func lockFile(f *os.File) error { return nil }
