package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duroxide-go/duroxide"
)

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

type kvRequest struct {
	OpID int    `json:"op_id"`
	Text string `json:"text"`
}

// Sample 32: KV request/response.
func TestKVRequestResponse(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "KVServer", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		ctx.SetValue("status", "serving")
		for i := 0; i < 3; i++ {
			req, err := duroxide.Await[kvRequest](ctx.WaitForEvent("request"))
			if err != nil {
				return "", err
			}
			ctx.SetValue(fmt.Sprintf("response:%d", req.OpID), reverse(req.Text))
		}
		ctx.SetValue("status", "shutdown")
		return "served 3 requests", nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	must(t, c.StartOrchestration(ctx, "kv-server", "KVServer", nil))
	if v, err := c.WaitForValue(ctx, "kv-server", "status"); err != nil || v != "serving" {
		t.Fatalf("status = %q, %v", v, err)
	}
	for i, text := range []string{"hello", "world", "rust"} {
		must(t, c.RaiseEvent(ctx, "kv-server", "request", kvRequest{OpID: i + 1, Text: text}))
		v, err := c.WaitForValue(ctx, "kv-server", fmt.Sprintf("response:%d", i+1))
		must(t, err)
		if v != reverse(text) {
			t.Fatalf("response %d = %q", i+1, v)
		}
	}
	st := waitDone(t, c, "kv-server", 30*time.Second)
	var out string
	must(t, st.Decode(&out))
	if out != "served 3 requests" {
		t.Fatalf("output %q", out)
	}
	if v, ok, err := c.GetValue(ctx, "kv-server", "status"); err != nil || !ok || v != "shutdown" {
		t.Fatalf("final status = %q %v %v", v, ok, err)
	}
	all, err := c.GetAllValues(ctx, "kv-server")
	must(t, err)
	if len(all) != 4 || all["response:1"] != "olleh" || all["response:2"] != "dlrow" || all["response:3"] != "tsur" {
		t.Fatalf("all values = %v", all)
	}
}

// Sample 33: a consumer reads a producer's store through a durable system call.
func TestKVCrossInstanceRead(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "Producer", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		ctx.SetValue("result", "49")
		ctx.SetValue("status", "done")
		if _, err := duroxide.Await[any](ctx.WaitForEvent("ack")); err != nil {
			return "", err
		}
		v, _ := ctx.GetValue("result")
		return "produced:" + v, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Consumer", func(ctx *duroxide.OrchestrationContext, producer string) (string, error) {
		for i := 0; i < 20; i++ {
			st, err := duroxide.Await[*string](ctx.GetValueFromInstance(producer, "status"))
			if err != nil {
				return "", err
			}
			if st != nil && *st == "done" {
				res, err := duroxide.Await[*string](ctx.GetValueFromInstance(producer, "result"))
				if err != nil || res == nil {
					return "", fmt.Errorf("result missing: %v", err)
				}
				return "consumed:" + *res, nil
			}
			if _, err := duroxide.Await[any](ctx.ScheduleTimer(100 * time.Millisecond)); err != nil {
				return "", err
			}
		}
		return "", fmt.Errorf("producer never finished")
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	must(t, c.StartOrchestration(ctx, "consumer", "Consumer", "producer"))
	time.Sleep(150 * time.Millisecond) // the consumer polls at least once before the producer exists
	must(t, c.StartOrchestration(ctx, "producer", "Producer", nil))
	var out string
	must(t, waitDone(t, c, "consumer", 30*time.Second).Decode(&out))
	if out != "consumed:49" {
		t.Fatalf("consumer output %q", out)
	}
	must(t, c.RaiseEvent(ctx, "producer", "ack", nil))
	must(t, waitDone(t, c, "producer", 30*time.Second).Decode(&out))
	if out != "produced:49" {
		t.Fatalf("producer output %q", out)
	}
}

// Sample 34: a read-modify-write counter across activities and continue-as-new; the
// store a replay sees must not include the execution's own later writes.
func TestKVReadModifyWriteCounter(t *testing.T) {
	reg := duroxide.NewRegistry()
	items := []string{"alpha", "beta", "gamma"}
	must(t, duroxide.RegisterActivity(reg, "Process", func(_ *duroxide.ActivityContext, item string) (string, error) {
		return "processed:" + item, nil
	}))
	for _, name := range []string{"CounterOneExecution", "CounterCAN"} {
		useCAN := name == "CounterCAN"
		must(t, duroxide.RegisterOrchestration(reg, name, func(ctx *duroxide.OrchestrationContext, batch int) (string, error) {
			for ; batch < len(items); batch++ {
				n := 0
				if v, ok := ctx.GetValue("counter"); ok {
					n, _ = strconv.Atoi(v)
				}
				res, err := duroxide.Await[string](ctx.ScheduleActivity("Process", items[batch]))
				if err != nil {
					return "", err
				}
				ctx.SetValue("counter", strconv.Itoa(n+1))
				ctx.SetValue("batches_processed", strconv.Itoa(n+1))
				ctx.SetValue("last_result", res)
				if useCAN && batch+1 < len(items) {
					return "", ctx.ContinueAsNew(batch + 1)
				}
			}
			v, _ := ctx.GetValue("counter")
			return v, nil
		}))
	}
	// A cache of one instance forces replays between turns.
	rt := startRuntime(t, reg, duroxide.Options{MaxCachedInstances: 1})
	c := rt.Client()
	ctx := ctxT(t)
	for _, name := range []string{"CounterOneExecution", "CounterCAN"} {
		id := "rmw-" + name
		must(t, c.StartOrchestration(ctx, id, name, 0))
	}
	for _, name := range []string{"CounterOneExecution", "CounterCAN"} {
		id := "rmw-" + name
		var out string
		must(t, waitDone(t, c, id, 30*time.Second).Decode(&out))
		if out != "3" {
			t.Fatalf("%s: output %q, want 3", name, out)
		}
		all, err := c.GetAllValues(ctx, id)
		must(t, err)
		if all["batches_processed"] != "3" || all["last_result"] != "processed:gamma" {
			t.Fatalf("%s: values %v", name, all)
		}
	}
}

func TestKVLimitsFailTheOrchestration(t *testing.T) {
	reg := duroxide.NewRegistry()
	must(t, duroxide.RegisterOrchestration(reg, "TooManyKeys", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		for i := 0; i <= duroxide.MaxKVKeys; i++ {
			ctx.SetValue(fmt.Sprintf("k%d", i), "v")
		}
		return "unreachable", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "TooBig", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		ctx.SetValue("big", strings.Repeat("x", duroxide.MaxKVValueBytes+1))
		return "unreachable", nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Prune", func(ctx *duroxide.OrchestrationContext, _ any) (string, error) {
		ctx.SetValue("a", "1")
		ctx.SetValue("b", "2")
		n := ctx.PruneValuesUpdatedBefore(ctx.Now().Add(time.Millisecond))
		ctx.SetValue("c", "3")
		ctx.ClearValue("c")
		ctx.SetValue("d", "4")
		return fmt.Sprintf("%d:%d:%v", n, ctx.Len(), ctx.Keys()), nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	for id, want := range map[string]string{"TooManyKeys": "limit of 100 keys", "TooBig": "the limit is 16384"} {
		must(t, c.StartOrchestration(ctx, "limit-"+id, id, nil))
		st := waitDone(t, c, "limit-"+id, 30*time.Second)
		if st.State != duroxide.StateFailed || st.Failure == nil || !strings.Contains(st.Failure.Message, want) ||
			st.Failure.Category != "application" {
			t.Fatalf("%s: %+v %+v", id, st, st.Failure)
		}
	}
	must(t, c.StartOrchestration(ctx, "kv-prune", "Prune", nil))
	var out string
	must(t, waitDone(t, c, "kv-prune", 30*time.Second).Decode(&out))
	if out != "2:1:[d]" {
		t.Fatalf("prune output %q", out)
	}
}

// Sample 27: an eternal orchestration prunes its own old executions from an activity.
func TestSelfPruningEternalOrchestration(t *testing.T) {
	reg := duroxide.NewRegistry()
	var prunes, pruned atomic.Int64
	must(t, duroxide.RegisterActivity(reg, "PruneSelf", func(actx *duroxide.ActivityContext, _ any) (int64, error) {
		res, err := actx.Client().PruneExecutions(actx, actx.InstanceID(), duroxide.PruneOptions{KeepLast: 1})
		if err != nil {
			return 0, err
		}
		prunes.Add(1)
		pruned.Add(res.ExecutionsDeleted)
		return res.ExecutionsDeleted, nil
	}))
	must(t, duroxide.RegisterOrchestration(reg, "Eternal", func(ctx *duroxide.OrchestrationContext, batch int) (string, error) {
		if _, err := duroxide.Await[int64](ctx.ScheduleActivity("PruneSelf", nil)); err != nil {
			return "", err
		}
		if batch < 5 {
			return "", ctx.ContinueAsNew(batch + 1)
		}
		return "Completed 5 batches", nil
	}))
	rt := startRuntime(t, reg, duroxide.Options{})
	c := rt.Client()
	ctx := ctxT(t)
	must(t, c.StartOrchestration(ctx, "eternal", "Eternal", 1))
	var out string
	must(t, waitDone(t, c, "eternal", 60*time.Second).Decode(&out))
	if out != "Completed 5 batches" || prunes.Load() < 4 || pruned.Load() < 3 {
		t.Fatalf("output %q, %d prunes, %d pruned", out, prunes.Load(), pruned.Load())
	}
	execs, err := c.ListExecutions(ctx, "eternal")
	must(t, err)
	if len(execs) != 1 || execs[0] != 5 {
		t.Fatalf("executions left %v", execs)
	}
	info, err := c.InstanceInfo(ctx, "eternal")
	must(t, err)
	if info.ExecutionCount != 1 || info.Status != "Completed" {
		t.Fatalf("info %+v", info)
	}
	m, err := c.SystemMetrics(context.Background())
	must(t, err)
	if m.TotalExecutions != 1 || m.TotalInstances != 1 || m.CompletedInstances != 1 || m.TotalEvents != info.EventCount {
		t.Fatalf("metrics %+v, info %+v", m, info)
	}
}
