package alerting

import (
	"context"
	"time"
)

// The last resort: a red alarm that cannot be committed is sent anyway.
//
// Normally nothing is sent before it is committed (see Durability in the
// package documentation), and the store's reserve (DefaultStoreReserve)
// keeps commits going on a disk that something else has filled. Should
// the store refuse all the same (the reserve used up, an I/O error, a
// copy-on-write file system), the transition stays pending in memory and
// its commit is retried every round — and meanwhile its red firing or
// change notifications go out at once, straight from memory, with the
// webhook-id they will keep in the outbox. The choice is between getting
// the alarm to the desk and never sending what a crash could make the
// gateway forget; for a red alarm the desk comes first:
//
//   - commit later succeeds: a notification already accepted is left out
//     of the commit (it is delivered), so the desk has it once; one sent
//     while the commit succeeds at the same moment may reach it twice
//     with the same webhook-id, on which it dedups;
//   - the gateway stops before the commit succeeds: the transition is
//     lost with its record, and the condition, still there after the
//     restart, fires again as a new alert (another webhook-id): the desk
//     may see the alarm twice, never not at all;
//   - it goes out ahead of the pending notifications of its alert that
//     are not red (a yellow firing before it, say): those follow once
//     committed.
//
// Only red alert.firing, alert.changed and alert.chattering are sent this
// way, and not those held back for a group (notify[].group_by); every
// other notification waits for its commit.

// urgentQueue bounds the red alarms waiting to be sent uncommitted; what
// does not fit is tried on a later round.
const urgentQueue = 64

// urgentRetry is how long a red alarm whose uncommitted send failed waits
// before it is tried again (the commit is retried every round).
const urgentRetry = 5 * time.Second

type urgentMsg struct {
	rc  *receiver
	key string
	msg Message
}

// urgentState is what the engine knows of one red alarm sent, or being
// sent, uncommitted.
type urgentState struct {
	sent bool      // the receiver accepted it
	next time.Time // not sent: when it may be tried again
}

func urgentKey(receiver, id string) string { return receiver + "\x00" + id }

// urgent is the red notification a failed commit leaves pending that may
// go out uncommitted.
func urgent(q *queued) bool {
	switch q.msg.Type {
	case TypeFiring, TypeChanged, TypeChattering:
		return q.group == "" && q.msg.Severity == SeverityRed
	}
	return false
}

// sendUncommittedLocked queues the pending red alarms for sending after
// a failed commit.
func (e *Engine) sendUncommittedLocked(now time.Time) {
	if e.urgent == nil {
		return // not running
	}
	for i := range e.cs.msgs {
		q := &e.cs.msgs[i]
		if !urgent(q) {
			continue
		}
		k := urgentKey(q.receiver, q.msg.ID)
		if s, ok := e.early[k]; ok && (s.sent || now.Before(s.next)) {
			continue
		}
		var rc *receiver
		for _, r := range e.receivers {
			if r.name == q.receiver {
				rc = r
			}
		}
		if rc == nil {
			continue
		}
		select {
		case e.urgent <- urgentMsg{rc: rc, key: k, msg: Message{ID: q.msg.ID, Type: q.msg.Type, AlertID: q.msg.AlertID, Body: q.msg.Body}}:
			e.early[k] = urgentState{next: now.Add(urgentRetry)}
		default:
		}
	}
}

// dropSentLocked leaves out of the pending change set the notifications
// already delivered uncommitted, before it is committed.
func (e *Engine) dropSentLocked() {
	if len(e.early) == 0 {
		return
	}
	msgs := e.cs.msgs[:0]
	for _, q := range e.cs.msgs {
		if !e.early[urgentKey(q.receiver, q.msg.ID)].sent {
			msgs = append(msgs, q)
		}
	}
	clear(e.cs.msgs[len(msgs):])
	e.cs.msgs = msgs
}

// urgentLoop sends the red alarms a failed commit holds up, until ctx
// ends.
func (e *Engine) urgentLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-e.urgent:
			e.mu.Lock()
			_, pending := e.early[u.key]
			e.mu.Unlock()
			if !pending {
				continue // committed meanwhile: the outbox delivers it
			}
			actx, cancel := context.WithTimeout(ctx, u.rc.attempt)
			err := u.rc.notifier.Notify(actx, u.msg)
			cancel()
			log := e.log.With("receiver", u.rc.name, "id", u.msg.ID, "type", u.msg.Type, "alert", u.msg.AlertID)
			e.mu.Lock()
			if err == nil {
				if _, pending := e.early[u.key]; pending {
					e.early[u.key] = urgentState{sent: true}
				}
			}
			e.mu.Unlock()
			if err != nil {
				log.Error("red alarm not committed (alert store refuses writes) and its send failed; retrying", "err", err)
				continue
			}
			e.delivered.Add(1)
			log.Warn("red alarm delivered before it could be committed (alert store refuses writes); its record is retried")
		}
	}
}
