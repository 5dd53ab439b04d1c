package dashboard

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/duroxide-go/duroxide"
)

const deadLetterRows = 25

type metricRow struct {
	Name, Type, Help string
	Value            string
}

type systemData struct {
	Totals      *duroxide.SystemMetrics
	Queues      *duroxide.QueueDepths
	Lag         *duroxide.ProjectorLag
	Nodes       []duroxide.NodeInfo
	Self        []int
	DeadLetters []duroxide.DeadLetter
	Metrics     []metricRow
	MetricsErr  string
	Ready       string // "" when ready, else the reason
}

func (h *handler) system(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var d systemData
	var err error
	if d.Queues, err = h.c.QueueDepths(ctx); err != nil {
		h.failRead(w, "queue depths", err)
		return
	}
	if d.Totals, err = h.c.SystemMetrics(ctx); err != nil {
		h.failRead(w, "system totals", err)
		return
	}
	if d.Lag, err = h.c.ProjectorLag(ctx); err != nil {
		h.failRead(w, "projector lag", err)
		return
	}
	if d.Nodes, err = h.c.Nodes(ctx); err != nil {
		h.failRead(w, "nodes", err)
		return
	}
	if d.DeadLetters, err = h.c.RecentDeadLetters(ctx, deadLetterRows); err != nil {
		h.failRead(w, "dead letters", err)
		return
	}
	d.Self = h.rt.Partitions()
	if err := h.rt.Ready(ctx); err != nil {
		d.Ready = err.Error()
	}
	d.Metrics, err = h.metricSummary()
	if err != nil {
		d.MetricsErr = err.Error()
	}
	h.render(w, http.StatusOK, "system", page{Title: "System", Nav: "system", Refresh: h.opts.RefreshSeconds, Data: d})
}

// metricSummary sums each duroxide_ metric family over its labels (counters and
// gauges: the value; histograms and summaries: the count of observations), with a
// few of the Go runtime's.
func (h *handler) metricSummary() ([]metricRow, error) {
	fams, err := h.opts.Gatherer.Gather()
	var out []metricRow
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "duroxide_") && name != "go_goroutines" && name != "go_memstats_heap_alloc_bytes" && name != "process_resident_memory_bytes" {
			continue
		}
		var sum float64
		var count uint64
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				sum += m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				count += m.GetHistogram().GetSampleCount()
				sum += m.GetHistogram().GetSampleSum()
			case dto.MetricType_SUMMARY:
				count += m.GetSummary().GetSampleCount()
				sum += m.GetSummary().GetSampleSum()
			}
		}
		row := metricRow{Name: name, Type: strings.ToLower(f.GetType().String()), Help: f.GetHelp()}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
			avg := 0.0
			if count > 0 {
				avg = sum / float64(count)
			}
			mean := strconv.FormatFloat(avg, 'f', -1, 64)
			if strings.HasSuffix(name, "_seconds") {
				mean = fmtDuration(time.Duration(avg * float64(time.Second)))
			} else if avg != math.Trunc(avg) {
				mean = strconv.FormatFloat(avg, 'f', 2, 64)
			}
			row.Value = strconv.FormatUint(count, 10) + " observations, mean " + mean
		default:
			row.Value = strconv.FormatFloat(sum, 'f', -1, 64)
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b metricRow) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}
