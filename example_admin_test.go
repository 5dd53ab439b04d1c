package duroxide_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/duroxide-go/duroxide"
)

// An orchestration keeps a counter in its instance's key-value store across
// continue-as-new; a client reads it, then the management API lists, inspects,
// prunes and deletes the instance.
func ExampleOrchestrationContext_SetValue() {
	reg := duroxide.NewRegistry()
	err := duroxide.RegisterOrchestration(reg, "Counter",
		func(ctx *duroxide.OrchestrationContext, rounds int) (string, error) {
			n := 0
			if v, ok := ctx.GetValue("count"); ok {
				n, _ = strconv.Atoi(v)
			}
			ctx.SetValue("count", strconv.Itoa(n+1))
			if rounds > 1 {
				return "", ctx.ContinueAsNew(rounds - 1)
			}
			return "done", nil
		})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "duroxide-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	rt, err := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	c := rt.Client()
	if err := c.StartOrchestration(ctx, "counter-1", "Counter", 3); err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.WaitForOrchestration(wctx, "counter-1"); err != nil {
		log.Fatal(err)
	}

	count, _, _ := c.GetValue(ctx, "counter-1", "count")
	fmt.Println("count:", count)

	page, _ := c.ListInstances(ctx, duroxide.ListOptions{Status: "Completed"})
	fmt.Println("completed:", page.InstanceIDs)
	info, _ := c.InstanceInfo(ctx, "counter-1")
	fmt.Println("executions:", info.CurrentExecutionID, info.ExecutionCount)

	pruned, _ := c.PruneExecutions(ctx, "counter-1", duroxide.PruneOptions{KeepLast: 1})
	fmt.Println("pruned executions:", pruned.ExecutionsDeleted)

	deleted, _ := c.DeleteInstance(ctx, "counter-1", false)
	fmt.Println("deleted instances:", deleted.InstancesDeleted)
	m, _ := c.SystemMetrics(ctx)
	fmt.Println("instances left:", m.TotalInstances)
	// Output:
	// count: 3
	// completed: [counter-1]
	// executions: 3 3
	// pruned executions: 2
	// deleted instances: 1
	// instances left: 0
}
