package duroxide_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/duroxide-go/duroxide"
)

// Typed handles: DefineActivity and DefineOrchestration register functions and return
// handles that carry their input and output types. greet.Schedule(ctx, "Ada") takes
// a string and its future's Await returns a string, so if Greet's input type changes
// (say to a struct), greet.Schedule(ctx, "Ada") no longer compiles: the compiler finds
// every caller, where the by-name ScheduleActivity("Greet", "Ada") would fail only at
// run time. The handles' futures embed *Future, so they go to Join and Select as
// f.Future. A failed instance's Result is an error that errors.Is matches against
// ErrInstanceFailed and the kind of failure.
func Example_typedHandles() {
	reg := duroxide.NewRegistry()
	greet, err := duroxide.DefineActivity(reg, "Greet",
		func(_ *duroxide.ActivityContext, name string) (string, error) { return "Hello, " + name + "!", nil })
	if err != nil {
		log.Fatal(err)
	}
	shout, err := duroxide.DefineOrchestration(reg, "Shout",
		func(_ *duroxide.OrchestrationContext, s string) (string, error) { return strings.ToUpper(s), nil })
	if err != nil {
		log.Fatal(err)
	}
	hello, err := duroxide.DefineOrchestration(reg, "Hello",
		func(ctx *duroxide.OrchestrationContext, names []string) (string, error) {
			if len(names) == 0 {
				return "", errors.New("nobody to greet")
			}
			var fs []duroxide.TypedFuture[string]
			var all []*duroxide.Future
			for _, n := range names {
				f := greet.Schedule(ctx, n) // a TypedFuture[string]
				fs = append(fs, f)
				all = append(all, f.Future)
			}
			ctx.Join(all...)
			var out []string
			for _, f := range fs {
				s, err := f.Await() // a string
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			return shout.Schedule(ctx, strings.Join(out, " ")).Await() // a sub-orchestration
		})
	if err != nil {
		log.Fatal(err)
	}
	// Registering a name twice is an error the handle's constructor returns.
	if _, err := duroxide.DefineActivity(reg, "Greet",
		func(_ *duroxide.ActivityContext, n int) (int, error) { return n, nil }); errors.Is(err, duroxide.ErrInvalidInput) {
		fmt.Println("duplicate:", err)
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
	client := rt.Client()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if err := hello.Start(wctx, client, "hello-typed", []string{"Ada", "Alan"}); err != nil {
		log.Fatal(err)
	}
	greeting, err := hello.Result(wctx, client, "hello-typed") // a string
	fmt.Println(greeting, err)

	if err := hello.Start(wctx, client, "hello-nobody", nil); err != nil {
		log.Fatal(err)
	}
	_, err = hello.Result(wctx, client, "hello-nobody")
	fmt.Println(errors.Is(err, duroxide.ErrInstanceFailed))
	// Output:
	// duplicate: invalid input: activity "Greet" is already registered
	// HELLO, ADA! HELLO, ALAN! <nil>
	// true
}
