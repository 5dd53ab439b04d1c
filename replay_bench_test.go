package duroxide_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// BenchmarkReplayHistory replays a completed history of n sequential activities (2n+2
// events) and reports the events replayed per second.
func BenchmarkReplayHistory(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("activities=%d", n), func(b *testing.B) {
			reg := duroxide.NewRegistry()
			err := duroxide.RegisterOrchestration(reg, "Seq", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
				sum := 0
				for i := 0; i < n; i++ {
					v, err := duroxide.Await[int](ctx.ScheduleActivity("Echo", i))
					if err != nil {
						return 0, err
					}
					sum += v
				}
				return sum, nil
			})
			if err != nil {
				b.Fatal(err)
			}
			ev := func(typ history.EventType) history.Event {
				return history.Event{InstanceID: "seq-1", ExecutionID: 1, Type: typ}
			}
			started := ev(history.OrchestrationStarted)
			started.Name, started.Version, started.Input = "Seq", duroxide.DefaultVersion, strconv.Itoa(n)
			events := []history.Event{started}
			sum := 0
			for i := 0; i < n; i++ {
				s := ev(history.ActivityScheduled)
				s.Name, s.Input = "Echo", strconv.Itoa(i)
				c := ev(history.ActivityCompleted)
				c.Output = strconv.Itoa(i)
				events = append(events, s, c)
				sum += i
			}
			done := ev(history.OrchestrationCompleted)
			done.Output = strconv.Itoa(sum)
			events = append(events, done)
			for i := range events {
				events[i].EventID = uint64(i + 1)
				if events[i].Type == history.ActivityCompleted {
					events[i].SourceEventID = uint64(i)
				}
			}
			ctx := context.Background()
			if err := duroxide.ReplayHistory(ctx, reg, events); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := duroxide.ReplayHistory(ctx, reg, events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
