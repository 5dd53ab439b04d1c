package dashboard_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide"
	"github.com/duroxide-go/duroxide/dashboard"
)

// evil is what a user may put in ids, inputs, outputs, event payloads, custom
// statuses and KV values.
const evil = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`

// rawEvil are fragments that must never reach a page unescaped.
var rawEvil = []string{"<script>alert(1)", "<img src=x", `"><img`, "onerror=alert(2)>"}

// fixture is a runtime on a fresh embedded server with the dashboard on an
// httptest server.
type fixture struct {
	rt   *duroxide.Runtime
	c    *duroxide.Client
	srv  *httptest.Server
	http *http.Client
}

func start(t testing.TB) *fixture {
	t.Helper()
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Approval", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		ctx.SetCustomStatus("waiting " + in)
		ctx.SetValue("note "+in, "value "+in)
		var data string
		if err := ctx.WaitForEvent("Approval").Get(&data); err != nil {
			return "", err
		}
		return "approved:" + data + ":" + in, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Parent", func(ctx *duroxide.OrchestrationContext, in string) (string, error) {
		var out string
		err := ctx.ScheduleSubOrchestration("Approval", in, duroxide.WithInstanceID(in+"-child")).Get(&out)
		return out, err
	}))
	must(t, duroxide.RegisterActivity(reg, "Echo", func(_ *duroxide.ActivityContext, i int) (int, error) { return i, nil }))
	must(t, duroxide.RegisterOrchestration(reg, "Many", func(ctx *duroxide.OrchestrationContext, n int) (int, error) {
		fs := make([]*duroxide.Future, n)
		for i := range fs {
			fs[i] = ctx.ScheduleActivity("Echo", i)
		}
		ctx.Join(fs...)
		return n, nil
	}))
	rt, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: t.TempDir(), MemoryStorage: true, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
	})
	srv := httptest.NewServer(dashboard.New(rt, dashboard.Options{}))
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &fixture{rt: rt, c: rt.Client(), srv: srv, http: noRedirect}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := f.http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post submits a form the way the dashboard's pages do (same origin, with the
// page's token unless the form sets csrf itself).
func (f *fixture) post(t *testing.T, path string, form url.Values, origin string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// token reads the form token from an instance's delete page.
func (f *fixture) token(t *testing.T, id string) string {
	t.Helper()
	_, body := f.get(t, "/delete?id="+url.QueryEscape(id))
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form token on the page of %q: %.2000s", id, body)
	}
	return m[1]
}

func (f *fixture) startApproval(t *testing.T, id, in string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, f.c.StartOrchestration(ctx, id, "Approval", in))
	// Wait until its first turn committed (the custom status is set).
	for {
		st, err := f.c.GetStatus(ctx, id)
		must(t, err)
		if st.CustomStatus != nil {
			return
		}
		if _, err := f.c.WaitForStatusChange(ctx, id, st.CustomStatusVersion); err != nil {
			t.Fatalf("wait for %s's first turn: %v", id, err)
		}
	}
}

func (f *fixture) wait(t testing.TB, id string) *duroxide.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := f.c.WaitForOrchestration(ctx, id)
	must(t, err)
	return st
}

func checkEscaped(t *testing.T, page, body string) {
	t.Helper()
	for _, raw := range rawEvil {
		if strings.Contains(body, raw) {
			i := strings.Index(body, raw)
			t.Errorf("%s holds %q unescaped: …%s…", page, raw, body[max(0, i-200):min(len(body), i+200)])
		}
	}
}

// Every user-controlled string (instance id, input, output, event payload, custom
// status, KV key and value) reaches the pages escaped, and does reach them.
func TestPagesEscapeUserControlledStrings(t *testing.T) {
	f := start(t)
	id := "x" + evil
	f.startApproval(t, id, evil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, f.c.RaiseEvent(ctx, id, "Approval", evil))
	if st := f.wait(t, id); st.State != duroxide.StateCompleted {
		t.Fatalf("%s: %v", st.State, st.Err())
	}
	pages := []string{"/instances", "/instances?prefix=" + url.QueryEscape(id), "/instance?id=" + url.QueryEscape(id),
		"/delete?id=" + url.QueryEscape(id), "/system", "/instance?id=" + url.QueryEscape(evil)}
	for _, p := range pages {
		_, body := f.get(t, p)
		checkEscaped(t, p, body)
	}
	_, body := f.get(t, "/instance?id="+url.QueryEscape(id))
	// The strings are there, escaped: in the id, custom status, KV and history.
	esc := "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;"
	for _, want := range []string{"x" + esc, "waiting " + esc, "note " + esc, "value " + esc, "ExternalEvent"} {
		if !strings.Contains(body, want) {
			t.Errorf("the instance page lacks %q", want)
		}
	}
	// The history's payloads hold the event data and output (JSON-encoded).
	if !strings.Contains(body, "approved:") {
		t.Errorf("the instance page lacks the output")
	}
	// A raise whose data is the raw string (not JSON) is refused, and the refusal
	// page escapes it too.
	tok := f.token(t, id)
	code, body, _ := f.post(t, "/raise", url.Values{"csrf": {tok}, "id": {id}, "name": {"Approval"}, "data": {evil}}, "")
	if code != http.StatusBadRequest {
		t.Errorf("raise with non-JSON data: %d", code)
	}
	checkEscaped(t, "the refusal page", body)
}

// Unknown ids answer a 404 page on every page and action, never a 500.
func TestUnknownInstanceIsNotFound(t *testing.T) {
	f := start(t)
	for _, p := range []string{"/instance?id=nope", "/delete?id=nope", "/instance?id=" + url.QueryEscape(evil), "/no-such-page"} {
		code, body := f.get(t, p)
		if code != http.StatusNotFound || !strings.Contains(body, "<h1><span class=\"code\">404</span>") {
			t.Errorf("%s: %d %.300s", p, code, body)
		}
	}
	for _, p := range []string{"/instance?id=", "/instance", "/instances?status=Bogus", "/instances?limit=0"} {
		if code, body := f.get(t, p); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400: %.300s", p, code, body)
		}
	}
}

// The actions: a raise completes a waiting instance; a raise of non-JSON data, to a
// gone instance, without the token or from another origin is refused with a page
// saying why; cancel fails the instance; delete needs the confirmation step.
func TestActions(t *testing.T) {
	f := start(t)
	f.startApproval(t, "a1", "one")
	f.startApproval(t, "a2", "two")
	tok := f.token(t, "a1")

	refusals := []struct {
		name   string
		form   url.Values
		origin string
		code   int
		says   string
	}{
		{"not JSON", url.Values{"csrf": {tok}, "id": {"a1"}, "name": {"Approval"}, "data": {"yes"}}, "", 400, "is not JSON"},
		{"no name", url.Values{"csrf": {tok}, "id": {"a1"}, "name": {""}, "data": {`"yes"`}}, "", 400, "event name is empty"},
		{"gone", url.Values{"csrf": {tok}, "id": {"gone"}, "name": {"Approval"}, "data": {`"yes"`}}, "", 404, "No instance has the id"},
		{"no token", url.Values{"id": {"a1"}, "name": {"Approval"}, "data": {`"yes"`}}, "", 403, "form token"},
		{"bad token", url.Values{"csrf": {"00"}, "id": {"a1"}, "name": {"Approval"}, "data": {`"yes"`}}, "", 403, "form token"},
		{"cross origin", url.Values{"csrf": {tok}, "id": {"a1"}, "name": {"Approval"}, "data": {`"yes"`}}, "http://evil.example", 403, "Cross-origin"},
	}
	for _, r := range refusals {
		code, body, _ := f.post(t, "/raise", r.form, r.origin)
		if code != r.code || !strings.Contains(body, r.says) {
			t.Errorf("raise %s: %d, want %d saying %q: %.500s", r.name, code, r.code, r.says, body)
		}
	}
	code, _, loc := f.post(t, "/raise", url.Values{"csrf": {tok}, "id": {"a1"}, "name": {"Approval"}, "data": {`"yes"`}}, f.srv.URL)
	if code != http.StatusSeeOther || loc != "instance?id=a1" {
		t.Fatalf("raise: %d to %q", code, loc)
	}
	st := f.wait(t, "a1")
	var out string
	if err := st.Decode(&out); err != nil || out != "approved:yes:one" {
		t.Fatalf("a1: %v %q", err, out)
	}
	if code, body, _ := f.post(t, "/raise", url.Values{"csrf": {tok}, "id": {"a1"}, "name": {"Approval"}, "data": {`"again"`}}, ""); code != http.StatusConflict || !strings.Contains(body, "is Completed") {
		t.Errorf("raise to a completed instance: %d %.300s", code, body)
	}

	if code, _, _ := f.post(t, "/cancel", url.Values{"csrf": {tok}, "id": {"a2"}, "reason": {"enough"}}, ""); code != http.StatusSeeOther {
		t.Fatalf("cancel: %d", code)
	}
	if st := f.wait(t, "a2"); st.State != duroxide.StateFailed || !strings.Contains(st.Err().Error(), "enough") {
		t.Fatalf("a2 after cancel: %s %v", st.State, st.Err())
	}

	// Delete: the page asks first; a POST without the confirmation is refused.
	code, body := f.get(t, "/delete?id=a1")
	if code != http.StatusOK || !strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("delete page: %d %.500s", code, body)
	}
	if code, body, _ := f.post(t, "/delete", url.Values{"csrf": {tok}, "id": {"a1"}}, ""); code != http.StatusBadRequest || !strings.Contains(body, "confirmation") {
		t.Errorf("unconfirmed delete: %d %.300s", code, body)
	}
	if code, _, loc := f.post(t, "/delete", url.Values{"csrf": {tok}, "id": {"a1"}, "confirm": {"yes"}}, ""); code != http.StatusSeeOther || !strings.HasPrefix(loc, "instances") {
		t.Fatalf("delete: %d to %q", code, loc)
	}
	if code, _ := f.get(t, "/instance?id=a1"); code != http.StatusNotFound {
		t.Errorf("deleted instance's page: %d, want 404", code)
	}
	if code, body, _ := f.post(t, "/delete", url.Values{"csrf": {tok}, "id": {"a1"}, "confirm": {"yes"}}, ""); code != http.StatusNotFound || !strings.Contains(body, "No instance has the id") {
		t.Errorf("second delete: %d %.300s", code, body)
	}
}

// The instance page shows the history timeline with durations, the executions and
// the sub-orchestration tree with links; the list filters by status, name and id
// prefix and pages with the listing's cursor.
func TestInstancePagesAndListing(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must(t, f.c.StartOrchestration(ctx, "p1", "Parent", "p1"))
	// Wait for the child to be waiting.
	for {
		st, err := f.c.GetStatus(ctx, "p1-child")
		must(t, err)
		if st.CustomStatus != nil {
			break
		}
		if _, err := f.c.WaitForStatusChange(ctx, "p1-child", st.CustomStatusVersion); err != nil {
			t.Fatal(err)
		}
	}
	code, body := f.get(t, "/instance?id=p1")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, want := range []string{`data-refresh="3"`, "SubOrchestrationScheduled", `href="instance?id=p1-child"`, `class="tree"`} {
		if !strings.Contains(body, want) {
			t.Errorf("running parent's page lacks %q", want)
		}
	}
	must(t, f.c.RaiseEvent(ctx, "p1-child", "Approval", "ok"))
	f.wait(t, "p1")
	_, body = f.get(t, "/instance?id=p1")
	for _, want := range []string{"SubOrchestrationCompleted", `class="duration"`, `id="output"`, "approved:ok:p1"} {
		if !strings.Contains(body, want) {
			t.Errorf("completed parent's page lacks %q", want)
		}
	}
	if strings.Contains(body, "data-refresh") {
		t.Errorf("a completed instance's page still refreshes itself")
	}
	_, body = f.get(t, "/instance?id=p1-child")
	if !strings.Contains(body, `href="instance?id=p1"`) {
		t.Errorf("the child's page does not link its parent")
	}
	if code, _ := f.get(t, "/instance?id=p1&exec=9"); code != http.StatusNotFound {
		t.Errorf("unknown execution: %d, want 404", code)
	}

	for i := range 5 {
		f.startApproval(t, "w"+string(rune('0'+i)), "w")
	}
	_, body = f.get(t, "/instances?status=Running&limit=2")
	next := regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(body)
	if next == nil || strings.Count(body, `<td class="id">`) != 2 {
		t.Fatalf("first page of 2: %.3000s", body)
	}
	seen := strings.Count(body, `<td class="id">`)
	for next != nil {
		_, body = f.get(t, "/"+strings.ReplaceAll(next[1], "&amp;", "&"))
		seen += strings.Count(body, `<td class="id">`)
		if strings.Contains(body, "p1") {
			t.Errorf("a Running listing holds a Completed instance")
		}
		next = regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(body)
	}
	if seen != 5 {
		t.Errorf("paging the Running instances showed %d, want 5", seen)
	}
	_, body = f.get(t, "/instances?prefix=w3")
	if strings.Count(body, `<td class="id">`) != 1 || !strings.Contains(body, "instance?id=w3") {
		t.Errorf("prefix w3: %.3000s", body)
	}
	_, body = f.get(t, "/instances?name=Parent")
	if strings.Count(body, `<td class="id">`) != 1 || !strings.Contains(body, "instance?id=p1") {
		t.Errorf("name Parent: %.3000s", body)
	}
	if !strings.Contains(body, `<span class="n">5</span> Running`) {
		t.Errorf("the counts do not show 5 Running")
	}
}

// /healthz answers while the process serves; /readyz once the node owns
// partitions, and 503 with the reason after shutdown; /metrics exposes the
// runtime's gatherer.
func TestProbesAndMetrics(t *testing.T) {
	f := start(t)
	if code, body := f.get(t, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := f.get(t, "/readyz")
		if code == 200 && body == "ready\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q after 60s", code, body)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if code, _ := f.get(t, "/metrics"); code != 200 {
		t.Errorf("/metrics: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, f.rt.Shutdown(ctx))
	code, body := f.get(t, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "shut down") {
		t.Errorf("/readyz after shutdown: %d %q", code, body)
	}
}

// Mounted under a prefix with http.StripPrefix, the links and redirects stay under
// it (they are relative).
func TestMountedUnderAPrefix(t *testing.T) {
	f := start(t)
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", dashboard.New(f.rt, dashboard.Options{})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ops/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ops/instances" || !strings.Contains(string(body), `href="static/style.css"`) {
		t.Fatalf("GET /ops/ ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/ops/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// The system page lists this node with the partitions it owns and the dead letters
// with their reasons, newest first.
func TestSystemPageShowsNodesAndDeadLetters(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(f.rt.Conn())
	must(t, err)
	for _, id := range []string{"dl-1", "dl-2"} {
		_, err := js.Publish(ctx, "duroxide.inbox."+id, []byte(`{"type":`))
		must(t, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := f.get(t, "/system")
		i1, i2 := strings.Index(body, `href="instance?id=dl-1"`), strings.Index(body, `href="instance?id=dl-2"`)
		owned := regexp.MustCompile(`<td>0, 1, 2, 3</td>`).MatchString(body)
		if i1 > 0 && i2 > 0 && owned {
			if n := strings.Count(body, "is not valid JSON"); n != 2 {
				t.Errorf("the page shows %d dead-letter reasons, want 2", n)
			}
			dls, err := f.c.RecentDeadLetters(ctx, 2)
			must(t, err)
			if len(dls) != 2 || dls[0].Seq <= dls[1].Seq || dls[0].Reason == "" {
				t.Fatalf("RecentDeadLetters(2) = %+v, want two, newest first, with reasons", dls)
			}
			first := strings.Index(body, `href="instance?id=`+dls[0].Instance+`"`)
			second := strings.Index(body, `href="instance?id=`+dls[1].Instance+`"`)
			if first > second {
				t.Errorf("the page does not list the dead letters newest first")
			}
			one, err := f.c.RecentDeadLetters(ctx, 1)
			must(t, err)
			if len(one) != 1 || one[0].Seq != dls[0].Seq {
				t.Errorf("RecentDeadLetters(1) = %+v, want %+v", one, dls[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the system page lacks the dead letters or the node's partitions: %.6000s", body)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if _, err := f.c.RecentDeadLetters(ctx, 0); !errors.Is(err, duroxide.ErrInvalidInput) {
		t.Errorf("RecentDeadLetters(0): %v, want ErrInvalidInput", err)
	}
}

// A start that no node can run (its orchestration is registered nowhere) is listed
// as Pending and its page says what it waits for.
func TestPendingInstance(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, f.c.StartOrchestration(ctx, "later-1", "NotRegisteredHere", 1))
	code, body := f.get(t, "/instances?status=Pending")
	if code != 200 || !strings.Contains(body, `href="instance?id=later-1"`) || !strings.Contains(body, `badge pending">Pending<`) {
		t.Errorf("Pending listing: %d %.3000s", code, body)
	}
	code, body = f.get(t, "/instance?id=later-1")
	if code != 200 || !strings.Contains(body, "Waiting for") || !strings.Contains(body, "NotRegisteredHere") || !strings.Contains(body, "data-refresh") {
		t.Errorf("Pending instance page: %d %.3000s", code, body)
	}
}

// An activity-only node owns no partition and is ready.
func TestReadyzActivityOnlyNode(t *testing.T) {
	reg := duroxide.NewRegistry()
	rt, err := duroxide.Start(context.Background(), reg, duroxide.Options{DataDir: t.TempDir(), MemoryStorage: true, OrchestrationConcurrency: -1})
	must(t, err)
	defer rt.Shutdown(context.Background())
	srv := httptest.NewServer(dashboard.New(rt, dashboard.Options{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(rt.Partitions()) != 0 {
		t.Errorf("activity-only node: /readyz %d %q with partitions %v", resp.StatusCode, body, rt.Partitions())
	}
}
