package jetstream_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/duroxide-go/duroxide/jetstream"
	"github.com/duroxide-go/duroxide/projections"
	"github.com/duroxide-go/duroxide/store"
	"github.com/duroxide-go/duroxide/store/storetest"
)

// TestConformance runs the store conformance suite against the JetStream store, with
// file storage and with memory storage. Each test gets its own namespace (its own
// streams, consumers and buckets) on one embedded server per storage kind.
func TestConformance(t *testing.T) {
	for _, memory := range []bool{false, true} {
		name := "file"
		if memory {
			name = "memory"
		}
		t.Run(name, func(t *testing.T) {
			storetest.RunAll(t, conformanceFactory{jetstream.NewConformanceFactory(t, memory)})
		})
	}
}

type conformanceFactory struct {
	*jetstream.ConformanceFactory
}

// Management starts a projector for the store's namespace (what every runtime
// runs) and returns the store's management side, the one the Client uses.
func (f conformanceFactory) Management(t *testing.T, p store.Provider) storetest.Management {
	t.Helper()
	st := p.(*jetstream.Store)
	proj, err := projections.Start(context.Background(), st.JetStream(), projections.Config{
		Namespace:       st.Namespace(),
		HistoryStream:   st.HistoryStream(),
		HistorySubjects: st.HistorySubjects(),
		Storage:         st.StorageType(),
		Replicas:        st.Replicas(),
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proj.Stop)
	return projections.NewAdmin(st)
}
