package duroxide

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/duroxide-go/duroxide/store"
)

// DefaultVersion is the version of orchestrations registered without one.
const DefaultVersion = "1.0.0"

const reservedPrefix = "__duroxide"

// Registry holds the orchestrations and activities a runtime can run. Register
// everything before starting the runtime; a Registry is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	orchs map[string]*orchEntry
	acts  map[string]activityFunc
}

type orchEntry struct {
	versions []orchVersion // ascending
	exact    string        // version policy: "" = latest
}

type orchVersion struct {
	v  store.Semver
	s  string
	fn orchestrationFunc
}

// activityFunc is a registered activity with input and output as JSON.
type activityFunc func(ctx *ActivityContext, input string) (string, error)

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{orchs: make(map[string]*orchEntry), acts: make(map[string]activityFunc)}
}

// RegisterOrchestration registers fn as version 1.0.0 of the named orchestration.
// Input and output travel as JSON. It returns an error (wrapping [ErrInvalidInput])
// for an empty, oversized or reserved name, or a name and version registered twice.
func RegisterOrchestration[In, Out any](r *Registry, name string, fn func(*OrchestrationContext, In) (Out, error)) error {
	return RegisterOrchestrationVersion(r, name, DefaultVersion, fn)
}

// RegisterOrchestrationVersion registers fn as the given semantic version
// ("MAJOR.MINOR.PATCH") of the named orchestration. Several versions of one name can be
// registered side by side; new instances get the latest unless a version policy or an
// explicit start version says otherwise, and a running execution always replays with
// the version recorded in its history. It returns an error wrapping
// [ErrInvalidInput] for an empty, oversized or reserved name, a version that is not
// MAJOR.MINOR.PATCH, or a name and version registered twice.
func RegisterOrchestrationVersion[In, Out any](r *Registry, name, version string, fn func(*OrchestrationContext, In) (Out, error)) error {
	if err := checkRegistrationName("orchestration", name); err != nil {
		return err
	}
	v, err := store.ParseSemver(version)
	if err != nil {
		return fmt.Errorf("%w: orchestration %q: %v", ErrInvalidInput, name, err)
	}
	wrapped := func(ctx *OrchestrationContext, input string) (string, error) {
		var in In
		if err := decodePayload(input, &in, "orchestration input"); err != nil {
			return "", err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return "", err
		}
		return encodePayload(out, "orchestration output", ctx.e.limits.maxPayload)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.orchs[name]
	if e == nil {
		e = &orchEntry{}
		r.orchs[name] = e
	}
	for _, ov := range e.versions {
		if ov.v == v {
			return fmt.Errorf("%w: orchestration %q version %s is already registered", ErrInvalidInput, name, version)
		}
	}
	e.versions = append(e.versions, orchVersion{v: v, s: v.String(), fn: wrapped})
	slices.SortFunc(e.versions, func(a, b orchVersion) int { return a.v.Compare(b.v) })
	return nil
}

// RegisterActivity registers fn as the named activity. Input and output travel as
// JSON. Activities run at least once: make them idempotent. It returns an error
// wrapping [ErrInvalidInput] for an empty, oversized or reserved name, or a name
// registered twice.
func RegisterActivity[In, Out any](r *Registry, name string, fn func(*ActivityContext, In) (Out, error)) error {
	if err := checkRegistrationName("activity", name); err != nil {
		return err
	}
	wrapped := func(ctx *ActivityContext, input string) (string, error) {
		var in In
		if err := decodePayload(input, &in, "activity input"); err != nil {
			return "", err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return "", fmt.Errorf("%w: activity %q output cannot be encoded as JSON: %v", ErrInvalidInput, name, err)
		}
		return string(b), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.acts[name]; dup {
		return fmt.Errorf("%w: activity %q is already registered", ErrInvalidInput, name)
	}
	r.acts[name] = wrapped
	return nil
}

// SetVersionPolicy pins new instances of name to an exact version; "" restores the
// default policy (latest registered version). It returns an error wrapping
// [ErrInvalidInput] for an unregistered name or a version that is not
// MAJOR.MINOR.PATCH.
func (r *Registry) SetVersionPolicy(name, exactVersion string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.orchs[name]
	if e == nil {
		return fmt.Errorf("%w: orchestration %q is not registered", ErrInvalidInput, name)
	}
	if exactVersion != "" {
		v, err := store.ParseSemver(exactVersion)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidInput, err)
		}
		exactVersion = v.String()
	}
	e.exact = exactVersion
	return nil
}

// resolveOrchestration finds the function for name at version, or at the policy's
// version when version is "". It returns the version chosen.
func (r *Registry) resolveOrchestration(name, version string) (orchestrationFunc, string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.orchs[name]
	if e == nil || len(e.versions) == 0 {
		return nil, "", false
	}
	want := version
	if want == "" {
		want = e.exact
	}
	if want == "" {
		last := e.versions[len(e.versions)-1]
		return last.fn, last.s, true
	}
	v, err := store.ParseSemver(want)
	if err != nil {
		return nil, "", false
	}
	for _, ov := range e.versions {
		if ov.v == v {
			return ov.fn, ov.s, true
		}
	}
	return nil, "", false
}

func (r *Registry) activity(name string) (activityFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.acts[name]
	return fn, ok
}

func checkRegistrationName(kind, name string) error {
	if err := validateName(kind, name); err != nil {
		return err
	}
	if strings.HasPrefix(name, reservedPrefix) {
		return fmt.Errorf("%w: %s name %q uses the reserved prefix %q", ErrInvalidInput, kind, name, reservedPrefix)
	}
	return nil
}

// capabilities lists the registered orchestrations as sorted name@version strings.
func (r *Registry) capabilities() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for name, e := range r.orchs {
		for _, v := range e.versions {
			out = append(out, name+"@"+v.s)
		}
	}
	slices.Sort(out)
	return out
}
