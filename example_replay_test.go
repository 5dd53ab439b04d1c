package duroxide_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/history"
)

// recordedCheckout is the history of one Checkout instance as
// "node history checkout-1 --json" writes it: version 1.0.0 reserved, then charged.
const recordedCheckout = `[
 {"event_id":1,"instance_id":"checkout-1","execution_id":1,"timestamp_ms":1765000000000,"type":"OrchestrationStarted","name":"Checkout","version":"1.0.0","input":"42"},
 {"event_id":2,"instance_id":"checkout-1","execution_id":1,"timestamp_ms":1765000000001,"type":"ActivityScheduled","name":"Reserve","input":"42"},
 {"event_id":3,"source_event_id":2,"instance_id":"checkout-1","execution_id":1,"timestamp_ms":1765000000050,"type":"ActivityCompleted","output":"\"r-42\""},
 {"event_id":4,"instance_id":"checkout-1","execution_id":1,"timestamp_ms":1765000000050,"type":"ActivityScheduled","name":"Charge","input":"42"},
 {"event_id":5,"source_event_id":4,"instance_id":"checkout-1","execution_id":1,"timestamp_ms":1765000000090,"type":"ActivityCompleted","output":"\"c-42\""},
 {"event_id":6,"instance_id":"checkout-1","execution_id":1,"timestamp_ms":1765000000090,"type":"OrchestrationCompleted","output":"\"r-42/c-42\""}
]`

// checkoutRegistry registers Checkout, scheduling its two activities in the given
// order. Replay never runs activities, so they need not be registered.
func checkoutRegistry(first, second string) *duroxide.Registry {
	reg := duroxide.NewRegistry()
	err := duroxide.RegisterOrchestration(reg, "Checkout",
		func(ctx *duroxide.OrchestrationContext, order int) (string, error) {
			ctx.Logger().Info("checkout", "order", order) // logging is not an action: adding it is compatible
			a, err := duroxide.Await[string](ctx.ScheduleActivity(first, order))
			if err != nil {
				return "", err
			}
			b, err := duroxide.Await[string](ctx.ScheduleActivity(second, order))
			if err != nil {
				return "", err
			}
			if first == "Charge" {
				a, b = b, a
			}
			return a + "/" + b, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	return reg
}

// Replaying a recorded history against the code about to be deployed: the same
// steps replay; charging before reserving does not, and the error names the event
// and both sides.
func ExampleReplayHistory() {
	events, err := history.ParseEvents([]byte(recordedCheckout))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	err = duroxide.ReplayHistory(ctx, checkoutRegistry("Reserve", "Charge"), events)
	fmt.Println("same steps:", err)

	err = duroxide.ReplayHistory(ctx, checkoutRegistry("Charge", "Reserve"), events)
	var nd *duroxide.NondeterminismError
	if errors.As(err, &nd) {
		fmt.Println("swapped steps: event", nd.EventID)
		fmt.Println("  history:", nd.History)
		fmt.Println("  code:   ", nd.Code)
	}
	fmt.Println("  errors.Is(err, ErrNondeterminism):", errors.Is(err, duroxide.ErrNondeterminism))
	// Output:
	// same steps: <nil>
	// swapped steps: event 2
	//   history: ActivityScheduled{name="Reserve" input=42}
	//   code:    ActivityScheduled{name="Charge" input=42}
	//   errors.Is(err, ErrNondeterminism): true
}
