package duroxide

import (
	"reflect"
	"strings"
	"testing"

	"github.com/duroxide-go/duroxide/store"
)

// Option types are opaque: a caller cannot reach the engine's history events or work
// items through them, so an option can set only what its constructor offers.
func TestOptionTypesAreOpaque(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeOf(ActivityOption{}), reflect.TypeOf(StartOption{}),
		reflect.TypeOf(SubOrchestrationOption{}), reflect.TypeOf(ReplayOption{})} {
		if typ.Kind() != reflect.Struct {
			t.Errorf("%s is a %s, want an opaque struct", typ, typ.Kind())
			continue
		}
		for i := 0; i < typ.NumField(); i++ {
			if f := typ.Field(i); f.IsExported() {
				t.Errorf("%s exports field %s", typ, f.Name)
			}
		}
	}
}

// Options holds no test-only knobs and no type of the store implementation: those
// travel through internal/testknobs.
func TestOptionsHoldNoTestKnobs(t *testing.T) {
	typ := reflect.TypeOf(Options{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Name == "StoreHooks" || f.Name == "SharedPartitions" {
			t.Errorf("Options.%s is a test knob", f.Name)
		}
		if strings.HasSuffix(f.Type.PkgPath(), "/jetstream") {
			t.Errorf("Options.%s has the store's type %s", f.Name, f.Type)
		}
	}
}

// The management errors are declared once, by the store; the root's names are the
// same values, so errors.Is matches a store error without a mapping shim.
func TestManagementErrorsAreTheStores(t *testing.T) {
	for _, c := range []struct {
		name        string
		root, lower error
	}{
		{"ErrInstanceNotFound", ErrInstanceNotFound, store.ErrNotFound},
		{"ErrExecutionNotFound", ErrExecutionNotFound, store.ErrExecutionNotFound},
		{"ErrInstanceStillRunning", ErrInstanceStillRunning, store.ErrInstanceStillRunning},
		{"ErrCannotDeleteSubOrchestration", ErrCannotDeleteSubOrchestration, store.ErrCannotDeleteSubOrchestration},
		{"ErrViewsUnavailable", ErrViewsUnavailable, store.ErrViewsUnavailable},
	} {
		if c.root != c.lower {
			t.Errorf("%s is declared twice: %v vs the store's %v", c.name, c.root, c.lower)
		}
	}
}

// The management results the root shares with the store are one type each (aliases),
// not copies converted field by field.
func TestManagementTypesAreTheStores(t *testing.T) {
	for _, c := range []struct{ root, lower any }{
		{InstanceInfo{}, store.InstanceInfo{}},
		{ExecutionInfo{}, store.ExecutionInfo{}},
		{SystemMetrics{}, store.SystemMetrics{}},
		{InstanceStats{}, store.InstanceStats{}},
		{DeleteResult{}, store.DeleteResult{}},
		{PruneResult{}, store.PruneResult{}},
		{QueueDepths{}, store.QueueDepths{}},
		{InstanceTree{}, store.InstanceTree{}},
		{InstanceFilter{}, store.InstanceFilter{}},
		{PruneOptions{}, store.PruneOptions{}},
	} {
		if r, l := reflect.TypeOf(c.root), reflect.TypeOf(c.lower); r != l {
			t.Errorf("%s is declared twice: root %v, store %v", r.Name(), r, l)
		}
	}
}
