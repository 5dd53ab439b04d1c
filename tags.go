package duroxide

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/duroxide-go/duroxide/jetstream"
)

// Tag limits, as in duroxide.
const (
	// MaxWorkerTags is the most tags one TagFilter may name.
	MaxWorkerTags = 5
	// MaxTagNameBytes is the longest tag name. An activity scheduled with a longer
	// tag fails its orchestration.
	MaxTagNameBytes = 256
)

type tagMode int

const (
	tagDefaultOnly tagMode = iota
	tagOnly
	tagDefaultAnd
	tagAny
	tagNone
)

// TagFilter selects which activities a runtime's workers run, by the tag they were
// scheduled with ([WithTag]). The zero value is [DefaultOnlyTags].
//
// An activity whose tag no running worker serves waits (durably) until one comes.
// Guard such calls with a timer, the starvation-safe pattern:
//
//	act := ctx.ScheduleActivity("Render", frame, duroxide.WithTag("gpu"))
//	if ctx.Select(act, ctx.ScheduleTimer(30*time.Second)) == 1 {
//		// no GPU worker in time: the activity was cancelled; fall back
//		return duroxide.Await[string](ctx.ScheduleActivity("RenderOnCPU", frame))
//	}
//	return duroxide.Await[string](act)
type TagFilter struct {
	mode tagMode
	tags []string
}

// DefaultOnlyTags runs untagged activities only (the default).
func DefaultOnlyTags() TagFilter { return TagFilter{mode: tagDefaultOnly} }

// OnlyTags runs activities with one of tags (1 to [MaxWorkerTags]) and no untagged
// ones.
func OnlyTags(tags ...string) TagFilter { return TagFilter{mode: tagOnly, tags: tags} }

// DefaultAndTags runs untagged activities and those with one of tags (1 to
// [MaxWorkerTags]).
func DefaultAndTags(tags ...string) TagFilter { return TagFilter{mode: tagDefaultAnd, tags: tags} }

// AnyTags runs every activity, whatever its tag. Untagged activities are pulled from
// the start; tagged ones from the moment their tag first appears in the work stream
// (the store looks for new tags about once a second).
func AnyTags() TagFilter { return TagFilter{mode: tagAny} }

// NoTags runs no activities: an orchestration-only node (like ActivityConcurrency -1).
func NoTags() TagFilter { return TagFilter{mode: tagNone} }

// validate checks duroxide's limits: 1 to 5 tags for OnlyTags and DefaultAndTags,
// each a non-empty UTF-8 string of at most 256 bytes without NUL bytes.
func (f TagFilter) validate() error {
	if f.mode != tagOnly && f.mode != tagDefaultAnd {
		return nil
	}
	if len(f.tags) == 0 || len(f.tags) > MaxWorkerTags {
		return fmt.Errorf("%w: WorkerTags names %d tags, it must name 1 to %d", ErrInvalidInput, len(f.tags), MaxWorkerTags)
	}
	for _, t := range f.tags {
		switch {
		case t == "":
			return fmt.Errorf("%w: WorkerTags holds an empty tag", ErrInvalidInput)
		case len(t) > MaxTagNameBytes:
			return fmt.Errorf("%w: WorkerTags tag is %d bytes, the limit is %d", ErrInvalidInput, len(t), MaxTagNameBytes)
		case !utf8.ValidString(t) || strings.ContainsRune(t, 0):
			return fmt.Errorf("%w: WorkerTags tag %q is not valid UTF-8 or holds a NUL byte", ErrInvalidInput, t)
		}
	}
	return nil
}

// workTags are the store's WorkTags for the filter (nil: no activities).
func (f TagFilter) workTags() []string {
	switch f.mode {
	case tagOnly:
		return append([]string(nil), f.tags...)
	case tagDefaultAnd:
		return append([]string{""}, f.tags...)
	case tagAny:
		return []string{jetstream.AnyWorkTag}
	case tagNone:
		return nil
	}
	return []string{""}
}
