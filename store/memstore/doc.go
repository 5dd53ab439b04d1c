// Package memstore is an in-memory implementation of the whole store contract
// (store/contract.go): [store.Provider], [store.SessionStore], [store.KVReader],
// [store.Admin] and [store.Deleter]. It involves no NATS and keeps nothing across a
// restart: it serves unit tests of orchestrations (a time-skipping harness runs on
// it), and anyone writing a provider can read it as the contract's plainest
// implementation. It passes the conformance suite (package storetest).
//
// # Backend and handles
//
// [New] creates a backend (histories, queues, key-value stores, views, session
// leases) and returns its first handle. [Store.Open] returns another handle on the
// same backend, as another runtime of the same deployment would open: with its own
// worker tags ([HandleOptions.WorkTags]) and session owner
// ([HandleOptions.SessionOwner]). Every handle implements the whole contract; closing
// one releases its locks and leaves the backend to the others.
//
// # Time
//
// Every visibility time, lock and lease expiry, timer due time, summary and view
// timestamp is read from [Options.Clock] (real time by default), so a harness can run
// the store on virtual time: [Store.NextDue] tells when the next delayed message
// becomes visible, [Store.Idle] and [Store.Counts] whether anything is runnable, and
// [Store.Wake] makes waiting fetches look again after the clock moved. Poll timeouts
// (how long a fetch waits for work) are real durations: they bound the caller's wait,
// whatever the clock says.
//
// # Determinism
//
// The same sequence of calls gives the same results: both queues are FIFO by
// enqueue order (an orchestration fetch takes the instance of the oldest visible
// message), listings follow creation or status order, and lock tokens and
// incarnations are drawn from counters.
package memstore
