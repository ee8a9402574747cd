package alerting

import (
	"strconv"
	"time"
)

// Escalation (notify[].escalate): an occurrence that a receiver was sent
// and that stays active and unacknowledged is also sent, as an
// alert.escalated notification, to each step's receiver once the step's
// `after` has passed since it started. Each step is taken once per
// occurrence: the step is recorded in the alert, in the same transaction
// as the notification, so a step that fell due while the gateway was down
// is sent once at start, and never twice. Acknowledging the alert (or its
// clearing) stops the steps not yet taken; while its device is under
// maintenance they wait.

// TypeEscalated is the notification an escalation target gets: the
// alert's data as in alert.firing, its message saying for how long it has
// gone unacknowledged.
const TypeEscalated = "alert.escalated"

// escalationDue reports whether a step `after` is due for a at now.
func escalationDue(a *Alert, taken bool, after time.Duration, now time.Time) bool {
	return !taken && a.State == StateActiveUnacked && now.Sub(a.StartedAt) >= after
}

// escalations takes the escalation steps due at now. The caller holds e.mu.
func (e *Engine) escalations(now time.Time) {
	for _, rc := range e.receivers {
		if len(rc.pol.escalate) == 0 {
			continue
		}
		for _, a := range e.alerts {
			if a.State != StateActiveUnacked || a.Rule == MaintenanceRule || !rc.pol.wants(&a.Alert) {
				continue
			}
			if d := e.devices[a.Device]; d != nil && d.maint {
				continue // suppressed while under maintenance, as reminders are
			}
			if a.ShelvedUntil != nil {
				continue // a shelved alarm notifies nobody; it escalates once unshelved
			}
			for i, step := range rc.pol.escalate {
				key := rc.name + "#" + strconv.Itoa(i)
				if !escalationDue(&a.Alert, a.Escalated[key], step.After, now) {
					continue
				}
				if a.Escalated == nil {
					a.Escalated = map[string]bool{}
				}
				a.Escalated[key] = true
				e.escalate(a, rc, step, now)
			}
		}
	}
}

// escalate queues one step's alert.escalated for its receiver.
func (e *Engine) escalate(a *alertRec, from *receiver, step EscalateStep, now time.Time) {
	r := e.byName[a.Rule]
	if r == nil {
		r = &rule{name: a.Rule, kind: condThreshold}
	}
	zh := e.opts.Language != LangEN
	waited := now.Sub(a.StartedAt).Truncate(time.Second)
	if waited >= time.Minute {
		waited = waited.Truncate(time.Minute)
	}
	text := message(msgInput{lang: e.opts.Language, rule: r, alert: &a.Alert, typ: TypeFiring,
		levelIx: e.levelIndex(a), ptLabel: e.meta[a.Device].PointLabels[a.Point]})
	prefix := "Escalated, not acknowledged for " + fmtDur(false, waited) + ": "
	if zh {
		prefix = "【升级通知：" + fmtDur(true, waited) + "未确认】"
	}
	if e.opts.SiteName != "" {
		if zh {
			prefix = "【" + e.opts.SiteName + "】" + prefix
		} else {
			prefix = "[" + e.opts.SiteName + "] " + prefix
		}
	}
	a.Seq++
	shown := a.Alert
	shown.Message = prefix + text
	body, err := encodePayload(TypeEscalated, now, &shown)
	if err != nil {
		e.log.Error("encode notification", "alert", a.ID, "err", err)
		return
	}
	e.cs.msgs = append(e.cs.msgs, queued{receiver: step.To, msg: outMsg{ID: messageID(a.ID, a.Seq), Type: TypeEscalated,
		AlertID: a.ID, Body: body, Created: now, Severity: a.Severity}})
	e.markDirty(a)
	e.log.Info("alert escalated", "alert", a.ID, "key", a.Key, "from", from.name, "to", step.To, "after", step.After)
}
