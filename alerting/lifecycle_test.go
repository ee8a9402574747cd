package alerting

import (
	"testing"
	"time"
)

func TestApplyOutcome(t *testing.T) {
	fresh := func() Alert { return Alert{ID: "new", Rule: "r", Device: "GD-101", Point: "ch4"} }
	active := func(state State, level, sev string) *Alert {
		return &Alert{ID: "old", Status: StatusFiring, State: state, Level: level, Severity: sev, StartedAt: t0,
			Acknowledged: state == StateActiveAcked}
	}
	ackedAt := func(a *Alert, sev string) *Alert { a.AckedSeverity = sev; return a }
	cleared := &Alert{ID: "old", Status: StatusResolved, State: StateClearedUnacked, Level: "high", Severity: "yellow", StartedAt: t0}
	ended := &Alert{ID: "old", Status: StatusResolved, State: StateNormal, Level: "high", Severity: "yellow", StartedAt: t0, Acknowledged: true}
	hi := outcome{Active: true, Level: "high", Severity: "yellow", Value: 30}
	hh := outcome{Active: true, Level: "high-high", Severity: "red", Value: 57}
	off := outcome{Value: 10}
	tests := []struct {
		name      string
		prev      *Alert
		out       outcome
		wantType  string
		wantID    string
		wantState State
		wantAcked bool
	}{
		{"nothing open, active: fires", nil, hi, TypeFiring, "new", StateActiveUnacked, false},
		{"ended alert, active: a new alert fires", ended, hi, TypeFiring, "new", StateActiveUnacked, false},
		{"nothing open, normal: nothing", nil, off, "", "", "", false},
		{"active, same level: nothing", active(StateActiveUnacked, "high", "yellow"), hi, "", "old", StateActiveUnacked, false},
		{"escalation: changed", active(StateActiveUnacked, "high", "yellow"), hh, TypeChanged, "old", StateActiveUnacked, false},
		{"escalation of an acked alert needs a new ack", active(StateActiveAcked, "high", "yellow"), hh, TypeChanged, "old", StateActiveUnacked, false},
		{"de-escalation keeps the ack", active(StateActiveAcked, "high-high", "red"), hi, TypeChanged, "old", StateActiveAcked, true},
		{"back to a severity acknowledged in this occurrence keeps the ack", ackedAt(active(StateActiveAcked, "high", "yellow"), "red"), hh, TypeChanged, "old", StateActiveAcked, true},
		{"above the severity acknowledged needs a new ack", ackedAt(active(StateActiveAcked, "high", "yellow"), "yellow"), hh, TypeChanged, "old", StateActiveUnacked, false},
		{"unacked clears: stays listed", active(StateActiveUnacked, "high", "yellow"), off, TypeResolved, "old", StateClearedUnacked, false},
		{"acked clears: ends", active(StateActiveAcked, "high", "yellow"), off, TypeResolved, "old", StateNormal, true},
		{"cleared-unacked, active again: a new occurrence fires", cleared, hh, TypeFiring, "new", StateActiveUnacked, false},
		{"cleared-unacked, still normal: nothing", cleared, off, "", "old", StateClearedUnacked, false},
		{"ended, normal: nothing", ended, off, "", "old", StateNormal, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(time.Minute)
			next, typ := applyOutcome(tc.prev, tc.out, now, fresh)
			if typ != tc.wantType {
				t.Fatalf("type %q, want %q", typ, tc.wantType)
			}
			if tc.wantID == "" {
				if next != nil {
					t.Fatalf("alert %+v, want none", next)
				}
				return
			}
			if next.ID != tc.wantID || next.State != tc.wantState || next.Acknowledged != tc.wantAcked {
				t.Fatalf("alert %s %s acked=%v, want %s %s acked=%v", next.ID, next.State, next.Acknowledged, tc.wantID, tc.wantState, tc.wantAcked)
			}
			if tc.out.Active && next.Level != tc.out.Level {
				t.Errorf("level %s, want %s", next.Level, tc.out.Level)
			}
			if typ == TypeFiring && (next.PeakLevel != tc.out.Level || next.PeakSeverity != tc.out.Severity) {
				t.Errorf("peak %s %s of a new occurrence", next.PeakLevel, next.PeakSeverity)
			}
			if typ == TypeFiring && tc.wantID == "new" && !next.StartedAt.Equal(now) {
				t.Errorf("started %v", next.StartedAt)
			}
			if typ == TypeResolved && (next.ResolvedAt == nil || next.Status != StatusResolved || next.Value != 10) {
				t.Errorf("resolved alert %+v", next)
			}
			if tc.prev != nil && tc.prev.ID == next.ID && !next.StartedAt.Equal(tc.prev.StartedAt) {
				t.Errorf("started_at moved")
			}
		})
	}
}

func TestAcknowledge(t *testing.T) {
	tests := []struct {
		state   State
		want    State
		changed bool
	}{
		{StateActiveUnacked, StateActiveAcked, true},
		{StateClearedUnacked, StateNormal, true},
		{StateActiveAcked, StateActiveAcked, false},
		{StateNormal, StateNormal, false},
	}
	for _, tc := range tests {
		a, changed := acknowledge(Alert{State: tc.state}, "张三", "on my way", t0)
		if a.State != tc.want || changed != tc.changed {
			t.Errorf("ack %s: %s changed=%v, want %s %v", tc.state, a.State, changed, tc.want, tc.changed)
		}
		if changed && (!a.Acknowledged || a.AcknowledgedBy != "张三" || a.Comment != "on my way" || !a.AcknowledgedAt.Equal(t0)) {
			t.Errorf("ack fields %+v", a)
		}
	}
}

func TestReminderDue(t *testing.T) {
	a := &Alert{State: StateActiveUnacked}
	tests := []struct {
		name   string
		state  State
		last   time.Duration
		repeat time.Duration
		now    time.Duration
		want   bool
	}{
		{"due", StateActiveUnacked, 0, 15 * time.Minute, 15 * time.Minute, true},
		{"not yet", StateActiveUnacked, 0, 15 * time.Minute, 14 * time.Minute, false},
		{"never with repeat 0", StateActiveUnacked, 0, 0, time.Hour, false},
		{"not once acknowledged", StateActiveAcked, 0, time.Minute, time.Hour, false},
		{"not once cleared", StateClearedUnacked, 0, time.Minute, time.Hour, false},
	}
	for _, tc := range tests {
		a.State = tc.state
		if got := reminderDue(a, at(tc.last), tc.repeat, at(tc.now)); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
	if reminderDue(a, time.Time{}, time.Minute, t0) {
		t.Error("due without a first notification")
	}
}

func TestAlertID(t *testing.T) {
	a := AlertID("combustible-gas", "GD-101", "ch4", t0)
	if a != AlertID("combustible-gas", "GD-101", "ch4", t0) || len(a) != 20 {
		t.Fatalf("id %q not stable", a)
	}
	for _, other := range []string{
		AlertID("combustible-gas", "GD-101", "ch4", t0.Add(time.Nanosecond)),
		AlertID("combustible-gas", "GD-10", "1ch4", t0),
		AlertID("combustible-ga", "sGD-101", "ch4", t0),
	} {
		if other == a {
			t.Errorf("ids collide: %s", a)
		}
	}
}

func TestMessages(t *testing.T) {
	gas := gasRule(t, 2, 0, 0)
	offline := mustRule(t, RuleConfig{Stale: &Stale{After: StaleAfter{Intervals: 3}}})
	fire := mustRule(t, RuleConfig{Event: &Event{Types: []string{"fire"}, MinConfidence: 0.7}})
	fault := mustRule(t, RuleConfig{State: &StateCondition{Value: true, Level: "fault"}})
	rate := mustRule(t, RuleConfig{Rate: &Rate{Above: f(30), Per: time.Minute}})
	o2 := o2Rule(t)
	fall := mustRule(t, RuleConfig{Rate: &Rate{Below: f(-30), Per: time.Minute}})
	labelled := mustRule(t, RuleConfig{Message: "立即疏散", Thresholds: []Threshold{{Level: "l1", Above: f(25), Label: "一级报警"}}})
	unnamed := mustRule(t, RuleConfig{Thresholds: []Threshold{{Level: "lvl_a", Above: f(5)}, {Level: "lvl_b", Above: f(8)}}})
	silent := mustRule(t, RuleConfig{Stale: &Stale{After: StaleAfter{Duration: 10 * time.Minute}}})
	label := "1号储罐区东侧可燃气体探测器"
	tests := []struct {
		name string
		lang string
		r    *rule
		lvl  int
		typ  string
		a    Alert
		want string
	}{
		{"zh second level with label", LangZH, gas, 1, TypeChanged,
			Alert{Device: "GD-101", Label: label, Point: "ch4", Level: "high-high", Value: float64(float32(57.3)), Unit: "%LEL", Threshold: f(50)},
			"1号储罐区东侧可燃气体探测器 甲烷 57.3 %LEL，超过二级报警值 50 %LEL"},
		{"en, no label", LangEN, gas, 1, TypeFiring,
			Alert{Device: "GD-101", Point: "ch4", Level: "high-high", Value: 57.3, Unit: "%LEL", Threshold: f(50)},
			"GD-101 ch4 57.3 %LEL above high-high 50 %LEL"},
		{"zh below", LangZH, o2, 0, TypeFiring,
			Alert{Device: "OX-1", Point: "o2", Level: "low", Value: 19.2, Unit: "%VOL", Threshold: f(19.5)},
			"OX-1 氧气 19.2 %VOL，低于低限报警值 19.5 %VOL"},
		{"zh resolved", LangZH, gas, -1, TypeResolved,
			Alert{Device: "GD-101", Label: label, Point: "ch4", Level: "high", Status: StatusResolved, Value: 20, Unit: "%LEL"},
			"1号储罐区东侧可燃气体探测器 甲烷 已恢复正常，当前 20 %LEL"},
		{"zh reminder", LangZH, gas, 0, TypeReminder,
			Alert{Device: "GD-101", Point: "ch4", Level: "high", Value: 30, Unit: "%LEL", Threshold: f(25)},
			"【未确认提醒】GD-101 甲烷 30 %LEL，超过一级报警值 25 %LEL"},
		{"zh acknowledged", LangZH, gas, 0, TypeAcknowledged,
			Alert{Device: "GD-101", Point: "ch4", Level: "high", Status: StatusFiring, Value: 30, Unit: "%LEL", Threshold: f(25), AcknowledgedBy: "张三"},
			"GD-101 甲烷 30 %LEL，超过一级报警值 25 %LEL（已由 张三 确认）"},
		{"zh offline", LangZH, offline, 0, TypeFiring, Alert{Device: "GD-101", Label: label, Point: "online", Level: "offline"},
			"1号储罐区东侧可燃气体探测器 离线：连续 3 个采集周期无数据或通信失败"},
		{"en back online", LangEN, offline, -1, TypeResolved, Alert{Device: "GD-101", Point: "online", Level: "offline", Status: StatusResolved},
			"GD-101 back online"},
		{"zh fire", LangZH, fire, 0, TypeFiring, Alert{Device: "CAM-07", Point: "fire", Level: "fire", Value: 0.9},
			"CAM-07 检测到明火，置信度 0.90"},
		{"zh detector fault", LangZH, fault, 0, TypeFiring, Alert{Device: "GD-101", Point: "fault", Level: "fault", Value: 1},
			"GD-101 故障"},
		{"en rate", LangEN, rate, 0, TypeFiring, Alert{Device: "TK-1", Point: "level_mm", Level: "rate", Value: 42, Unit: "mm", Threshold: f(30)},
			"TK-1 level_mm rose 42 mm in 1 min, above 30 mm"},
		{"zh fall", LangZH, fall, 0, TypeFiring, Alert{Device: "TK-1", Point: "level_mm", Level: "fall", Value: -42, Unit: "mm", Threshold: f(-30)},
			"TK-1 液位 下降过快：1分钟内下降 42 mm，超过 30 mm"},
		{"zh labels of threshold and point, instruction on firing", LangZH, labelled, 0, TypeFiring,
			Alert{Device: "GD-101", Point: "c1", Level: "l1", Value: 30, Unit: "%LEL", Threshold: f(25)},
			"立即疏散：GD-101 可燃气体 30 %LEL，超过一级报警值 25 %LEL"},
		{"no instruction on resolve", LangZH, labelled, -1, TypeResolved,
			Alert{Device: "GD-101", Point: "c1", Level: "l1", Status: StatusResolved, Value: 20, Unit: "%LEL"},
			"GD-101 可燃气体 已恢复正常，当前 20 %LEL"},
		{"zh unknown point and level in words, never the raw names", LangZH, unnamed, 1, TypeFiring,
			Alert{Device: "X-1", Point: "ai_07", Level: "lvl_b", Value: 9, Threshold: f(8)},
			"X-1 监测值 9，超过高高限报警值 8"},
		{"zh stale for a duration in words", LangZH, silent, 0, TypeFiring, Alert{Device: "CAM-01", Point: "online", Level: "offline"},
			"CAM-01 离线：10分钟无数据"},
		{"zh rule changed is no return to normal", LangZH, gas, -1, TypeResolved,
			Alert{Device: "GD-101", Point: "ch4", Level: "high-high", Status: StatusResolved, Value: 57, Unit: "%LEL", Reason: ReasonRuleChanged},
			"GD-101 甲烷 二级报警告警已结束：报警规则已修改或删除，并非恢复正常，请现场核实（最后值 57 %LEL）"},
		{"en rule changed", LangEN, gas, -1, TypeResolved,
			Alert{Device: "GD-101", Point: "ch4", Level: "high-high", Status: StatusResolved, Value: 57, Unit: "%LEL", Reason: ReasonRuleChanged},
			"GD-101 ch4 high-high alert ended because its rule was changed or removed, not because it returned to normal; check on site (last value 57 %LEL)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := ""
			if tc.a.Point == "c1" {
				pl = "可燃气体"
			}
			got := message(msgInput{lang: tc.lang, rule: tc.r, alert: &tc.a, typ: tc.typ, levelIx: tc.lvl, ptLabel: pl})
			if got != tc.want {
				t.Errorf("message\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMessageNamesSite(t *testing.T) {
	gas := gasRule(t, 2, 0, 0)
	a := Alert{Device: "GD-101", Point: "ch4", Level: "high", Value: 30, Unit: "%LEL", Threshold: f(25)}
	if got, want := message(msgInput{lang: LangZH, site: "某石化储罐区", rule: gas, alert: &a, typ: TypeFiring, levelIx: 0}),
		"【某石化储罐区】GD-101 甲烷 30 %LEL，超过一级报警值 25 %LEL"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := message(msgInput{lang: LangEN, site: "Tank farm", rule: gas, alert: &a, typ: TypeFiring, levelIx: 0}),
		"[Tank farm] GD-101 ch4 30 %LEL above high 25 %LEL"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration][2]string{
		10 * time.Minute: {"10分钟", "10 min"}, 90 * time.Second: {"1分钟30秒", "1 min 30 s"},
		90 * time.Minute: {"1小时30分钟", "1 h 30 min"}, 48 * time.Hour: {"2天", "2 d"}, 500 * time.Millisecond: {"500毫秒", "500 ms"},
	} {
		if got := [2]string{fmtDur(true, d), fmtDur(false, d)}; got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFmtNum(t *testing.T) {
	for v, want := range map[float64]string{
		float64(float32(57.3)): "57.3", 50: "50", 0.1 + 0.2: "0.3", -40.05: "-40.05", 1234567.5: "1234567.5", 1e20: "1e+20",
	} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %s, want %s", v, got, want)
		}
	}
}
