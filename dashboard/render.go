package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/duroxide-go/duroxide"
)

//go:embed templates/*.html static/*
var assets embed.FS

// readTimeout bounds each page's reads, so an unreachable store gives a 503 page
// instead of a hung request.
const readTimeout = 5 * time.Second

var funcs = template.FuncMap{
	"statusClass": statusClass,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return fmtDuration(time.Since(t)) + " ago"
	},
	"dur": func(d time.Duration) string { return fmtDuration(d) },
	"join": func(xs []int) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ", ")
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
}

var pages = map[string]*template.Template{}

func init() {
	for _, name := range []string{"instances", "instance", "system", "delete", "error"} {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html"))
	}
}

// page is what the layout needs besides the page's own data.
type page struct {
	Title   string
	Nav     string // the active navigation entry
	Token   string
	Refresh int // seconds; 0: no live refresh
	Data    any
}

// render executes a page into a buffer first, so a template error never sends half
// a page.
func (h *handler) render(w http.ResponseWriter, code int, name string, p page) {
	p.Token = h.token
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, p); err != nil {
		h.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Code    int
	Heading string
	Message string
}

// fail renders the error page.
func (h *handler) fail(w http.ResponseWriter, code int, heading, message string) {
	h.render(w, code, "error", page{Title: heading, Data: errorData{Code: code, Heading: heading, Message: message}})
}

// failRead renders the page for a failed read: 404 for a missing instance, 400 for
// invalid input, else 503 (the store did not answer).
func (h *handler) failRead(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, duroxide.ErrInstanceNotFound), errors.Is(err, duroxide.ErrExecutionNotFound):
		h.fail(w, http.StatusNotFound, "Not found", what+": "+err.Error())
	case errors.Is(err, duroxide.ErrInvalidInput):
		h.fail(w, http.StatusBadRequest, "Bad request", what+": "+err.Error())
	default:
		h.log.Warn("read failed", "what", what, "err", err)
		h.fail(w, http.StatusServiceUnavailable, "Store unavailable", what+": "+err.Error())
	}
}

func statusClass(s string) string {
	switch s {
	case "Running":
		return "running"
	case "Completed":
		return "completed"
	case "Failed":
		return "failed"
	case "Pending":
		return "pending"
	case "ContinuedAsNew":
		return "can"
	}
	return "unknown"
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
