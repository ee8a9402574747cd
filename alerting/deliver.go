package alerting

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hazardgw/hazardgw/gateway"
)

// Delivery outcomes, decided from a Notify error.
type deliveryAction uint8

const (
	actDelivered  deliveryAction = iota + 1 // remove from the outbox
	actDeadLetter                           // refused for good: move to dead letters
	actStop                                 // shutting down: leave it for the next start
	actRetry                                // try again after RetryDelay
)

// classifyDelivery decides what to do with a notification after Notify
// returned err, with ctxErr the delivery context's error.
func classifyDelivery(err, ctxErr error) deliveryAction {
	switch {
	case err == nil:
		return actDelivered
	case ctxErr != nil:
		return actStop
	case gateway.IsPermanent(err):
		return actDeadLetter
	}
	return actRetry
}

// maxBatch bounds the notifications merged into one NotifyBatch.
const maxBatch = 100

// sendResult is the outcome of one Notify or NotifyBatch call.
type sendResult struct {
	hs      []head
	err     error
	started time.Time
}

// deliverLoop delivers one receiver's outbox until ctx ends. Occurrences
// (alerts, groups, heartbeats) are delivered independently, the most
// severe first and then the oldest, up to Options.Concurrency at a time;
// one occurrence's notifications go one at a time, in order. An
// occurrence whose send failed waits out its own backoff while the others
// go on, so a notification the receiver keeps refusing holds back no
// other. When several different occurrences fail in a row the receiver is
// taken to be down and is probed with one send at a time. The rate budget
// gates every send; when it is nearly spent a BatchNotifier gets what
// waits merged into one message.
func (e *Engine) deliverLoop(ctx context.Context, rc *receiver) {
	log := e.log.With("receiver", rc.name)
	sc := newSched(e.opts.Concurrency, e.opts.RetryDelay, newBudget(rc.pol.rate, e.opts.Now()))
	bn, canBatch := rc.notifier.(BatchNotifier)
	results := make(chan sendResult, sc.conc)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		st := e.st
		e.mu.Unlock()
		now := e.opts.Now()
		wait := time.Second // also lets an injected clock be followed
		for ctx.Err() == nil && sc.slots(now) > 0 && sc.budget.avail(now) >= 1 {
			batch := canBatch && sc.budget.lastOne(now)
			n := 1
			if batch {
				n = maxBatch
			}
			hs, err := st.take(rc.name, n, n, batch, func(o string) bool { return sc.skip(o, now) })
			if err != nil {
				log.Error("read outbox", "err", err)
				wait = e.opts.RetryDelay
				break
			}
			if len(hs) == 0 {
				break
			}
			sc.budget.take(now)
			sc.start(occsOf(hs))
			wg.Go(func() { results <- e.send(ctx, rc, bn, hs) })
		}
		if at := sc.wakeAt(now); !at.IsZero() {
			wait = min(wait, at.Sub(now))
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case r := <-results:
			e.settle(ctx, rc, st, sc, r, log)
			rc.notePeak(sc)
		case <-rc.wake:
		case <-timer.C:
		case <-ctx.Done():
			// Sends in flight end with ctx; what they did not deliver stays
			// in the outbox for the next start.
			for len(sc.inflight) > 0 {
				e.settle(ctx, rc, st, sc, <-results, log)
			}
			return
		}
	}
}

func occsOf(hs []head) []string {
	occs := make([]string, 0, len(hs))
	for _, h := range hs {
		if len(occs) == 0 || occs[len(occs)-1] != h.occ {
			occs = append(occs, h.occ)
		}
	}
	return occs
}

func (h *head) message() Message {
	return Message{ID: h.msg.ID, Type: h.msg.Type, AlertID: h.msg.AlertID, Body: h.msg.Body}
}

// send makes one delivery attempt of hs, bounded by the receiver's
// attempt time (Options.AttemptTimeout) so that a notifier that retries by itself cannot
// hold its slot for ever.
func (e *Engine) send(ctx context.Context, rc *receiver, bn BatchNotifier, hs []head) sendResult {
	started := e.opts.Now()
	actx, cancel := context.WithTimeout(ctx, rc.attempt)
	defer cancel()
	var err error
	if len(hs) == 1 {
		err = rc.notifier.Notify(actx, hs[0].message())
	} else {
		ms := make([]Message, len(hs))
		for i := range hs {
			ms[i] = hs[i].message()
		}
		err = bn.NotifyBatch(actx, ms)
	}
	return sendResult{hs: hs, err: err, started: started}
}

// settle acts on the outcome of a send.
func (e *Engine) settle(ctx context.Context, rc *receiver, st *store, sc *sched, r sendResult, log *slog.Logger) {
	occs := occsOf(r.hs)
	act := classifyDelivery(r.err, ctx.Err())
	switch act {
	case actStop:
		sc.done(occs)
	case actDelivered:
		sc.delivered(occs)
		e.settled(rc, r.hs)
		if rc.failing {
			rc.failing = false
			log.Info("receiver accepts notifications again")
		}
		e.delivered.Add(int64(len(r.hs)))
		if len(r.hs) == 1 {
			m := r.hs[0].msg
			log.Info("notification delivered", "id", m.ID, "type", m.Type, "alert", m.AlertID)
		} else {
			log.Info("notifications delivered as one message", "notifications", len(r.hs), "first", r.hs[0].msg.ID)
		}
		e.receiverAccepts(rc)
		if err := st.delivered(rc.name, r.hs); err != nil {
			// They will be sent again, after a pause; the receiver dedups
			// on their ids.
			sc.unremoved(occs, e.opts.Now())
			log.Error("remove delivered notification", "err", err)
		}
	case actDeadLetter:
		sc.done(occs)
		e.settled(rc, r.hs)
		log.Error("receiver refused a notification for good; dead-lettered",
			"id", r.hs[0].msg.ID, "type", r.hs[0].msg.Type, "alert", r.hs[0].msg.AlertID, "notifications", len(r.hs), "err", r.err)
		e.deadLetter(rc, st, r.hs, r.err.Error(), log)
	case actRetry:
		defer e.notifyErr.Add(1) // last: a test awaiting it sees the backoff set
		if !rc.failing {
			rc.failing = true
			log.Warn("notifying receiver failed; retrying", "id", r.hs[0].msg.ID, "err", r.err)
		}
		now := e.opts.Now()
		var fresh, expired []head
		for _, h := range r.hs {
			switch {
			case h.msg.FirstTry.IsZero():
				fresh = append(fresh, h)
			case now.Sub(h.msg.FirstTry) >= rc.pol.giveUp:
				expired = append(expired, h)
			}
		}
		if err := st.tried(rc.name, fresh, r.started); err != nil {
			log.Error("record notification attempt", "err", err)
		}
		sc.retry(occs, now)
		if len(expired) > 0 {
			e.settled(rc, expired)
			reason := "gave up after " + fmtDur(false, rc.pol.giveUp) + ": " + r.err.Error()
			log.Error("notification still failing after give_up_after; dead-lettered",
				"id", expired[0].msg.ID, "alert", expired[0].msg.AlertID, "notifications", len(expired), "err", r.err)
			e.deadLetter(rc, st, expired, reason, log)
		}
	}
}

// deadLetter moves hs to the receiver's dead letters and raises
// gateway:notify-rejected for it.
func (e *Engine) deadLetter(rc *receiver, st *store, hs []head, reason string, log *slog.Logger) {
	for _, h := range hs {
		e.dead.Add(1)
		if err := st.deadLetter(rc.name, h, reason, e.opts.Now()); err != nil {
			log.Error("dead-letter notification", "err", err)
		}
	}
	e.receiverRejected(rc, truncate(reason, 200))
}

// settled lets the next heartbeat, and an alert's next reminder, be
// queued once the waiting one is delivered or given up.
func (e *Engine) settled(rc *receiver, hs []head) {
	for _, h := range hs {
		switch h.msg.Type {
		case TypeHeartbeat:
			rc.hbPending.Store(false)
		case TypeReminder:
			rc.reminding.Delete(h.msg.AlertID)
		}
	}
}

// writeLoop hands `alert` points to the pipeline, oldest first, and
// removes them from the store once the pipeline has committed them. It runs
// on its own goroutine because the pipeline calls Observe from its
// committer: calling Accept from there would wait for itself.
func (e *Engine) writeLoop(ctx context.Context, acc gateway.Acceptor) {
	failing := false
	for {
		e.mu.Lock()
		st := e.st
		e.mu.Unlock()
		last, pts, err := st.pendingPoints(500)
		if err == nil && len(pts) > 0 {
			err = acc.Accept(ctx, pts)
			if err == nil {
				err = st.pointsWritten(last)
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, gateway.ErrPipelineClosed):
			return // the rest is written on the next start
		case err != nil:
			if !failing {
				e.log.Warn("write alert points; retrying", "err", err)
				failing = true
			}
			if !sleepCtx(ctx, e.opts.RetryDelay) {
				return
			}
			continue
		case len(pts) > 0:
			failing = false
			continue
		}
		select {
		case <-e.pointsW:
		case <-ctx.Done():
			return
		}
	}
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
