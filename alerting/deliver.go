package alerting

import (
	"context"
	"errors"
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

// deliverLoop sends one receiver's outbox, oldest first, one at a time, so
// that an alert's notifications arrive in the order they were made. It
// returns when ctx ends.
func (e *Engine) deliverLoop(ctx context.Context, rc *receiver) {
	log := e.log.With("receiver", rc.name)
	for {
		e.mu.Lock()
		st := e.st
		e.mu.Unlock()
		seq, m, ok, err := st.next(rc.name)
		if err != nil {
			log.Error("read outbox", "err", err)
			if !sleepCtx(ctx, e.opts.RetryDelay) {
				return
			}
			continue
		}
		if !ok {
			select {
			case <-rc.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		nerr := rc.notifier.Notify(ctx, Message{ID: m.ID, Type: m.Type, AlertID: m.AlertID, Body: m.Body})
		act := classifyDelivery(nerr, ctx.Err())
		if m.Type == TypeHeartbeat && (act == actDelivered || act == actDeadLetter) {
			rc.hbPending.Store(false)
		}
		switch act {
		case actStop:
			return
		case actDelivered:
			if rc.failing {
				rc.failing = false
				log.Info("receiver accepts notifications again")
			}
			e.delivered.Add(1)
			log.Info("notification delivered", "id", m.ID, "type", m.Type, "alert", m.AlertID)
			e.receiverAccepts(rc)
			if err := st.delivered(rc.name, seq); err != nil {
				// It will be sent again; the receiver dedups on its id.
				log.Error("remove delivered notification", "err", err)
				if !sleepCtx(ctx, e.opts.RetryDelay) {
					return
				}
			}
		case actDeadLetter:
			e.dead.Add(1)
			log.Error("receiver refused a notification for good; dead-lettered",
				"id", m.ID, "type", m.Type, "alert", m.AlertID, "err", nerr)
			if err := st.deadLetter(rc.name, seq, m, nerr.Error(), e.opts.Now()); err != nil {
				log.Error("dead-letter notification", "err", err)
				if !sleepCtx(ctx, e.opts.RetryDelay) {
					return
				}
				continue
			}
			e.receiverRejected(rc, truncate(nerr.Error(), 200))
		case actRetry:
			e.notifyErr.Add(1)
			if !rc.failing {
				rc.failing = true
				log.Warn("notifying receiver failed; retrying", "id", m.ID, "err", nerr)
			}
			if !sleepCtx(ctx, e.opts.RetryDelay) {
				return
			}
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
