package alerting

import (
	"strconv"
	"strings"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
)

// VoiceMissed is the condition of a rule on checkpoint passages
// (`match: {kind: checkpoint_passage}`): a passage reported with
// voice_played false while the forest fire danger level is at least
// MinLevel raises an alert for that checkpoint. Further misses while it is
// active extend it (one alert per occurrence); it resolves auto_resolve
// (default 10m) after the last miss.
//
// The engine knows the level from the fire_danger points it observes (the
// latest of them). After a restart the fire-danger rating hands it the
// level it last rated (Engine.RestoreDangerLevel), so a miss is judged at
// once; without a rating ever made it knows none, and a miss then raises
// nothing.
type VoiceMissed struct {
	MinLevel int `yaml:"min_level"` // 1–5
}

// Level and point of voice_missed alerts.
const (
	levelVoiceMissed = "voice_missed"
	pointVoicePlayed = "voice_played"
)

// compileVoice compiles a voice_missed condition into r.
func compileVoice(r *rule, c RuleConfig) {
	r.kind = condVoice
	r.autoResolve = c.AutoResolve
	if r.autoResolve <= 0 {
		r.autoResolve = DefaultAutoResolve
	}
	r.levels = []level{{name: levelVoiceMissed, severity: firstNonEmpty(c.Severity, SeverityOrange),
		above: true, limit: float64(c.VoiceMissed.MinLevel), extreme: 1}}
}

// RestoreDangerLevel gives the engine the fire danger level last rated
// before a restart (the rating keeps it in its state file), so that
// voice_missed rules judge passages at once rather than from the next
// station reading. A level the engine has already observed since it
// started is newer and kept; level 0 (none rated yet) changes nothing.
func (e *Engine) RestoreDangerLevel(level int) {
	if level <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.danger == 0 {
		e.danger = float64(level)
		e.log.Info("fire danger level restored for voice_missed rules", "level", level)
	}
}

// noteDanger keeps the latest fire danger level from a fire_danger point.
func (e *Engine) noteDanger(s *sample) {
	if s.typ == sampleValue && s.kind == gateway.MeasurementFireDanger && s.point == gateway.FieldDangerLevel {
		e.danger = s.v
	}
}

// voiceMissed judges a passage's voice_played false against the
// voice_missed rules that match the checkpoint.
func (e *Engine) voiceMissed(d *devState, s *sample, now time.Time) {
	for _, r := range e.rules {
		if r.kind != condVoice || !r.matches(s.kind, s.device, s.point) || e.danger < r.levels[0].limit {
			continue
		}
		t := e.track(trackKey{r.idx, s.device, pointVoicePlayed}, d)
		if t.kind == "" {
			t.kind = s.kind
		}
		t.value = e.danger
		t.cond = condState{Level: 0, Target: 0}
		if t.alert != nil && t.alert.Status == StatusFiring {
			t.alert.AutoResolveAt = now.Add(r.autoResolve)
			t.alert.Value = max(t.alert.Value, e.danger)
			e.markDirty(t.alert)
			continue
		}
		e.transition(r, t, 0, now)
		if t.alert != nil {
			t.alert.AutoResolveAt = now.Add(r.autoResolve)
		}
	}
}

// writeVoice writes the message of an active voice_missed alert.
func writeVoice(b *strings.Builder, zh bool, r *rule, a *Alert, dev string) {
	lvl := strconv.Itoa(int(a.Value))
	lim := strconv.Itoa(int(r.levels[0].limit))
	if zh {
		b.WriteString(dev + " 有人员车辆通过但未播放防火语音提示，当前森林火险等级为 " + lvl + " 级（" + lim + " 级及以上须提示），请核查卡口广播设备")
		return
	}
	b.WriteString(dev + ": a passage without the fire-prevention voice warning while the fire danger level is " + lvl +
		" (warnings are required from level " + lim + "); check the checkpoint's speaker")
}

// writeVoiceResolved writes the message of a resolved voice_missed alert.
func writeVoiceResolved(b *strings.Builder, zh bool, r *rule, dev string) {
	if zh {
		b.WriteString(dev + " 语音提示未播放告警已解除：" + fmtDur(zh, r.autoResolve) + "内未再发现未播放")
		return
	}
	b.WriteString(dev + " voice warning alert resolved: no passage without it for " + fmtDur(zh, r.autoResolve))
}
