package alerting

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// ReasonDecommissioned is Alert.Reason of an alert ended because an
// engineer decommissioned its device (Engine.Decommission): not back to
// normal, the device is no longer watched.
const ReasonDecommissioned = "decommissioned"

// ErrConfiguredDevice is returned by Decommission for a device of the
// configuration (a Modbus device, a declared MQTT device): the
// configuration, not the API, removes it.
var ErrConfiguredDevice = errors.New("the device is in the configuration (modbus or mqtt.devices): remove it there and restart")

// goneFor is how long the engine ignores device_status points of a
// decommissioned device stamped before its decommissioning: those the
// source committed just before it forgot the device.
const goneFor = 10 * time.Minute

// Decommissioned is the answer to a decommissioning: the device, who, why,
// when, and the alerts it ended.
type Decommissioned struct {
	Device string    `json:"device"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	Ended  []string  `json:"ended"` // ids of the alerts ended, reason decommissioned
}

// SetForget sets, before Run, the hook that makes the source that learnt
// a device from traffic forget it (stop tracking its liveness and strike
// it from the devices it remembers across restarts). Decommission calls
// it first; its error (ErrUnknownDevice, ErrConfiguredDevice, or another)
// stops the decommissioning unless it is ErrUnknownDevice and the engine
// still knows the device.
func (e *Engine) SetForget(forget func(device string) error) { e.forget = forget }

// Decommission removes a device learnt from traffic that an engineer took
// away for good, on behalf of by: the source forgets it, every active
// alert of the device ends with alert.resolved, reason decommissioned (its
// message says it is no longer watched, never "back to normal"), a
// maintenance or out-of-service period ends with alert.unsuppressed, and
// the engine forgets what it knew of it. Each change is logged and written
// as an `alert` point with by and the reason. Alerts already back to normal
// stay until acknowledged. Devices of the configuration are refused
// (ErrConfiguredDevice). Should the device speak again, it is learnt
// afresh like any new device.
func (e *Engine) Decommission(device, by, reason string) (Decommissioned, error) {
	by, err := checkActor(by, reason)
	if err != nil {
		return Decommissioned{}, err
	}
	e.mu.Lock()
	switch {
	case e.st == nil:
		e.mu.Unlock()
		return Decommissioned{}, errStoreClosed
	case device == gateway.GatewayDevice:
		e.mu.Unlock()
		return Decommissioned{}, ErrGatewayDevice
	}
	if _, ok := e.meta[device]; ok {
		e.mu.Unlock()
		return Decommissioned{}, ErrConfiguredDevice
	}
	_, known := e.devices[device]
	e.mu.Unlock()

	// The source first, outside the engine's lock (it writes its devices
	// file): from now on it writes no offline point for the device.
	if e.forget != nil {
		if err := e.forget(device); err != nil && !(errors.Is(err, ErrUnknownDevice) && known) {
			return Decommissioned{}, err
		}
	} else if !known {
		return Decommissioned{}, ErrUnknownDevice
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	out := Decommissioned{Device: device, By: by, Reason: reason, At: now.UTC(), Ended: []string{}}
	e.actAs(by, reason, func() {
		if d := e.devices[device]; d != nil && d.maint {
			if d.oos != nil {
				d.oos = nil
				delete(e.oosDevs, d.id)
				e.snapOOS()
			}
			d.maint, d.pointMaint = false, false
			e.unsuppress(d, now)
		}
		for key, t := range e.tracks {
			if key.device != device {
				continue
			}
			if a := t.alert; a != nil && a.Status == StatusFiring && a.State.Open() {
				a.DecommissionedBy = by
				e.endWithReason(a, ReasonDecommissioned, now)
				out.Ended = append(out.Ended, a.ID)
			}
			delete(e.tracks, key)
		}
	})
	delete(e.devices, device)
	if e.gone == nil {
		e.gone = map[string]time.Time{}
	}
	e.gone[device] = now
	slices.Sort(out.Ended)
	e.log.Info("device decommissioned: no longer watched", "device", device, "by", by, "reason", reason, "alerts_ended", len(out.Ended))
	return out, e.commitActionErr("decommissioning")
}

// goneStatus reports whether a device_status sample of device stamped at
// comes from before the device was decommissioned (it is then ignored),
// and forgets decommissionings older than goneFor.
func (e *Engine) goneStatus(device string, at, now time.Time) bool {
	if len(e.gone) == 0 {
		return false
	}
	for id, t := range e.gone {
		if now.Sub(t) > goneFor {
			delete(e.gone, id)
		}
	}
	t, ok := e.gone[device]
	return ok && !at.After(t)
}

func (e *Engine) handleDecommission(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeAction(w, r, `{"by":"...","reason":"..."}`)
	if !ok {
		return
	}
	out, err := e.Decommission(r.PathValue("id"), req.By, req.text())
	if errors.Is(err, ErrConfiguredDevice) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	writeResult(w, out, err)
}
