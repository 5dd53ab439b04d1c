package jetstream

import (
	"crypto/rand"

	"github.com/oklog/ulid/v2"
)

// newID returns a new ULID: unique, and sortable by creation time.
func newID() string { return ulid.MustNew(ulid.Now(), rand.Reader).String() }
