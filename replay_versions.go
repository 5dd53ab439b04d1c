package duroxide

import (
	"fmt"

	"github.com/duroxide-go/duroxide/store"
)

// EngineVersion is the version of this module's replay engine: the duroxide release
// whose history model and replay rules it implements. Every execution is pinned to
// the EngineVersion of the node that started it (its first turn), and a node runs
// only executions pinned inside its [Options.SupportedReplayVersions].
const EngineVersion = "0.1.27"

var engineSemver = store.MustParseSemver(EngineVersion)

// replayFilter is the store filter for o.SupportedReplayVersions (default 0.0.0 to
// EngineVersion).
func (o *Options) replayFilter() (*store.CapabilityFilter, error) {
	rng := store.VersionRange{Max: engineSemver}
	if o.SupportedReplayVersions != nil {
		rng = *o.SupportedReplayVersions
		if rng.Min.Compare(rng.Max) > 0 {
			return nil, fmt.Errorf("%w: SupportedReplayVersions %s: Min is above Max", ErrInvalidInput, rng)
		}
	}
	return &store.CapabilityFilter{SupportedVersions: []store.VersionRange{rng}}, nil
}
