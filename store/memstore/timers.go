package memstore

import (
	"container/heap"
	"slices"
	"time"
)

// The orchestrator queue is two structures: inbox, the messages visible when they
// were enqueued (or since), in enqueue order, which a fetch scans; and timers, a heap
// of the messages not yet visible when they were enqueued (timers, delayed
// messages), by due time, which a fetch does not scan: promoteDue moves the due ones
// into inbox at their place in enqueue order. So a fetch costs the visible messages,
// not every sleeping timer.

// timerHeap orders messages by (visibleAt, seq).
type timerHeap []*orchMsg

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if c := h[i].visibleAt.Compare(h[j].visibleAt); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(*orchMsg)) }
func (h *timerHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return m
}

// addOrch puts a new message in inbox or, when it is not visible yet, in timers.
// The caller holds mu.
func (b *backend) addOrch(m *orchMsg, now time.Time) {
	if m.visibleAt.After(now) {
		m.inHeap = true
		heap.Push(&b.timers, m)
		return
	}
	b.inbox = append(b.inbox, m)
}

// promoteDue moves the timers due at now into inbox, at their enqueue-order place.
// The caller holds mu.
func (b *backend) promoteDue(now time.Time) {
	for len(b.timers) > 0 {
		m := b.timers[0]
		if !m.removed && m.visibleAt.After(now) {
			return
		}
		heap.Pop(&b.timers)
		m.inHeap = false
		if m.removed {
			b.timersGone--
			continue
		}
		i, _ := slices.BinarySearchFunc(b.inbox, m.seq, func(x *orchMsg, seq uint64) int {
			switch {
			case x.seq < seq:
				return -1
			case x.seq > seq:
				return 1
			}
			return 0
		})
		b.inbox = slices.Insert(b.inbox, i, m)
	}
}

// nextTimer returns the due time of the earliest timer (zero if none). The caller
// holds mu.
func (b *backend) nextTimer() time.Time {
	for len(b.timers) > 0 && b.timers[0].removed {
		heap.Pop(&b.timers)
		b.timersGone--
	}
	if len(b.timers) == 0 {
		return time.Time{}
	}
	return b.timers[0].visibleAt
}

// allMsgs yields every message of the orchestrator queue that is not removed, in
// no particular order. The caller holds mu.
func (b *backend) allMsgs(yield func(*orchMsg) bool) {
	for _, m := range b.inbox {
		if !m.removed && !yield(m) {
			return
		}
	}
	for _, m := range b.timers {
		if !m.removed && !yield(m) {
			return
		}
	}
}
