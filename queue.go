package duroxide

import (
	"github.com/duroxide-go/duroxide/history"
)

// MaxCarryForwardEvents is how many unconsumed queue messages continue-as-new
// carries into the next execution (the oldest are kept; the rest are dropped with a
// warning), as in duroxide.
const MaxCarryForwardEvents = 20

// DequeueEvent returns a future for the next message of the named queue, sent with
// [Client.EnqueueEvent].
//
// Queues and positional events are two ways to get data into a running
// orchestration:
//
//   - RaiseEvent / WaitForEvent (positional, ephemeral): every raised event is
//     recorded in history, but it is delivered only to a wait that is already
//     active; the Nth active wait for a name receives the Nth event of that name. An
//     event raised while nobody waits is kept for audit and never delivered. Waits
//     end with the execution (they do not survive continue-as-new).
//   - EnqueueEvent / DequeueEvent (persistent FIFO mailbox): a message is buffered
//     until a DequeueEvent consumes it, in arrival order, whether it arrived before
//     or after the dequeue. A dequeue that loses a Select consumes nothing. Up to
//     [MaxCarryForwardEvents] unconsumed messages move into the next execution at
//     continue-as-new. Messages for an instance that does not exist are dropped.
//
// Use queues for commands and chat-style inputs that must not be lost; use
// positional events for one-shot signals (an approval) the code is known to wait for.
func (c *OrchestrationContext) DequeueEvent(queue string) *Future {
	e := c.e
	stored, _ := e.emit(history.Event{Type: history.QueueSubscribed, Name: queue})
	f := e.newFuture(kindQueue, stored.EventID, queue)
	for i, m := range e.queue {
		if m.Name == queue {
			e.queue = append(e.queue[:i:i], e.queue[i+1:]...)
			e.resolve(f.st, m.Data, nil)
			return f
		}
	}
	e.qsubs[queue] = append(e.qsubs[queue], f.st)
	return f
}

// deliverQueued hands a queue message to the oldest waiting dequeue of its queue, or
// buffers it.
func (e *engine) deliverQueued(m history.QueuedMessage) {
	if subs := e.qsubs[m.Name]; len(subs) > 0 {
		e.qsubs[m.Name] = subs[1:]
		e.resolve(subs[0], m.Data, nil)
		return
	}
	e.queue = append(e.queue, m)
}

// carryForward returns the unconsumed queue messages for the next execution.
func (e *engine) carryForward() []history.QueuedMessage {
	if len(e.queue) <= MaxCarryForwardEvents {
		return e.queue
	}
	e.log.Warn("continue-as-new drops queue messages beyond the carry-forward limit",
		"instance", e.instance, "dropped", len(e.queue)-MaxCarryForwardEvents, "limit", MaxCarryForwardEvents)
	return e.queue[:MaxCarryForwardEvents]
}
