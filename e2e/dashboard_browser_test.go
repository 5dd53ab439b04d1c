package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/dashboard"
)

// screenshots, when set, is where TestDashboardInChromium writes the README's
// screenshots of the three pages (instances.png, instance.png, system.png):
//
//	go test ./e2e -run TestDashboardInChromium -count=1 -args -dashboard-screenshots=$PWD/docs/images
var screenshots = flag.String("dashboard-screenshots", "", "write screenshots of the dashboard's pages into this `directory`")

// chromium finds Debian's chromium, failing the test (never skipping it) when it is
// missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: the dashboard's browser test needs it (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a tab's
// context, closed when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser actions with a bound.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs a browser action that returns a value, with a bound.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// reloadUntil reloads the page until the text of sel satisfies ok, for at most
// 90s, and returns the last text.
func reloadUntil(t *testing.T, ctx context.Context, sel, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		text, err := chromedp.Run(rctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && ok(strings.TrimSpace(text)) {
			return strings.TrimSpace(text)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still reads %q after 90s (last error: %v)", what, sel, text, err)
		}
		// The page may be reloading itself at the same moment (the live refresh of a
		// running instance's page and of the system page): its navigation then aborts
		// ours (net::ERR_ABORTED) or interrupts the read. Either way the next round
		// reads the page that loaded; only the content decides.
		rctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		_, _ = chromedp.Run(rctx, chromedp.Reload())
		cancel()
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if *screenshots == "" {
		return
	}
	png := get(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(*screenshots, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The dashboard in a real browser: the list shows the started instances, clicking
// one shows its history, the raise form completes a waiting Approval instance, and
// the system page shows the worker queue draining when blocked activities are let
// go.
func TestDashboardInChromium(t *testing.T) {
	ctx := browser(t)
	const blocked = 4
	gate := make(chan struct{})
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Approval", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		var data string
		if err := ctx.WaitForEvent("Approval").Get(&data); err != nil {
			return "", err
		}
		return "approved:" + data, nil
	}))
	must(t, duroxide.RegisterActivity(reg, "Blocked", func(actx *duroxide.ActivityContext, i int) (int, error) {
		select {
		case <-gate:
			return i, nil
		case <-actx.Done():
			return 0, actx.Err()
		}
	}))
	must(t, duroxide.RegisterOrchestration(reg, "FanOut", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		ctx.SetCustomStatus(fmt.Sprintf("waiting for %d activities", n))
		ctx.SetValue("batch", "nightly")
		fs := make([]*duroxide.Future, n)
		for i := range fs {
			fs[i] = ctx.ScheduleActivity("Blocked", i)
		}
		ctx.Join(fs...)
		sum := 0
		for _, f := range fs {
			v, err := duroxide.Await[int](f)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Checkout", func(ctx *duroxide.OrchestrationContext, order string) (string, error) {
		if order == "" {
			return "", errors.New("empty order")
		}
		return "shipped " + order, nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{MemoryStorage: true, Partitions: 4})
	released := false
	t.Cleanup(func() {
		if !released {
			close(gate)
		}
	})
	c := rt.Client()
	// RefreshSeconds is long so the running pages' live refresh never races the
	// test's own reloads.
	srv := httptest.NewServer(dashboard.New(rt, dashboard.Options{RefreshSeconds: 3600}))
	t.Cleanup(srv.Close)

	bg, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ids := []string{"order-1001", "order-1002", "order-1003"}
	for _, id := range ids {
		must(t, c.StartOrchestration(bg, "approval-"+id, "Approval", id))
		must(t, c.StartOrchestration(bg, "checkout-"+id, "Checkout", id))
	}
	must(t, c.StartOrchestration(bg, "checkout-empty", "Checkout", ""))
	must(t, c.StartOrchestration(bg, "fanout-1", "FanOut", blocked))
	for _, id := range []string{"checkout-order-1003", "checkout-empty"} {
		waitDone(t, c, id, 60*time.Second)
	}

	// The list shows every started instance (once its first turn is in the views).
	do(t, ctx, "open the list", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("instances")))
	reloadUntil(t, ctx, "#instances tbody", "the list", func(s string) bool {
		for _, id := range ids {
			if !strings.Contains(s, "approval-"+id) || !strings.Contains(s, "checkout-"+id) {
				return false
			}
		}
		return strings.Contains(s, "fanout-1") && strings.Contains(s, "Failed")
	})
	screenshot(t, ctx, "instances.png")

	// Clicking an instance shows its history.
	do(t, ctx, "click an instance",
		chromedp.Click(chromedp.CSS(`a[href="instance?id=approval-order-1002"]`)),
		chromedp.WaitVisible(chromedp.ID("history")))
	history := get(t, ctx, "read the history", chromedp.Text(chromedp.ID("history")))
	for _, want := range []string{"OrchestrationStarted", "ExternalSubscribed"} {
		if !strings.Contains(history, want) {
			t.Errorf("history lacks %s: %q", want, history)
		}
	}

	// The raise form completes it.
	do(t, ctx, "raise the approval",
		chromedp.SendKeys(chromedp.ID("raise-name"), "Approval"),
		chromedp.SendKeys(chromedp.ID("raise-data"), `"granted"`),
		chromedp.Click(chromedp.ID("raise-submit")),
		chromedp.WaitVisible(chromedp.ID("state")))
	reloadUntil(t, ctx, "#state", "the raised instance", func(s string) bool { return s == "Completed" })
	output := get(t, ctx, "read the output", chromedp.Text(chromedp.ID("output")))
	if strings.TrimSpace(output) != `"approved:granted"` {
		t.Errorf("output %q, want %q", output, `"approved:granted"`)
	}
	url := get(t, ctx, "where", chromedp.Location())
	if !strings.HasSuffix(url, "/instance?id=approval-order-1002") {
		t.Errorf("after the raise the browser is at %s", url)
	}

	// A running instance's page refreshes itself: it shows the instance complete
	// without the test reloading it (a dashboard refreshing every second).
	live := httptest.NewServer(dashboard.New(rt, dashboard.Options{RefreshSeconds: 1}))
	t.Cleanup(live.Close)
	do(t, ctx, "open a running instance", chromedp.Navigate(live.URL+"/instance?id=approval-order-1001"), chromedp.WaitVisible(chromedp.ID("state")))
	must(t, c.RaiseEvent(bg, "approval-order-1001", "Approval", "by api"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		// Poll waits in the page; a reload ends it with an error, and the next
		// attempt waits in the new page.
		_, err := chromedp.Run(rctx, chromedp.Poll[bool](`document.getElementById("state")?.textContent.trim() === "Completed"`))
		rcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running instance's page did not refresh itself to Completed within 60s (%v)", err)
		}
	}

	// The system page shows the blocked activities in the worker queue, then the
	// queue draining once they are let go.
	do(t, ctx, "open the system page", chromedp.Navigate(srv.URL+"/system"), chromedp.WaitVisible(chromedp.ID("worker-queue")))
	reloadUntil(t, ctx, "#worker-queue", "the blocked activities", func(s string) bool { return s == "4" })
	screenshot(t, ctx, "system.png")
	close(gate)
	released = true
	reloadUntil(t, ctx, "#worker-queue", "the drained queue", func(s string) bool { return s == "0" })
	if st := waitDone(t, c, "fanout-1", 60*time.Second); st.State != duroxide.StateCompleted {
		t.Errorf("fanout-1: %s %v", st.State, st.Err())
	}

	// The finished fan-out's page: activities with their durations, a payload open.
	do(t, ctx, "open the fan-out", chromedp.Navigate(srv.URL+"/instance?id=fanout-1"), chromedp.WaitVisible(chromedp.ID("history")))
	reloadUntil(t, ctx, "#state", "the fan-out's page", func(s string) bool { return s == "Completed" })
	if n := len(get(t, ctx, "durations", chromedp.Nodes(chromedp.CSSAll("#history .duration")))); n != blocked {
		t.Errorf("the fan-out's history shows %d durations, want %d", n, blocked)
	}
	do(t, ctx, "open a payload", chromedp.Click(chromedp.CSS("#history li:nth-child(4) details summary")))
	screenshot(t, ctx, "instance.png")
}
