package alerting

import (
	"errors"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// This file holds alarm management (ISA-18.2 / IEC 62682): shelving,
// out of service, latching, chattering and the alarm-flood counter. The
// decisions are made under Engine.mu, like the lifecycle's, and committed
// with the transition they cause.

// Management states: Alert.State shows one of them instead of the
// lifecycle state while it applies (Alert.Lifecycle then keeps the
// lifecycle state). An alert in none of them shows its lifecycle state as
// before.
const (
	StateShelved    State = "shelved"    // a duty officer shelved it: no notifications until shelved_until
	StateSuppressed State = "suppressed" // its device is in maintenance or out of service
	StateLatched    State = "latched"    // back to normal, held active until reset
	StateChattering State = "chattering" // firing too often: notifications held until it settles
)

// Errors of the alarm management actions.
var (
	// ErrNeedsBy: every action names who takes it.
	ErrNeedsBy = errors.New("by is required: the name of who takes the action")
	// ErrAlertEnded: the occurrence has ended; there is nothing to shelve.
	ErrAlertEnded = errors.New("alert has ended")
	// ErrNotLatched: only a latched alert whose condition has returned to
	// normal can be reset.
	ErrNotLatched = errors.New("alert is not latched: its condition is still present, or its rule does not latch")
	// ErrShelveDuration: shelving is for a positive time up to max_shelve.
	ErrShelveDuration = errors.New("for must be a positive duration no longer than alerting.max_shelve")
	// ErrUnknownDevice: no configured device and no device heard from has this id.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrOutOfServiceUntil: until must lie in the future, at most
	// MaxOutOfService ahead.
	ErrOutOfServiceUntil = errors.New("until must be a time in the future, at most 31 days ahead")
	// ErrGatewayDevice: the gateway's own alarms cannot be taken out of service.
	ErrGatewayDevice = errors.New("the gateway itself cannot be put out of service")
)

// action is a duty officer's action being recorded: its `by` and comment
// go into the `alert` point and the log line of the transition.
type action struct{ by, comment string }

// outOfService is a device taken out of service until a time.
type outOfService struct {
	since, until time.Time
	by, reason   string
}

// chatterOf fills a rule's chattering setting from the alerting level's
// and the defaults.
func chatterOf(rule, site Chatter) Chatter {
	c := rule
	if c.Count <= 0 {
		c.Count = site.Count
	}
	if c.Window <= 0 {
		c.Window = site.Window
	}
	if c.Count <= 1 {
		c.Count = DefaultChatterCount
	}
	if c.Window <= 0 {
		c.Window = DefaultChatterWindow
	}
	return c
}

// display is an alert as the API and notifications show it: a management
// state in State (the lifecycle in Lifecycle), Suppressed while its device
// is in maintenance.
func (e *Engine) display(a *alertRec) Alert {
	x := a.Alert
	x.Value = cleanFloat(x.Value)
	if !x.State.Open() {
		return x
	}
	if d := e.devices[a.Device]; d != nil && d.maint && a.Rule != MaintenanceRule {
		x.Suppressed = true
	}
	var st State
	switch {
	case x.ShelvedUntil != nil:
		st = StateShelved
	case x.Suppressed:
		st = StateSuppressed
	case x.Latched:
		st = StateLatched
	case x.Chattering:
		st = StateChattering
	}
	if st != "" {
		x.Lifecycle, x.State = x.State, st
	}
	return x
}

// notifies decides whether a transition of a goes to the receivers. A
// duty officer's action always does; otherwise a shelved alert notifies
// nothing, and a chattering one only its alert.chattering (or a severity
// never reached before, e.force).
func (e *Engine) notifies(a *alertRec, typ string) bool {
	switch {
	case e.act != nil, typ == TypeShelved, typ == TypeUnshelved, typ == TypeAcknowledged,
		typ == TypeSuppressed, typ == TypeUnsuppressed:
		return true
	case a.ShelvedUntil != nil:
		return false
	case a.Chattering:
		return typ == TypeChattering || e.force
	}
	return true
}

// held handles a transition of an alert that a latch or chattering holds
// and reports whether it did; otherwise the lifecycle applies as usual.
//   - A latched alert stays active while its condition is normal; when the
//     condition returns, the latch is off and the alert carries on.
//   - A latching rule's active alert whose condition returns to normal is
//     latched (alert.latched) instead of resolved.
//   - A chattering alert follows its condition without notifying: see chatterStep.
func (e *Engine) held(r *rule, t *track, out outcome, now time.Time) bool {
	a := t.alert
	if a == nil || !a.State.Open() {
		return false
	}
	switch {
	case a.Latched && !out.Active:
		return true
	case a.Latched:
		a.Latched = false
		e.markDirty(a)
		return false
	case a.Chattering:
		e.chatterStep(r, t, out, now)
		return true
	case !out.Active && r.latch && a.Status == StatusFiring:
		a.Latched, a.Value, a.ChangedAt = true, out.Value, now
		e.emit(r, a, TypeLatched, now, e.levelIndex(a), nil)
		return true
	}
	return false
}

// fire is called for every new occurrence: it counts the alarm for the
// flood rate and, when the condition has fired chatter.count times within
// chatter.window, marks the occurrence chattering and returns
// alert.chattering instead of alert.firing.
func (e *Engine) fire(r *rule, t *track, a *alertRec, now time.Time) string {
	if r.name != AlarmFloodRule {
		e.fired = append(e.fired, now)
		if len(e.fired) > maxFloodHistory {
			e.fired = e.fired[len(e.fired)-maxFloodHistory:]
		}
	}
	var chattering bool
	if t.fires, chattering = chatterDue(t.fires, now, r.chatter); !chattering {
		return TypeFiring
	}
	a.Chattering, t.chatLast = true, now
	e.chatter[a] = t
	return TypeChattering
}

// chatterDue records a firing at now in fires (the latest firings of one
// condition, oldest first) and reports whether the condition is
// chattering: it has fired c.Count times within c.Window. It returns the
// firings to keep: at most c.Count-1 of them, none once chattering.
func chatterDue(fires []time.Time, now time.Time, c Chatter) ([]time.Time, bool) {
	fires = append(fires, now)
	n := 0
	for n < len(fires) && (now.Sub(fires[n]) >= c.Window || len(fires)-n > c.Count) {
		n++
	}
	fires = append(fires[:0], fires[n:]...)
	if len(fires) < c.Count {
		return fires, false
	}
	return fires[:0], true
}

// chatterStep follows the condition of a chattering alert: the alert
// stays one occurrence (a return to normal does not end it, a return of
// the condition makes no new one), its status and value follow the
// condition, and every transition is logged and written as an `alert`
// point, but nothing is notified — except a severity worse than any this
// occurrence reached before, which is news the desk must get.
func (e *Engine) chatterStep(r *rule, t *track, out outcome, now time.Time) {
	a := t.alert
	t.chatLast = now
	if !out.Active {
		if a.Status != StatusFiring {
			return
		}
		at := now
		a.Status, a.Value, a.ResolvedAt, a.ChangedAt = StatusResolved, out.Value, &at, now
		e.emit(r, a, TypeResolved, now, -1, nil)
		return
	}
	typ := TypeChanged
	if a.Status != StatusFiring {
		typ = TypeFiring
		a.Status, a.ResolvedAt = StatusFiring, nil
	} else if out.Level == a.Level && out.Severity == a.Severity {
		return
	}
	news := severityRank(out.Severity) > severityRank(a.PeakSeverity)
	escalate(&a.Alert, out)
	a.Level, a.Severity, a.Value, a.Threshold = out.Level, out.Severity, out.Value, out.Threshold
	a.ChangedAt = now
	if news {
		typ = TypeChanged
		e.force = true
		defer func() { e.force = false }()
	}
	e.emit(r, a, typ, now, e.levelIndex(a), nil)
}

// settleChatter ends the chattering of alerts whose condition has stayed
// in one state for the chatter window: the desk gets the truth — the
// alert as firing if it is active, resolved if it is not.
func (e *Engine) settleChatter(now time.Time) {
	for a, t := range e.chatter {
		r := e.byName[a.Rule]
		if !a.State.Open() || !a.Chattering || r == nil {
			a.Chattering = false
			delete(e.chatter, a)
			continue
		}
		if now.Sub(t.chatLast) < r.chatter.Window {
			continue
		}
		if d := e.devices[a.Device]; d != nil && (r.kind == condThreshold || r.kind == condRate || r.kind == condBool) &&
			!e.readingGood(d, a.Point) {
			continue // its reading is not good now: the truth can wait for a good one
		}
		a.Chattering = false
		delete(e.chatter, a)
		if a.Status == StatusFiring {
			e.emit(r, a, TypeFiring, now, e.levelIndex(a), nil)
			continue
		}
		if a.Acknowledged {
			a.State = StateNormal
		} else {
			a.State = StateClearedUnacked
		}
		a.ChangedAt = now
		e.emit(r, a, TypeResolved, now, -1, nil)
	}
}

// readingGood reports whether device d's latest reading of point is good:
// answered, not bad, not in maintenance (a fault spoils every point but
// the fault bit itself).
func (e *Engine) readingGood(d *devState, point string) bool {
	faultBit := point == e.meta[d.id].FaultPoint || point == gateway.FieldFault
	return !d.maint && d.seen.Failures == 0 && (d.reason == "" || d.reason == gateway.ReasonFault && faultBit)
}

// expire ends the shelving and the out-of-service periods whose time is
// up, releases settled chattering alerts and judges the alarm rate.
func (e *Engine) expire(now time.Time) {
	for _, a := range e.shelved {
		if a.ShelvedUntil != nil && !now.Before(*a.ShelvedUntil) {
			e.unshelve(a, GatewayActor, "shelving expired", now)
		}
	}
	for _, d := range e.oosDevs {
		if d.oos != nil && !now.Before(d.oos.until) {
			e.backInService(d, GatewayActor, "out of service expired", now)
		}
	}
	e.settleChatter(now)
	e.judgeFlood(now)
}

// restoreStates takes back what a stored alert says of alarm management.
func (e *Engine) restoreStates(a *alertRec, now time.Time) {
	if a.ShelvedUntil != nil {
		e.shelved[a.ID] = a
	}
	if a.Rule != AlarmFloodRule && a.Rule != MaintenanceRule && now.Sub(a.StartedAt) < floodWindow && !a.StartedAt.After(now) {
		e.fired = append(e.fired, a.StartedAt)
		for i := len(e.fired) - 1; i > 0 && e.fired[i].Before(e.fired[i-1]); i-- {
			e.fired[i], e.fired[i-1] = e.fired[i-1], e.fired[i]
		}
	}
}

// Shelve shelves occurrence id for d on behalf of by (required), with a
// reason: its firing, changed, resolved, reminder and chattering
// notifications are held back until then (the API and the `alert` points
// still follow it); alert.shelved goes to the receivers now and
// alert.unshelved when the time is up, after which an alert still active
// is unacknowledged again. Shelving a shelved alert sets a new time.
// d must be positive and at most alerting.max_shelve (ErrShelveDuration);
// an ended alert cannot be shelved (ErrAlertEnded).
func (e *Engine) Shelve(id, by, reason string, d time.Duration) (Alert, error) {
	var bad error
	if d <= 0 || d > e.maxShelv {
		bad = ErrShelveDuration
	}
	return openAlerts.act(e, "shelve", id, by, reason, bad, func(a *alertRec, by string, now time.Time) (bool, error) {
		at, until := now, now.Add(d)
		a.ShelvedAt, a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = &at, &until, by, reason
		e.shelved[a.ID] = a
		e.actAs(by, reason, func() { e.emit(e.byName[a.Rule], a, TypeShelved, now, e.levelIndex(a), nil) })
		return true, nil
	})
}

// Unshelve ends the shelving of occurrence id early, on behalf of by. An
// alert that is not shelved is returned unchanged.
func (e *Engine) Unshelve(id, by string) (Alert, error) {
	return anyAlerts.act(e, "unshelve", id, by, "", nil, func(a *alertRec, by string, now time.Time) (bool, error) {
		if a.ShelvedUntil == nil {
			return false, nil
		}
		e.unshelve(a, by, "", now)
		return true, nil
	})
}

// unshelve ends a's shelving: alert.unshelved with where it stands now;
// if it is still active it is unacknowledged again, and reminders count
// from now.
func (e *Engine) unshelve(a *alertRec, by, comment string, now time.Time) {
	a.ShelvedAt, a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = nil, nil, "", ""
	delete(e.shelved, a.ID)
	if a.State.Open() && a.Status == StatusFiring {
		a.State, a.Acknowledged, a.AcknowledgedAt, a.AcknowledgedBy, a.Comment = StateActiveUnacked, false, nil, "", ""
		a.AckedSeverity = ""
	}
	a.ChangedAt = now
	e.actAs(by, comment, func() { e.emit(e.byName[a.Rule], a, TypeUnshelved, now, e.levelIndex(a), nil) })
}

// Reset ends a latched alert whose condition has returned to normal, on
// behalf of by: alert.resolved with reason reset. Resetting acknowledges
// it too if it was not. ErrNotLatched while its condition is still
// present (or its rule does not latch); ErrAlertEnded once it has ended.
func (e *Engine) Reset(id, by, comment string) (Alert, error) {
	return openAlerts.act(e, "reset", id, by, comment, nil, func(a *alertRec, by string, now time.Time) (bool, error) {
		if !a.Latched {
			return false, ErrNotLatched
		}
		next, _ := applyOutcome(&a.Alert, outcome{Value: a.Value}, now, nil)
		a.Alert = *next
		a.Latched, a.Reason, a.ResetBy = false, ReasonReset, by
		if !a.Acknowledged {
			at := now
			a.Acknowledged, a.AcknowledgedAt, a.AcknowledgedBy, a.Comment = true, &at, by, comment
		}
		a.State = StateNormal
		e.actAs(by, comment, func() { e.emit(e.byName[a.Rule], a, TypeResolved, now, -1, nil) })
		return true, nil
	})
}

// A target is what the duty officer's actions work on (alerts, devices):
// how one is found by its id under Engine.mu, and how it is answered.
type target[T, V any] struct {
	find func(e *Engine, id string) (T, error)
	show func(e *Engine, x T) V
}

var (
	anyAlerts  = target[*alertRec, Alert]{find: (*Engine).lookupAlert, show: (*Engine).display}
	openAlerts = target[*alertRec, Alert]{find: (*Engine).openAlert, show: (*Engine).display}
	devices    = target[*devState, DeviceService]{find: (*Engine).knownDevice, show: func(_ *Engine, d *devState) DeviceService { return serviceOf(d) }}
)

// act carries out the duty officer's action what on the target id, on
// behalf of by with comment: it checks both texts, then bad (what else is
// wrong with the arguments), takes Engine.mu, looks the target up and lets
// do change it at now. do returns false when there is nothing to do (the
// target is answered unchanged and nothing is committed), or an error that
// refuses the action. A change is answered only once it is on disk.
func (t target[T, V]) act(e *Engine, what, id, by, comment string, bad error, do func(x T, by string, now time.Time) (bool, error)) (V, error) {
	var zero V
	by, err := checkActor(by, comment)
	if err != nil {
		return zero, err
	}
	if bad != nil {
		return zero, bad
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	x, err := t.find(e, id)
	if err != nil {
		return zero, err
	}
	changed, err := do(x, by, e.opts.Now())
	switch {
	case err != nil:
		return zero, err
	case !changed:
		return t.show(e, x), nil
	}
	return t.show(e, x), e.commitActionErr(what)
}

// lookupAlert returns occurrence id, open or ended.
func (e *Engine) lookupAlert(id string) (*alertRec, error) {
	if e.st == nil {
		return nil, errStoreClosed
	}
	a := e.alerts[id]
	if a == nil {
		return nil, ErrUnknownAlert
	}
	return a, nil
}

// openAlert returns open occurrence id (not a maintenance record).
func (e *Engine) openAlert(id string) (*alertRec, error) {
	a, err := e.lookupAlert(id)
	if err != nil {
		return nil, err
	}
	if !a.State.Open() || a.Rule == MaintenanceRule {
		return nil, ErrAlertEnded
	}
	return a, nil
}

// actAs runs f as an action of by: what f emits or records (notification,
// `alert` point, log line) says who did it and why.
func (e *Engine) actAs(by, comment string, f func()) {
	e.act = &action{by: by, comment: comment}
	defer func() { e.act = nil }()
	f()
}

// commitAction commits an action on a; it is answered only once it is on disk.
func (e *Engine) commitAction(a *alertRec, what string) (Alert, error) {
	return e.display(a), e.commitActionErr(what)
}

// commitActionErr commits an action: an error when the store refused it
// (the engine retries; the caller must not report success).
func (e *Engine) commitActionErr(what string) error {
	e.commitLocked()
	if len(e.cs.alerts) > 0 {
		return errors.New("commit " + what + ": store refused it; retrying")
	}
	return nil
}

// checkActor trims by and checks both texts.
func checkActor(by, comment string) (string, error) {
	by = strings.TrimSpace(by)
	switch {
	case by == "":
		return "", ErrNeedsBy
	case len(by) > maxAckText || len(comment) > maxAckText:
		return "", ErrAckTooLong
	case !validActor(by, comment):
		return "", ErrByNotPrintable
	}
	return by, nil
}

// DeviceService is whether a device is out of service, as the API shows it.
type DeviceService struct {
	Device       string     `json:"device"`
	Label        string     `json:"label,omitempty"`
	OutOfService bool       `json:"out_of_service"`
	Since        *time.Time `json:"since,omitempty"`
	Until        *time.Time `json:"until,omitempty"`
	By           string     `json:"by,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

func serviceOf(d *devState) DeviceService {
	s := DeviceService{Device: d.id}
	if o := d.oos; o != nil {
		u, since := o.until.UTC(), o.since.UTC()
		s.OutOfService, s.Since, s.Until, s.By, s.Reason = true, &since, &u, o.by, o.reason
	}
	return s
}

// SetOutOfService takes a device out of service until a time, on behalf
// of by: it is in maintenance exactly as when its maintenance_point is
// on — its alarms are suppressed (one alert.suppressed), its readings
// judge nothing, and when it is back in service (at until, or through
// BackInService) its conditions are judged afresh. until must be in the
// future and at most MaxOutOfService ahead. Setting it again moves until.
func (e *Engine) SetOutOfService(device, by, reason string, until time.Time) (DeviceService, error) {
	return devices.act(e, "out of service", device, by, reason, nil, func(d *devState, by string, now time.Time) (bool, error) {
		if !until.After(now) || until.Sub(now) > MaxOutOfService {
			return false, ErrOutOfServiceUntil
		}
		since := now
		if d.oos != nil {
			since = d.oos.since // moving until does not restart the period
		}
		d.oos = &outOfService{since: since, until: until, by: by, reason: reason}
		e.oosDevs[d.id] = d
		e.snapOOS()
		e.actAs(by, reason, func() {
			if !d.maint {
				d.maint = true
				e.suppress(d, now)
			} else if a := d.maintAlert; a != nil {
				// Already in maintenance: the record says until when, no second
				// alert.suppressed.
				a.OutOfServiceSince, a.OutOfServiceUntil, a.OutOfServiceBy, a.OutOfServiceReason = &since, &until, by, reason
				e.record(a, TypeSuppressed, now)
			}
		})
		return true, nil
	})
}

// BackInService ends a device's out-of-service period early, on behalf of
// by. A device that is not out of service is returned unchanged.
func (e *Engine) BackInService(device, by string) (DeviceService, error) {
	return devices.act(e, "back in service", device, by, "", nil, func(d *devState, by string, now time.Time) (bool, error) {
		if d.oos == nil {
			return false, nil
		}
		e.backInService(d, by, "", now)
		return true, nil
	})
}

// backInService ends d's out-of-service period; unless its
// maintenance_point still holds it in maintenance, its maintenance ends
// (alert.unsuppressed) and its conditions are judged afresh.
func (e *Engine) backInService(d *devState, by, comment string, now time.Time) {
	d.oos = nil
	delete(e.oosDevs, d.id)
	e.snapOOS()
	e.actAs(by, comment, func() {
		if !d.pointMaint {
			d.maint = false
			e.unsuppress(d, now)
		} else if a := d.maintAlert; a != nil {
			a.OutOfServiceSince, a.OutOfServiceUntil, a.OutOfServiceBy, a.OutOfServiceReason = nil, nil, "", ""
			e.record(a, TypeUnsuppressed, now)
		}
	})
}

// OutOfService reports whether device is out of service. Sources call it
// to mark the device's readings uncertain (reason maintenance); it is safe
// for concurrent use and does not wait for the engine.
func (e *Engine) OutOfService(device string) bool {
	m := e.oosSnap.Load()
	return m != nil && (*m)[device]
}

// snapOOS publishes the set of devices out of service for OutOfService.
func (e *Engine) snapOOS() {
	m := make(map[string]bool, len(e.oosDevs))
	for id := range e.oosDevs {
		m[id] = true
	}
	e.oosSnap.Store(&m)
}

// knownDevice returns a configured device, or one heard from.
func (e *Engine) knownDevice(id string) (*devState, error) {
	if e.st == nil {
		return nil, errStoreClosed
	}
	if id == gateway.GatewayDevice {
		return nil, ErrGatewayDevice
	}
	m, known := e.meta[id]
	if d := e.devices[id]; d != nil {
		return d, nil
	}
	if !known {
		return nil, ErrUnknownDevice
	}
	d := e.device(id, m.Kind, false, e.opts.Now())
	if d == nil {
		return nil, ErrUnknownDevice
	}
	return d, nil
}

// record writes a change of a that notifies no one: the alert, its
// `alert` point and its log line.
func (e *Engine) record(a *alertRec, typ string, now time.Time) {
	a.ChangedAt = now
	if e.acc != nil || !e.started.Load() {
		e.cs.points = append(e.cs.points, e.alertPoint(a, typ, now))
	}
	e.markDirty(a)
	e.logTransition(a, typ, nil)
}

// The alarm flood: more than FloodLimit new alarms within floodWindow
// (ISA-18.2: an operator receiving more than 10 alarms in 10 minutes is in
// a flood) raises AlarmFloodRule; it resolves at FloodClear or fewer, a
// margin so that a rate hovering at the limit does not flap.
const (
	FloodLimit  = 10
	FloodClear  = 7
	floodWindow = 10 * time.Minute
	// maxFloodHistory bounds the firing times kept: far beyond any limit
	// that matters, so a storm of alarms costs a fixed amount of memory.
	maxFloodHistory = 10000
	// FieldAlarmRate is the point of the flood alert: the alarms of the
	// last 10 minutes.
	FieldAlarmRate = "alarm_rate_10m"
)

// alarmRate counts the alarms fired in the last 10 minutes.
func (e *Engine) alarmRate(now time.Time) int {
	n := 0
	for n < len(e.fired) && now.Sub(e.fired[n]) >= floodWindow {
		n++
	}
	if n > 0 {
		e.fired = append(e.fired[:0], e.fired[n:]...)
	}
	return len(e.fired)
}

// judgeFlood evaluates the alarm rate against the flood rule.
func (e *Engine) judgeFlood(now time.Time) {
	t := e.floodTrack
	if t == nil {
		r := e.byName[AlarmFloodRule]
		if r == nil {
			return
		}
		t = e.track(trackKey{r.idx, gateway.GatewayDevice, FieldAlarmRate}, nil)
		t.kind = gateway.MeasurementGateway
		e.floodTrack = t
	}
	x := float64(e.alarmRate(now))
	if t.value == x && t.cond.Level == t.cond.Target {
		return
	}
	r := e.rules[t.key.rule]
	t.value = x
	if t.alert != nil && t.alert.Status == StatusFiring && t.alert.Value != x {
		t.alert.Value = x
		e.markDirty(t.alert)
	}
	e.advance(r, t, r.target(x, t.cond.Level), now, nil)
}
