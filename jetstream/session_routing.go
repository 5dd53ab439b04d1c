package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/duroxide-go/duroxide/store"
)

// Routing a delivered session item: run it here, forward it to its owner, claim it,
// or give it back; a moved message keeps counting its deliveries (see sessions.go for
// the whole design).

// routeSession decides where a delivered session item runs. It returns true when
// this store runs it (the session is claimed or held; the caller hands it to a
// fetch), and otherwise the message has been moved (or nak'ed) and the caller pauses
// for the returned duration before pulling on.
func (s *Store) routeSession(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem) (bool, time.Duration) {
	m := s.sess
	key := sessionKey(item.Tag, item.SessionID)
	if !s.servesTag(item.Tag) {
		return false, s.giveBack(msg, md, item)
	}
	ctx, cancel := context.WithTimeout(m.ctx, max(m.cfg.LockTimeout, 2*time.Second))
	defer cancel()
	val, _ := json.Marshal(sessionLease{Owner: m.cfg.Owner, TTLMs: max(m.cfg.LockTimeout.Milliseconds(), 1)})
	for try := 0; try < 5; try++ {
		m.mu.Lock()
		if o := m.owned[key]; o != nil {
			if time.Now().Before(o.expires) {
				o.last = time.Now()
				m.mu.Unlock()
				return true, 0
			}
			delete(m.owned, key) // expired: read it again, and claim it anew
		}
		m.mu.Unlock()
		e, err := m.kv.Get(ctx, key)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			s.log.Warn("read session lease", "key", key, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return false, 0
		default:
			var v sessionLease
			_ = json.Unmarshal(e.Value(), &v)
			tok := EncodeToken(v.Owner)
			m.mu.Lock()
			left := e.Created().Add(v.ttl(m.cfg.LockTimeout)).Sub(m.serverNow())
			live := !m.dead[tok] && left > 0
			if live && v.Owner == m.cfg.Owner {
				// Ours (a restart with the same owner id, or a claim by another
				// store with our id): adopt it.
				m.owned[key] = &ownedSession{rev: e.Revision(), expires: time.Now().Add(left), last: time.Now()}
				m.mu.Unlock()
				continue
			}
			m.mu.Unlock()
			if live {
				return false, s.moveWork(msg, md, item, s.subj.nodeWork(tok, EncodeToken(item.Instance), item.ExecutionID, item.ID))
			}
			rev = e.Revision()
		}
		// Unowned or expired: claim it if a fetch is waiting for an item (a session
		// is claimed by a fetch, as in duroxide: an item pulled for a call that is
		// gone does not claim) and there is room.
		if s.demand.waiting() == 0 {
			return false, s.giveBack(msg, md, item)
		}
		m.mu.Lock()
		m.pruneLocked()
		if len(m.owned)+m.reserved >= m.cfg.MaxSessions {
			m.mu.Unlock()
			return false, s.giveBack(msg, md, item)
		}
		m.reserved++
		m.mu.Unlock()
		start := time.Now()
		var nrev uint64
		if rev == 0 {
			nrev, err = m.kv.Create(ctx, key, val)
		} else {
			nrev, err = m.kv.Update(ctx, key, val, rev)
		}
		m.mu.Lock()
		m.reserved--
		if err == nil {
			m.owned[key] = &ownedSession{rev: nrev, expires: start.Add(m.cfg.LockTimeout), last: time.Now()}
			m.mu.Unlock()
			s.log.Debug("session claimed", "session", item.SessionID, "tag", item.Tag, "owner", m.cfg.Owner)
			return true, 0
		}
		m.mu.Unlock()
		// Another claimant won (or the lease changed): read it again.
	}
	_ = msg.NakWithDelay(100 * time.Millisecond)
	return false, 0
}

// servesTag reports whether this store's worker pulls activities tagged tag.
func (s *Store) servesTag(tag string) bool {
	for _, t := range s.cfg.WorkTags {
		if t == tag || t == AnyWorkTag {
			return true
		}
	}
	return false
}

// giveBack republishes an item this store cannot take (at the session cap, a tag it
// does not serve, or a session item in a store without sessions) on its tag
// subject, and returns how long the puller should pause (doubling from 20ms up to 1s
// while it keeps giving items back).
func (s *Store) giveBack(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem) time.Duration {
	s.moveWork(msg, md, item, s.subj.work(item.Tag, EncodeToken(item.Instance), item.ExecutionID, item.ID))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.givePause = min(max(2*s.givePause, 20*time.Millisecond), time.Second)
	return s.givePause
}

// resetGiveBackPause ends the give-back pacing once an item is handed out.
func (s *Store) resetGiveBackPause() {
	s.mu.Lock()
	s.givePause = 0
	s.mu.Unlock()
}

// moveWork republishes msg on subject (keeping its data, counting the deliveries of
// earlier copies that may have run it in the Duroxide-Runs header) and acks the
// original. On a failed publish the original is nak'ed with a short delay instead.
// It returns 0.
func (s *Store) moveWork(msg jetstream.Msg, md *jetstream.MsgMetadata, item *store.WorkItem, subject string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	runs := max(0, priorRuns(msg)+int(md.NumDelivered)-1-s.ignoredDeliveries(md.Sequence.Stream))
	recorded, rec := s.recordedRuns(ctx, runWork, md.Sequence.Stream)
	runs = max(runs, recorded)
	nm := nats.NewMsg(subject)
	nm.Data = msg.Data()
	nm.Header.Set(hdrRuns, strconv.Itoa(runs))
	nm.Header.Set(nats.MsgIdHdr, fmt.Sprintf("mv:%d", md.Sequence.Stream))
	setTraceHeaders(nm, item)
	if _, err := s.js.PublishMsg(ctx, nm); err != nil {
		s.log.Warn("move work item", "instance", item.Instance, "session", item.SessionID, "to", subject, "err", err)
		_ = msg.NakWithDelay(100 * time.Millisecond)
		return 0
	}
	s.forgetIgnored(md.Sequence.Stream)
	_ = msg.Ack()
	s.forgetRun(runWork, md.Sequence.Stream, rec)
	return 0
}

// priorRuns reads the Duroxide-Runs header of a moved message.
func priorRuns(m jetstream.Msg) int {
	if h := m.Headers(); h != nil {
		if n, err := strconv.Atoi(h.Get(hdrRuns)); err == nil && n > 0 {
			return n
		}
	}
	return 0
}
