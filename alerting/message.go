package alerting

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Languages of alarm messages (site.language).
const (
	LangZH = "zh"
	LangEN = "en"
)

// zhPoints names common points for Chinese-speaking duty officers.
var zhPoints = map[string]string{
	"ch4": "甲烷", "lel": "可燃气体", "h2s": "硫化氢", "o2": "氧气", "co": "一氧化碳", "co2": "二氧化碳",
	"nh3": "氨气", "cl2": "氯气", "so2": "二氧化硫", "no2": "二氧化氮", "h2": "氢气", "voc": "挥发性有机物",
	"c2h4": "乙烯", "c3h8": "丙烷", "benzene": "苯",
	"level": "液位", "level_mm": "液位", "level_m": "液位", "temperature": "温度", "pressure": "压力",
	"flow": "流量", "humidity": "湿度", "wind_speed": "风速", "wind_direction": "风向", "rainfall": "雨量",
	"fault": "故障信号", "alarm": "报警信号", "confidence": "置信度", "online": "在线状态",
	"spool_dropped": "缓存已满丢弃的数据点", "mqtt_down_s": "MQTT 连接中断时长", "influxdb_unwritten_s": "InfluxDB 未写入时长",
	"storage_damaged": "损坏的数据文件", "mqtt_untracked_devices": "未监测在线状态的 MQTT 设备",
	"alarm_rate_10m": "10分钟内报警数",
}

// zhLevels names alarm levels (GB/T 50493: first- and second-level alarms)
// and event types.
var zhLevels = map[string]string{
	"high": "一级报警", "high-high": "二级报警", "hh": "二级报警", "h": "一级报警",
	"low": "低限报警", "low-low": "低低限报警", "l": "低限报警", "ll": "低低限报警",
	"alarm": "报警", "fault": "故障", "rate": "变化率超限", "offline": "离线",
	"fire": "明火", "smoke": "烟雾", "hotspot": "热点",
	"data-loss": "数据丢失", "fall": "下降过快", "bad_value": "数值无效",
	"unreachable": "告警", "damaged": "告警", "limit": "上限", "maintenance": "维护", "flood": "告警泛滥",
}

// msgInput is what a message is built from.
type msgInput struct {
	lang     string
	site     string // site.name; "" for none
	rule     *rule
	alert    *Alert
	typ      string // notification type
	levelIx  int    // the level in force (threshold rules), -1 if none
	ptLabel  string // the point's configured label, "" if none
	resolved bool   // computed
	// badPoints lists the device's points with bad values ("ch4=nan"),
	// named in a bad_value alert; ptLabels names them.
	badPoints string
	ptLabels  map[string]string
	// readingBad is why the device's current reading is not good, for a
	// reminder quoting the last good value ("" when it is good).
	readingBad string
	// by is who took the action being notified ("" for none).
	by string
}

// zhReasons and enReasons say why a reading is not good, in words.
var zhReasons = map[string]string{
	"no_reply": "设备无应答", "exception": "设备返回异常码", "io": "通信故障",
	"broker_down": "MQTT 服务器不可达，网关收不到该设备的数据", "offline": "无数据",
	"nan": "读数无效（NaN）", "out_of_range": "读数超出量程", "fault": "设备故障", "maintenance": "设备维护中",
}

var enReasons = map[string]string{
	"no_reply": "no answer", "exception": "exception reply", "io": "link error",
	"broker_down": "MQTT broker unreachable, the gateway receives nothing from it", "offline": "silent",
	"nan": "NaN reading", "out_of_range": "reading out of range", "fault": "device fault", "maintenance": "under maintenance",
}

func reasonWords(zh bool, reason string) string {
	m := enReasons
	if zh {
		m = zhReasons
	}
	if w, ok := m[reason]; ok {
		return w
	}
	return reason
}

// badPointWords names the points with bad values: "甲烷 读数无效（NaN）、氧气 读数超出量程".
func badPointWords(zh bool, bad string, labels map[string]string) string {
	var parts []string
	for _, item := range strings.Fields(bad) {
		pt, reason, _ := strings.Cut(item, "=")
		parts = append(parts, pointWords(zh, pt, labels[pt])+" "+reasonWords(zh, reason))
	}
	if zh {
		return strings.Join(parts, "、")
	}
	return strings.Join(parts, ", ")
}

// message writes the alert's text for a duty officer in the site's
// language, naming the site, the device by its label when it has one, the
// point and level by their labels or in words, e.g.
// "【某石化储罐区】1号储罐区东侧可燃气体探测器 甲烷 57.3 %LEL，超过二级报警值 50 %LEL".
// The rule's message (an instruction) leads firing, changed and reminder
// texts only: it is not what to do once the alarm is over.
func message(in msgInput) string {
	zh := in.lang != LangEN
	a, r := in.alert, in.rule
	var b strings.Builder
	if in.site != "" {
		if zh {
			b.WriteString("【" + in.site + "】")
		} else {
			b.WriteString("[" + in.site + "] ")
		}
	}
	if in.typ == TypeReminder {
		if zh {
			b.WriteString("【未确认提醒】")
		} else {
			b.WriteString("Reminder, not acknowledged: ")
		}
	}
	if r.message != "" && (in.typ == TypeFiring || in.typ == TypeChanged || in.typ == TypeReminder) {
		b.WriteString(r.message)
		if zh {
			b.WriteString("：")
		} else {
			b.WriteString(": ")
		}
	}
	dev := firstNonEmpty(a.Label, a.Device)
	pt := pointWords(zh, a.Point, in.ptLabel)
	lvl := levelWords(zh, r, a.Level)
	resolved := in.typ == TypeResolved || in.typ == TypeUnsuppressed || in.typ == TypeLatched ||
		a.Status == StatusResolved && (in.typ == TypeAcknowledged || in.typ == TypeShelved || in.typ == TypeUnshelved || in.typ == TypeChattering)
	switch {
	case resolved && a.Reason == ReasonReset:
		by := firstNonEmpty(a.ResetBy, "?")
		if zh {
			b.WriteString(dev + " " + pt + " " + lvl + "锁存报警已由 " + by + " 复位（当前 " + fmtNum(a.Value) + unitSuffix(a.Unit) + "）")
		} else {
			b.WriteString(dev + " " + pt + " " + lvl + " latched alarm reset by " + by + " (now " + fmtNum(a.Value) + unitSuffix(a.Unit) + ")")
		}
	case resolved && a.Reason == ReasonMaintenance:
		if zh {
			b.WriteString(dev + " " + pt + " " + lvl + "告警因设备维护而结束，并非恢复正常：维护后读数仍在报警范围，将按新的读数重新告警（当前 " + fmtNum(a.Value) + unitSuffix(a.Unit) + "）")
		} else {
			b.WriteString(dev + " " + pt + " " + lvl + " alert ended by the device's maintenance, not back to normal: the reading after maintenance still alarms and raises a new alert (now " + fmtNum(a.Value) + unitSuffix(a.Unit) + ")")
		}
	case resolved && a.Reason == ReasonDecommissioned:
		by := firstNonEmpty(a.DecommissionedBy, "?")
		if zh {
			b.WriteString(dev + " " + pt + " " + lvl + "告警已结束：设备已由 " + by + " 拆除退役，不再监视，并非恢复正常")
		} else {
			b.WriteString(dev + " " + pt + " " + lvl + " alert ended: the device was decommissioned by " + by + " and is no longer watched; not back to normal")
		}
	case resolved && a.Reason == ReasonRuleChanged:
		if zh {
			b.WriteString(dev + " " + pt + " " + lvl + "告警已结束：报警规则已修改或删除，并非恢复正常，请现场核实（最后值 " + fmtNum(a.Value) + unitSuffix(a.Unit) + "）")
		} else {
			b.WriteString(dev + " " + pt + " " + lvl + " alert ended because its rule was changed or removed, not because it returned to normal; check on site (last value " + fmtNum(a.Value) + unitSuffix(a.Unit) + ")")
		}
	case resolved:
		writeResolved(&b, zh, r, a, dev, pt, lvl)
	default:
		writeActive(&b, zh, r, a, dev, pt, lvl, in.levelIx)
		if a.Rule == MaintenanceRule {
			break
		}
		if r.kind == condStale && a.Level == levelBadValue && in.badPoints != "" {
			if zh {
				b.WriteString("（" + badPointWords(zh, in.badPoints, in.ptLabels) + "）")
			} else {
				b.WriteString(" (" + badPointWords(zh, in.badPoints, in.ptLabels) + ")")
			}
		}
		if in.readingBad != "" {
			if zh {
				b.WriteString("（当前读数不可用：" + reasonWords(zh, in.readingBad) + "，以上为最后有效值）")
			} else {
				b.WriteString(" (no current reading: " + reasonWords(zh, in.readingBad) + "; the value is the last good one)")
			}
		}
	}
	writeManagement(&b, zh, in)
	if in.typ == TypeAcknowledged {
		by := firstNonEmpty(a.AcknowledgedBy, "?")
		if zh {
			b.WriteString("（已由 " + by + " 确认）")
		} else {
			b.WriteString(" (acknowledged by " + by + ")")
		}
	}
	return b.String()
}

// writeManagement adds what a shelving, chattering or latching
// notification says beyond the alert itself.
func writeManagement(b *strings.Builder, zh bool, in msgInput) {
	a := in.alert
	switch in.typ {
	case TypeShelved:
		d := time.Duration(0)
		if a.ShelvedUntil != nil && a.ShelvedAt != nil {
			d = a.ShelvedUntil.Sub(*a.ShelvedAt)
		}
		if zh {
			b.WriteString("（已由 " + a.ShelvedBy + " 搁置" + fmtDur(zh, d) + reasonSuffix(zh, a.ShelveReason) + "，期间不再推送）")
		} else {
			b.WriteString(" (shelved by " + a.ShelvedBy + " for " + fmtDur(zh, d) + reasonSuffix(zh, a.ShelveReason) + "; no notifications meanwhile)")
		}
	case TypeUnshelved:
		switch {
		case zh && (in.by == "" || in.by == GatewayActor):
			b.WriteString("（搁置时间已到，恢复推送）")
		case zh:
			b.WriteString("（已由 " + in.by + " 取消搁置，恢复推送）")
		case in.by == "" || in.by == GatewayActor:
			b.WriteString(" (shelving expired; notifications resume)")
		default:
			b.WriteString(" (unshelved by " + in.by + "; notifications resume)")
		}
		if a.Status == StatusFiring && a.State == StateActiveUnacked {
			if zh {
				b.WriteString("，报警仍在，请确认")
			} else {
				b.WriteString(", still active: acknowledge it")
			}
		}
	case TypeChattering:
		c := in.rule.chatter
		if zh {
			b.WriteString("（报警抖动：" + fmtDur(zh, c.Window) + "内反复报警 " + strconv.Itoa(c.Count) + " 次，暂停推送，稳定" + fmtDur(zh, c.Window) + "后再通知当前状态）")
		} else {
			b.WriteString(" (chattering: fired " + strconv.Itoa(c.Count) + " times within " + fmtDur(zh, c.Window) + "; notifications held until it stays in one state for " + fmtDur(zh, c.Window) + ")")
		}
	case TypeLatched:
		if zh {
			b.WriteString("；报警已锁存，需值班人员复位后才结束")
		} else {
			b.WriteString("; the alarm is latched until a duty officer resets it")
		}
	}
}

// reasonSuffix writes a reason after a colon, or nothing.
func reasonSuffix(zh bool, reason string) string {
	switch {
	case reason == "":
		return ""
	case zh:
		return "：" + reason
	}
	return ": " + reason
}

// pointWords names a point: its label, else (in Chinese) a known name or
// a neutral word, never the raw field name.
func pointWords(zh bool, point, label string) string {
	switch {
	case label != "":
		return label
	case !zh:
		return point
	}
	if n, ok := zhPoints[point]; ok {
		return n
	}
	return "监测值"
}

// levelWords names a level: its threshold's label, else (in Chinese) a
// known name or one in words from the level's direction and rank.
func levelWords(zh bool, r *rule, name string) string {
	var l *level
	for i := range r.levels {
		if r.levels[i].name == name {
			l = &r.levels[i]
		}
	}
	switch {
	case l != nil && l.label != "":
		return l.label
	case !zh:
		return name
	}
	if n, ok := zhLevels[name]; ok {
		return n
	}
	if l == nil || r.kind != condThreshold {
		return "报警"
	}
	word := "高"
	if !l.above {
		word = "低"
	}
	switch l.extreme {
	case 1:
		return word + "限报警"
	case 2:
		return word + word + "限报警"
	}
	return "第" + strconv.Itoa(l.extreme) + "级" + word + "限报警"
}

func writeActive(b *strings.Builder, zh bool, r *rule, a *Alert, dev, pt, lvl string, levelIx int) {
	v, u := fmtNum(a.Value), unitSuffix(a.Unit)
	lim := ""
	if a.Threshold != nil {
		lim = fmtNum(*a.Threshold)
	}
	switch r.kind {
	case condThreshold:
		above := true
		if levelIx >= 0 && levelIx < len(r.levels) {
			above = r.levels[levelIx].above
		}
		switch {
		case zh && above:
			b.WriteString(dev + " " + pt + " " + v + u + "，超过" + lvl + "值 " + lim + u)
		case zh:
			b.WriteString(dev + " " + pt + " " + v + u + "，低于" + lvl + "值 " + lim + u)
		case above:
			b.WriteString(dev + " " + pt + " " + v + u + " above " + lvl + " " + lim + u)
		default:
			b.WriteString(dev + " " + pt + " " + v + u + " below " + lvl + " " + lim + u)
		}
	case condRate:
		per := fmtDur(zh, r.ratePer)
		rising := len(r.levels) == 0 || r.levels[0].above
		switch {
		case zh && rising:
			b.WriteString(dev + " " + pt + " 上升过快：" + per + "内上升 " + v + u + "，超过 " + lim + u)
		case zh:
			b.WriteString(dev + " " + pt + " 下降过快：" + per + "内下降 " + fmtNum(-a.Value) + u + "，超过 " + fmtNum(-parseOr(lim)) + u)
		case rising:
			b.WriteString(dev + " " + pt + " rose " + v + u + " in " + per + ", above " + lim + u)
		default:
			b.WriteString(dev + " " + pt + " fell " + fmtNum(-a.Value) + u + " in " + per + ", faster than " + fmtNum(-parseOr(lim)) + u)
		}
	case condBool:
		switch {
		case zh && pt == lvl || zh && strings.TrimSuffix(pt, "信号") == lvl:
			b.WriteString(dev + " " + lvl)
		default:
			b.WriteString(dev + " " + pt + " " + lvl)
		}
	case condStale:
		var n string
		bad := a.Level == levelBadValue
		switch {
		case bad && r.staleIntervals > 0 && zh:
			n = "连续 " + strconv.Itoa(r.staleIntervals) + " 个采集周期无有效读数"
		case bad && r.staleIntervals > 0:
			n = "no good reading for " + strconv.Itoa(r.staleIntervals) + " poll intervals"
		case bad && zh:
			n = fmtDur(zh, r.staleFor) + "无有效读数"
		case bad:
			n = "no good reading for " + fmtDur(zh, r.staleFor)
		case r.staleIntervals > 0 && zh:
			n = "连续 " + strconv.Itoa(r.staleIntervals) + " 个采集周期无数据或通信失败"
		case r.staleIntervals > 0:
			n = "no data or failed polls for " + strconv.Itoa(r.staleIntervals) + " poll intervals"
		case zh:
			n = fmtDur(zh, r.staleFor) + "无数据"
		default:
			n = "no data for " + fmtDur(zh, r.staleFor)
		}
		cause := ""
		if a.Cause != "" && !bad && a.Cause != "offline" {
			if zh {
				cause = "（原因：" + reasonWords(zh, a.Cause) + "）"
			} else {
				cause = " (" + reasonWords(zh, a.Cause) + ")"
			}
		}
		switch {
		case bad && zh:
			b.WriteString(dev + " 读数无效：" + n)
		case bad:
			b.WriteString(dev + " bad readings: " + n)
		case zh:
			b.WriteString(dev + " 离线：" + n + cause)
		default:
			b.WriteString(dev + " offline: " + n + cause)
		}
	case condSelf:
		if zh {
			b.WriteString("通知接收端 " + a.Point + " 拒收告警通知（" + a.Cause + "），已转入死信共 " + fmtNum(a.Value) + " 条：该接收端收不到告警，请立即检查其地址和密钥")
		} else {
			b.WriteString("receiver " + a.Point + " refused notifications for good (" + a.Cause + "), " + fmtNum(a.Value) + " dead-lettered: it is not getting alarms; check its URL and secret")
		}
	case condMaint:
		held := ""
		if a.Value > 0 {
			if zh {
				held = "（" + fmtNum(a.Value) + " 条告警保持不变）"
			} else {
				held = " (" + fmtNum(a.Value) + " active alarms held)"
			}
		}
		switch {
		case a.OutOfServiceUntil != nil && zh:
			b.WriteString(dev + " 已由 " + a.OutOfServiceBy + " 停用（退出服务）" + reasonSuffix(zh, a.OutOfServiceReason) + "，停用期间暂停告警" + held)
		case a.OutOfServiceUntil != nil:
			b.WriteString(dev + " taken out of service by " + a.OutOfServiceBy + reasonSuffix(zh, a.OutOfServiceReason) + ": its alarms are suppressed" + held)
		case zh:
			b.WriteString(dev + " 进入维护状态，维护期间暂停告警" + held)
		default:
			b.WriteString(dev + " under maintenance: its alarms are suppressed" + held)
		}
	case condVoice:
		writeVoice(b, zh, r, a, dev)
	case condEvent:
		writeEvent(b, zh, a, dev, lvl)
	}
}

// parseOr reads back a number written by fmtNum (0 if empty).
func parseOr(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func writeResolved(b *strings.Builder, zh bool, r *rule, a *Alert, dev, pt, lvl string) {
	if r.kind == condStale && a.Level == levelBadValue {
		if zh {
			b.WriteString(dev + " 读数已恢复有效")
		} else {
			b.WriteString(dev + " readings good again")
		}
		return
	}
	switch r.kind {
	case condSelf:
		if zh {
			b.WriteString("通知接收端 " + a.Point + " 已恢复接收告警通知；期间 " + fmtNum(a.Value) + " 条通知转入死信，请核查")
		} else {
			b.WriteString("receiver " + a.Point + " accepts notifications again; " + fmtNum(a.Value) + " were dead-lettered meanwhile, check them")
		}
	case condMaint:
		if zh {
			b.WriteString(dev + " 维护结束，恢复告警，按新的读数重新判断")
		} else {
			b.WriteString(dev + " maintenance ended: alarms resume, judged afresh from new readings")
		}
	case condStale:
		if zh {
			b.WriteString(dev + " 已恢复在线")
		} else {
			b.WriteString(dev + " back online")
		}
	case condVoice:
		writeVoiceResolved(b, zh, r, dev)
	case condEvent:
		writeEventEnded(b, zh, r, dev, lvl)
	case condBool:
		if zh {
			b.WriteString(dev + " " + pt + " 已恢复正常")
		} else {
			b.WriteString(dev + " " + pt + " back to normal")
		}
	case condRate:
		v, u := fmtNum(a.Value), unitSuffix(a.Unit)
		per := fmtDur(zh, r.ratePer)
		if zh {
			b.WriteString(dev + " " + pt + " 变化率已恢复正常（" + per + "内变化 " + v + u + "）")
		} else {
			b.WriteString(dev + " " + pt + " rate back to normal (" + v + u + " in " + per + ")")
		}
	default:
		v, u := fmtNum(a.Value), unitSuffix(a.Unit)
		if zh {
			b.WriteString(dev + " " + pt + " 已恢复正常，当前 " + v + u)
		} else {
			b.WriteString(dev + " " + pt + " back to normal at " + v + u)
		}
	}
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// fmtNum writes a reading for people: at most three decimals, no
// exponent, no float32 noise (57.299999237 → 57.3).
func fmtNum(v float64) string {
	v = cleanFloat(v)
	if math.Abs(v) < 1e15 {
		r := math.Round(v*1000) / 1000
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// cleanFloat returns the shortest decimal that a value decoded from a
// float32 register stood for (57.29999923706055 → 57.3); other values are
// returned unchanged.
func cleanFloat(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || float64(float32(v)) != v {
		return v
	}
	f, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', -1, 32), 64)
	if err != nil {
		return v
	}
	return f
}

// fmtDur writes a duration in words: 10分钟, 1小时30分钟, 90秒 in Chinese;
// 10 min, 1 h 30 min, 90 s in English.
func fmtDur(zh bool, d time.Duration) string {
	if d <= 0 {
		if zh {
			return "0秒"
		}
		return "0 s"
	}
	units := []struct {
		d      time.Duration
		zh, en string
	}{{24 * time.Hour, "天", "d"}, {time.Hour, "小时", "h"}, {time.Minute, "分钟", "min"}, {time.Second, "秒", "s"}, {time.Millisecond, "毫秒", "ms"}}
	var parts []string
	for _, u := range units {
		n := d / u.d
		if n == 0 {
			continue
		}
		d -= n * u.d
		if zh {
			parts = append(parts, strconv.FormatInt(int64(n), 10)+u.zh)
		} else {
			parts = append(parts, strconv.FormatInt(int64(n), 10)+" "+u.en)
		}
	}
	if zh {
		return strings.Join(parts, "")
	}
	return strings.Join(parts, " ")
}
