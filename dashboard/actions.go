package dashboard

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/duroxide-go/duroxide"
)

// guard refuses a POST that is cross-origin (Origin / Sec-Fetch-Site) or lacks the
// handler's form token, with a 403 page saying why.
func (h *handler) guard(next http.HandlerFunc) http.Handler {
	return h.origin.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
		if err := r.ParseForm(); err != nil {
			h.fail(w, http.StatusBadRequest, "Bad request", "the form could not be read: "+err.Error())
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(h.token)) != 1 {
			h.fail(w, http.StatusForbidden, "Forbidden", "The form token is missing or stale (the node restarted since the page was loaded): reload the page and try again.")
			return
		}
		next(w, r)
	}))
}

// existing checks that the form's instance exists, rendering the refusal if not.
func (h *handler) existing(ctx context.Context, w http.ResponseWriter, id string) (*duroxide.Status, bool) {
	st, err := h.c.GetStatus(ctx, id)
	if err != nil {
		h.failRead(w, "instance "+strconv.Quote(id), err)
		return nil, false
	}
	if st.State == duroxide.StateNotFound {
		h.fail(w, http.StatusNotFound, "Instance not found", "No instance has the id "+strconv.Quote(id)+" (it never existed, or it was deleted): nothing was sent.")
		return nil, false
	}
	return st, true
}

func (h *handler) back(w http.ResponseWriter, r *http.Request, id string) {
	seeOther(w, "instance?id="+url.QueryEscape(id))
}

// seeOther redirects to a path relative to the request's (http.Redirect would make
// it absolute, losing the prefix a service mounts the handler under).
func seeOther(w http.ResponseWriter, rel string) {
	w.Header().Set("Location", rel)
	w.WriteHeader(http.StatusSeeOther)
}

func (h *handler) raise(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	id, name, data := r.PostFormValue("id"), strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("data"))
	if name == "" {
		h.fail(w, http.StatusBadRequest, "Event not raised", "The event name is empty.")
		return
	}
	if data == "" {
		data = "null"
	}
	if !json.Valid([]byte(data)) {
		h.fail(w, http.StatusBadRequest, "Event not raised", "The event data is not JSON: "+strconv.Quote(truncate(data, 200))+". Strings need double quotes, e.g. \"approved\".")
		return
	}
	st, ok := h.existing(ctx, w, id)
	if !ok {
		return
	}
	if st.State.IsTerminal() {
		h.fail(w, http.StatusConflict, "Event not raised", "Instance "+strconv.Quote(id)+" is "+string(st.State)+": it takes no more events.")
		return
	}
	if err := h.c.RaiseEvent(ctx, id, name, json.RawMessage(data)); err != nil {
		h.actionFailed(w, "Event not raised", err)
		return
	}
	h.back(w, r, id)
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	id := r.PostFormValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = "cancelled from the dashboard"
	}
	st, ok := h.existing(ctx, w, id)
	if !ok {
		return
	}
	if st.State.IsTerminal() {
		h.fail(w, http.StatusConflict, "Not cancelled", "Instance "+strconv.Quote(id)+" is already "+string(st.State)+".")
		return
	}
	if err := h.c.CancelInstance(ctx, id, reason); err != nil {
		h.actionFailed(w, "Not cancelled", err)
		return
	}
	h.back(w, r, id)
}

type deleteData struct {
	Status *duroxide.Status
	Tree   int
}

func (h *handler) confirmDelete(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	st, ok := h.existing(ctx, w, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	d := deleteData{Status: st, Tree: 1}
	if t, err := h.c.InstanceTree(ctx, st.InstanceID); err == nil {
		d.Tree = t.Size()
	}
	h.render(w, http.StatusOK, "delete", page{Title: "Delete " + st.InstanceID, Nav: "instances", Data: d})
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	id := r.PostFormValue("id")
	if r.PostFormValue("confirm") != "yes" {
		h.fail(w, http.StatusBadRequest, "Not deleted", "A delete needs the confirmation step: open the instance's delete page and confirm there.")
		return
	}
	if _, ok := h.existing(ctx, w, id); !ok {
		return
	}
	if _, err := h.c.DeleteInstance(ctx, id, r.PostFormValue("force") == "yes"); err != nil {
		h.actionFailed(w, "Not deleted", err)
		return
	}
	seeOther(w, "instances?deleted="+url.QueryEscape(id))
}

// actionFailed renders a refused or failed action: 409 for a refusal of the
// instance's state, 404 for a vanished instance, 400 for bad input, else 503.
func (h *handler) actionFailed(w http.ResponseWriter, heading string, err error) {
	switch {
	case errors.Is(err, duroxide.ErrInstanceStillRunning), errors.Is(err, duroxide.ErrCannotDeleteSubOrchestration):
		h.fail(w, http.StatusConflict, heading, err.Error())
	case errors.Is(err, duroxide.ErrInstanceNotFound):
		h.fail(w, http.StatusNotFound, heading, err.Error())
	case errors.Is(err, duroxide.ErrInvalidInput), errors.Is(err, duroxide.ErrPayloadTooLarge):
		h.fail(w, http.StatusBadRequest, heading, err.Error())
	default:
		h.log.Warn("action failed", "action", heading, "err", err)
		h.fail(w, http.StatusServiceUnavailable, heading, err.Error())
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
