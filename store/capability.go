package store

import (
	"fmt"
	"strconv"
	"strings"
)

// Semver is a MAJOR.MINOR.PATCH version of the replay engine (no pre-release or
// build suffix).
type Semver struct {
	Major, Minor, Patch uint64
}

// ParseSemver parses "MAJOR.MINOR.PATCH" (three decimal numbers).
func ParseSemver(s string) (Semver, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Semver{}, fmt.Errorf("store: version %q is not MAJOR.MINOR.PATCH", s)
	}
	var n [3]uint64
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil || p == "" || (len(p) > 1 && p[0] == '0') {
			return Semver{}, fmt.Errorf("store: version %q is not MAJOR.MINOR.PATCH", s)
		}
		n[i] = v
	}
	return Semver{n[0], n[1], n[2]}, nil
}

// MustParseSemver is ParseSemver for constants; it panics on bad input.
func MustParseSemver(s string) Semver {
	v, err := ParseSemver(s)
	if err != nil {
		panic(err)
	}
	return v
}

func (v Semver) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than o.
func (v Semver) Compare(o Semver) int {
	for _, d := range [3][2]uint64{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if d[0] < d[1] {
			return -1
		}
		if d[0] > d[1] {
			return 1
		}
	}
	return 0
}

// VersionRange is an inclusive range of engine versions (duroxide's SemverRange):
// Min ≤ v ≤ Max.
type VersionRange struct {
	Min, Max Semver
}

// Contains reports whether Min ≤ v ≤ Max.
func (r VersionRange) Contains(v Semver) bool {
	return r.Min.Compare(v) <= 0 && v.Compare(r.Max) <= 0
}

func (r VersionRange) String() string { return "[" + r.Min.String() + ", " + r.Max.String() + "]" }

// CapabilityFilter says which executions a dispatcher can replay (duroxide's
// DispatcherCapabilityFilter): those whose pinned engine version (see
// [ExecutionMetadata.PinnedEngineVersion]) lies in the supported ranges.
//
// A nil *CapabilityFilter accepts every execution. A filter with no ranges supports
// nothing: it accepts no execution at all. Otherwise only the FIRST range is used
// (duroxide's phase-1 limitation): later ranges are ignored, and an execution
// without a pinned version (created before versions were pinned, or a new instance)
// is compatible.
type CapabilityFilter struct {
	SupportedVersions []VersionRange
}

// Compatible reports whether an execution pinned at pinned ("" for none) may be
// handed to a dispatcher with filter f. A pinned version that does not parse is
// compatible with no filter (only an unfiltered fetch returns it).
func (f *CapabilityFilter) Compatible(pinned string) bool {
	if f == nil {
		return true
	}
	if len(f.SupportedVersions) == 0 {
		return false
	}
	if pinned == "" {
		return true
	}
	v, err := ParseSemver(pinned)
	if err != nil {
		return false
	}
	return f.SupportedVersions[0].Contains(v)
}
