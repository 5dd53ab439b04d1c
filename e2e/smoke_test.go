package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

func TestSmokeHelloWorld(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterActivity(reg, "Hello", func(ctx *duroxide.ActivityContext, name string) (string, error) {
		return fmt.Sprintf("Hello, %s!", name), nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "HelloWorld", func(ctx *duroxide.OrchestrationContext, name string) (string, error) {
		return duroxide.Await[string](ctx.ScheduleActivity("Hello", name))
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	must(t, c.StartOrchestration(context.Background(), "hello-1", "HelloWorld", "World"))
	st := waitDone(t, c, "hello-1", 10*time.Second)
	var out string
	must(t, st.Decode(&out))
	if out != "Hello, World!" {
		t.Fatalf("output %q", out)
	}
}
