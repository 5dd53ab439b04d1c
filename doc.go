// Package duroxide runs durable orchestrations written as plain Go functions. It is
// a Go port of the Rust crate duroxide: an orchestration schedules activities,
// durable timers, external events and sub-orchestrations through an
// [OrchestrationContext]; every decision and result is appended to an event-sourced
// history in NATS JetStream, and after a crash or restart the function is replayed
// from that history to where it left off. A [Runtime] runs orchestrations and
// activities (on an embedded nats-server by default, or on a shared NATS server or
// cluster); a [Client] starts, observes and manages instances.
//
// A minimal program (the full one is Example):
//
//	reg := duroxide.NewRegistry()
//	_ = duroxide.RegisterActivity(reg, "Greet", func(_ *duroxide.ActivityContext, name string) (string, error) {
//		return "Hello, " + name + "!", nil
//	})
//	_ = duroxide.RegisterOrchestration(reg, "HelloWorld", func(ctx *duroxide.OrchestrationContext, name string) (string, error) {
//		return duroxide.Await[string](ctx.ScheduleActivity("Greet", name))
//	})
//	rt, _ := duroxide.Start(ctx, reg, duroxide.Options{DataDir: dir})
//	_ = rt.Client().StartOrchestration(ctx, "hello-1", "HelloWorld", "World")
//	status, _ := rt.Client().WaitForOrchestration(ctx, "hello-1") // Completed "Hello, World!"
//
// Orchestration code must be deterministic, because it is replayed: no wall clock,
// randomness, I/O or goroutines of its own. Use [OrchestrationContext.Now],
// [OrchestrationContext.NewGUID], [OrchestrationContext.Rand], activities (which run
// at least once, so make them idempotent), [OrchestrationContext.Join],
// [OrchestrationContext.Select] and, for several multi-step sequences at once,
// [OrchestrationContext.Go] instead. Inputs and outputs travel as JSON.
// [ReplayHistory] checks, before a deployment, that changed code still replays the
// histories recorded by the code before it (docs/TESTING.md).
//
// [DefineActivity] and [DefineOrchestration] register functions and return typed
// handles ([Activity], [Orchestration]) whose calls the compiler checks against the
// functions' input and output types; see Example (typedHandles).
//
// Errors a caller branches on are sentinels tested with errors.Is (see
// [ErrInstanceExists], [ErrActivityTimeout], [ErrCancelled], [ErrNondeterminism],
// [ErrPoison], [ErrUnregistered]); each call's documentation lists the ones it
// returns.
//
// To unit-test orchestrations without NATS and without waiting out their timers,
// use package duroxidetest (the real runtime on an in-memory store and a virtual
// clock; docs/TESTING.md). [Options.Store] runs the runtime on another store of the
// contract (package store), such as store/memstore.
//
// A runtime records Prometheus metrics (duroxide's metric set, and turns, fence
// conflicts, cache, projector lag, partitions, dead letters, publish latency) on
// Options.MetricsRegisterer or a registry of its own; [Runtime.MetricsGatherer]
// reads them. README.md (Observability) lists them.
//
// Where to read next: README.md (quick start and the node command),
// docs/FEATURES.md (retries, concurrency, cancellation, queues, versioning, tags,
// sessions, KV state, management), docs/ARCHITECTURE.md (how a message flows and
// where each guarantee comes from), docs/STORE.md (the store contract) and
// docs/PROTOCOL.md (driving it from other languages over NATS) and docs/TESTING.md
// (testing orchestrations and replaying recorded histories).
package duroxide
