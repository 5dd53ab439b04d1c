package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duroxide-go/duroxide"
)

const (
	defaultPageSize = 25
	maxPageSize     = 200
	// prefixScanPages bounds an id-prefix search: the listing has no prefix index,
	// so the search reads pages of the listing and keeps the matching ids.
	prefixScanPages = 50
	prefixScanSize  = 200
	rowReaders      = 8 // concurrent view reads of a listing's rows
)

type instanceRow struct {
	ID, Name, Version, Status string
	Created, Updated          time.Time
	Executions                uint64
}

type statusCount struct {
	Status string
	Count  int64
}

type instancesData struct {
	Status, Name, Prefix, Cursor string
	Limit                        int
	Statuses                     []string
	Counts                       []statusCount
	Total                        int64
	Rows                         []instanceRow
	NextURL, FirstURL            string
	Scanned                      int // ids read by a prefix search
	Truncated                    bool
}

func (h *handler) instances(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	q := r.URL.Query()
	d := instancesData{Status: q.Get("status"), Name: strings.TrimSpace(q.Get("name")), Prefix: q.Get("prefix"),
		Cursor: q.Get("cursor"), Limit: defaultPageSize,
		Statuses: []string{"Running", "Completed", "Failed", "ContinuedAsNew", "Pending"}}
	if d.Status != "" && !duroxide.ValidStatus(d.Status) {
		h.fail(w, http.StatusBadRequest, "Bad request", "unknown status filter "+strconv.Quote(d.Status))
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			h.fail(w, http.StatusBadRequest, "Bad request", "limit "+strconv.Quote(l)+" is not a number in 1.."+strconv.Itoa(maxPageSize))
			return
		}
		d.Limit = n
	}
	if m, err := h.c.SystemMetrics(ctx); err == nil {
		d.Total = m.TotalInstances
		d.Counts = []statusCount{{"Running", m.RunningInstances}, {"Completed", m.CompletedInstances},
			{"Failed", m.FailedInstances}, {"ContinuedAsNew", m.ContinuedAsNewInstances}}
	} else {
		h.failRead(w, "system totals", err)
		return
	}
	ids, next, err := h.list(ctx, &d)
	if err != nil {
		h.failRead(w, "instance listing", err)
		return
	}
	rows, err := h.rows(ctx, ids)
	if err != nil {
		h.failRead(w, "instance listing", err)
		return
	}
	d.Rows = rows
	base := url.Values{}
	for k, v := range map[string]string{"status": d.Status, "name": d.Name, "prefix": d.Prefix} {
		if v != "" {
			base.Set(k, v)
		}
	}
	if d.Limit != defaultPageSize {
		base.Set("limit", strconv.Itoa(d.Limit))
	}
	if d.Cursor != "" {
		d.FirstURL = "instances?" + base.Encode()
	}
	if next != "" {
		base.Set("cursor", next)
		d.NextURL = "instances?" + base.Encode()
	}
	h.render(w, http.StatusOK, "instances", page{Title: "Instances", Nav: "instances", Data: d})
}

// list reads one page of ids, or with a prefix, scans pages of the listing for ids
// starting with it.
func (h *handler) list(ctx context.Context, d *instancesData) ([]string, string, error) {
	opts := duroxide.ListOptions{Status: d.Status, Name: d.Name, Limit: d.Limit, Cursor: d.Cursor}
	if d.Prefix == "" {
		p, err := h.c.ListInstances(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		return p.InstanceIDs, p.Next, nil
	}
	opts.Limit = prefixScanSize
	var out []string
	for range prefixScanPages {
		p, err := h.c.ListInstances(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		d.Scanned += len(p.InstanceIDs)
		for _, id := range p.InstanceIDs {
			if strings.HasPrefix(id, d.Prefix) {
				out = append(out, id)
			}
		}
		if p.Next == "" || len(out) >= d.Limit {
			return out, p.Next, nil
		}
		opts.Cursor = p.Next
	}
	d.Truncated = true
	return out, opts.Cursor, nil
}

// rows describes the listed instances, reading their views a few at a time.
func (h *handler) rows(ctx context.Context, ids []string) ([]instanceRow, error) {
	rows := make([]*instanceRow, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, rowReaders)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rows[i], errs[i] = h.row(ctx, id)
		}()
	}
	wg.Wait()
	var out []instanceRow
	for i, r := range rows {
		if errs[i] != nil {
			return nil, fmt.Errorf("instance %q: %w", ids[i], errs[i])
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// row describes one listed instance; nil when it vanished since the listing (a
// concurrent delete).
func (h *handler) row(ctx context.Context, id string) (*instanceRow, error) {
	info, err := h.c.InstanceInfo(ctx, id)
	if err == nil {
		return &instanceRow{ID: id, Name: info.Name, Version: info.Version, Status: info.Status,
			Created: info.CreatedAt, Updated: info.UpdatedAt, Executions: info.CurrentExecutionID}, nil
	}
	if !errors.Is(err, duroxide.ErrInstanceNotFound) {
		return nil, err
	}
	st, err := h.c.GetStatus(ctx, id) // a Pending start has no view yet
	if err != nil {
		return nil, err
	}
	if st.State == duroxide.StateNotFound {
		return nil, nil
	}
	return &instanceRow{ID: id, Name: st.Name, Version: st.Version, Status: string(st.State)}, nil
}
