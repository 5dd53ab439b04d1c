package duroxide_test

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

// The body of Example is the quick start in README.md; TestReadmeQuickStart keeps
// the two the same.
func Example() {
	// Register orchestrations and activities: plain Go functions.
	reg := duroxide.NewRegistry()
	err := duroxide.RegisterActivity(reg, "Greet",
		func(ctx *duroxide.ActivityContext, name string) (string, error) {
			return "Hello, " + name + "!", nil
		})
	if err != nil {
		log.Fatal(err)
	}
	err = duroxide.RegisterOrchestration(reg, "HelloWorld",
		func(ctx *duroxide.OrchestrationContext, name string) (string, error) {
			return duroxide.Await[string](ctx.ScheduleActivity("Greet", name))
		})
	if err != nil {
		log.Fatal(err)
	}

	// Start a runtime on an embedded NATS server that keeps its data in dir.
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

	// Start an instance and wait for its result.
	client := rt.Client()
	if err := client.StartOrchestration(ctx, "hello-1", "HelloWorld", "World"); err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	status, err := client.WaitForOrchestration(wctx, "hello-1")
	if err != nil {
		log.Fatal(err)
	}
	var greeting string
	if err := status.Decode(&greeting); err != nil {
		log.Fatal(err)
	}
	fmt.Println(status.State, greeting)
	// Output: Completed Hello, World!
}

// TestReadmeQuickStart checks that the quick start in README.md is the body of
// Example, which go test compiles and runs.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "func main() {\n", "\n}\n```"
	s := string(readme)
	i := strings.Index(s, begin)
	if i < 0 {
		t.Fatalf("README.md has no quick start (%q)", begin)
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		t.Fatalf("README.md quick start does not end with %q", end)
	}
	readmeBody := readmeNormalize(s[i+len(begin) : i+j])

	fset := token.NewFileSet()
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(fset, "example_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var exampleBody string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Example" {
			body := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
			body, _, _ = strings.Cut(body, "// Output:")
			exampleBody = readmeNormalize(body)
		}
	}
	if exampleBody == "" {
		t.Fatal("example_test.go has no Example")
	}
	if readmeBody != exampleBody {
		t.Errorf("the quick start in README.md differs from the body of Example in example_test.go\nREADME:\n%s\nExample:\n%s",
			readmeBody, exampleBody)
	}
}

// readmeNormalize trims each line and drops blank ones.
func readmeNormalize(s string) string {
	var lines []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
