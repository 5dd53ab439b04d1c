// Package duroxidetest unit-tests orchestrations: it runs them with the real
// runtime (its own turn, replay and activity code) on an in-memory store
// (store/memstore) and a virtual clock, in one goroutine, in a fixed order, so a
// test is fast and gives the same history every run.
//
//	env := duroxidetest.New(t, reg)
//	env.MockActivity("Charge", func(*duroxide.ActivityContext, string) (string, error) { return `"ok"`, nil })
//	env.Start("Order", "order-1", input)
//	env.RaiseEventAfter(48*time.Hour, "order-1", "approval", true)
//	env.Run()
//	out := duroxidetest.Output[string](env, "order-1")
//
// # How it runs
//
// [Env.Run] repeats: run one turn of the instance with the oldest visible message
// (orchestration items first), else run the oldest visible activity, else — nothing
// can run — move the clock to the earliest of the store's next due message (a timer,
// a retry backoff, a delayed abandon) and the next event scheduled with
// [Env.RaiseEventAt] or [Env.At], and deliver what became due. It returns when
// nothing can run and nothing is due: every instance has finished or waits for an
// event nobody scheduled. Virtual time moves only there, so a 30-day timer costs
// one step.
//
// Activities run for real (their registered function, synchronously) unless a mock
// replaces them by name ([Env.MockActivity], [Mock]); an activity that blocks blocks
// the test. Timestamps in history, timer fire times, [duroxide.OrchestrationContext.Now]
// and the store's summaries all read the virtual clock, which starts at
// [DefaultStartTime] unless [StartTime] says otherwise.
//
// # Failures
//
// Every turn replays the instance's history from the start (unless
// [NoReplayCheck]), so orchestration code that does not replay the same way (it
// reads the wall clock, a global, a map's order) is caught at its next turn. An
// orchestration that panics or is nondeterministic fails its instance, as in
// production; the harness also reports it as a test error ([testing.TB.Errorf])
// with the engine's diagnostics, which name the event, unless [AllowEngineFailures]
// is set. So is an instance that failed because an orchestration or activity it
// needed is neither registered nor mocked (after the runtime's retries, which cost
// only virtual time). Application failures (an orchestration returning an error) are results:
// read them with [Env.Status].
package duroxidetest
