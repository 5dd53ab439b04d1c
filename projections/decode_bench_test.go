package projections

import (
	"encoding/json"
	"testing"

	"github.com/duroxide-go/duroxide/history"
	"github.com/duroxide-go/duroxide/store"
)

// BenchmarkDecodeTurn decodes a history record like BenchFanOut's last turn (five
// activity completions with their results, and the completion) as the projector
// does: go test ./projections -run '^$' -bench DecodeTurn -benchmem
func BenchmarkDecodeTurn(b *testing.B) {
	events := []history.Event{}
	for i := 1; i <= 5; i++ {
		events = append(events, history.Event{EventID: uint64(10 + i), InstanceID: "bench-1", ExecutionID: 1, Type: history.ActivityCompleted,
			SourceEventID: uint64(1 + i), Output: `{"n":1,"payload":"0123456789abcdef0123456789abcdef"}`, TimestampMs: 1700000000000})
	}
	events = append(events, history.Event{EventID: 16, InstanceID: "bench-1", ExecutionID: 1, Type: history.OrchestrationCompleted, Output: "5", TimestampMs: 1700000000001})
	data, err := json.Marshal(map[string]any{"v": 1, "exec": 1, "events": events, "consumed": []uint64{1, 2, 3, 4, 5},
		"summary": store.InstanceSummary{Instance: "bench-1", Name: "BenchFanOut", Version: "1.0.0", ExecutionID: 1, Status: "Completed", Output: "5"}})
	if err != nil {
		b.Fatal(err)
	}
	p := &Projector{}
	b.ReportAllocs()
	for b.Loop() {
		r := record{seq: 1, subject: "duroxide.hist.bench-1.1", data: data}
		p.decodeTurn(&r)
		if r.turn == nil || len(r.turn.Events) != 6 {
			b.Fatal("not decoded")
		}
	}
}
