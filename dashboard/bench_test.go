package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// BenchmarkInstancePage renders the page of a finished instance of 100 activities
// (203 history events), every read included.
func BenchmarkInstancePage(b *testing.B) {
	f := start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must(b, f.c.StartOrchestration(ctx, "many", "Many", 100))
	f.wait(b, "many")
	benchPage(b, f, "/instance?id=many")
}

// BenchmarkInstancesPage renders a listing page of 25 instances (one view read per
// row) with the counts.
func BenchmarkInstancesPage(b *testing.B) {
	f := start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 25 {
		id := fmt.Sprintf("m%02d", i)
		must(b, f.c.StartOrchestration(ctx, id, "Many", 1))
		f.wait(b, id)
	}
	benchPage(b, f, "/instances")
}

func benchPage(b *testing.B, f *fixture, path string) {
	b.Helper()
	if code, body := f.get(b, path); code != http.StatusOK {
		b.Fatalf("%s: %d %.500s", path, code, body)
	}
	b.ResetTimer()
	for b.Loop() {
		if code, _ := f.get(b, path); code != http.StatusOK {
			b.Fatalf("%s: %d", path, code)
		}
	}
}
