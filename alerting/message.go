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
	"spool_dropped": "缓存已满丢弃的数据点",
}

// zhLevels names alarm levels (GB/T 50493: first- and second-level alarms)
// and event types.
var zhLevels = map[string]string{
	"high": "一级报警", "high-high": "二级报警", "hh": "二级报警", "h": "一级报警",
	"low": "低限报警", "low-low": "低低限报警", "l": "低限报警", "ll": "低低限报警",
	"alarm": "报警", "fault": "故障", "rate": "变化率超限", "offline": "离线",
	"fire": "明火", "smoke": "烟雾", "hotspot": "热点",
	"data-loss": "数据丢失",
}

// msgInput is what a message is built from.
type msgInput struct {
	lang    string
	rule    *rule
	alert   *Alert
	typ     string // notification type
	levelIx int    // the level in force (threshold rules), -1 if none
}

// message writes the alert's text for a duty officer in the site's
// language, naming the device by its label when it has one, e.g.
// "1号储罐区东侧可燃气体探测器 甲烷 57.3 %LEL，超过二级报警值 50 %LEL".
func message(in msgInput) string {
	zh := in.lang != LangEN
	a, r := in.alert, in.rule
	var b strings.Builder
	if r.message != "" {
		b.WriteString(r.message)
		if zh {
			b.WriteString("：")
		} else {
			b.WriteString(": ")
		}
	}
	if in.typ == TypeReminder {
		if zh {
			b.WriteString("【未确认提醒】")
		} else {
			b.WriteString("Reminder, not acknowledged: ")
		}
	}
	dev := firstNonEmpty(a.Label, a.Device)
	pt := a.Point
	lvl := a.Level
	if zh {
		if n, ok := zhPoints[pt]; ok {
			pt = n
		}
		if n, ok := zhLevels[lvl]; ok {
			lvl = n
		}
	}
	resolved := in.typ == TypeResolved || in.typ == TypeAcknowledged && a.Status == StatusResolved
	if resolved {
		writeResolved(&b, zh, r, a, dev, pt, lvl)
	} else {
		writeActive(&b, zh, r, a, dev, pt, lvl, in.levelIx)
	}
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

func writeActive(b *strings.Builder, zh bool, r *rule, a *Alert, dev, pt, lvl string, levelIx int) {
	v, u := fmtNum(a.Value), unitSuffix(a.Unit)
	switch r.kind {
	case condThreshold:
		above := true
		if levelIx >= 0 && levelIx < len(r.levels) {
			above = r.levels[levelIx].above
		}
		lim := ""
		if a.Threshold != nil {
			lim = fmtNum(*a.Threshold)
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
		lim := ""
		if a.Threshold != nil {
			lim = fmtNum(*a.Threshold)
		}
		if zh {
			b.WriteString(dev + " " + pt + " 上升过快：" + fmtDur(r.ratePer) + "内上升 " + v + u + "，超过 " + lim + u)
		} else {
			b.WriteString(dev + " " + pt + " rose " + v + u + " in " + fmtDur(r.ratePer) + ", above " + lim + u)
		}
	case condBool:
		switch {
		case zh && pt == lvl || zh && strings.TrimSuffix(pt, "信号") == lvl:
			b.WriteString(dev + " " + lvl)
		case zh:
			b.WriteString(dev + " " + pt + " " + lvl)
		default:
			b.WriteString(dev + " " + a.Point + " " + a.Level)
		}
	case condStale:
		var n string
		switch {
		case r.staleIntervals > 0 && zh:
			n = "连续 " + strconv.Itoa(r.staleIntervals) + " 个采集周期无数据或通信失败"
		case r.staleIntervals > 0:
			n = "no data or failed polls for " + strconv.Itoa(r.staleIntervals) + " poll intervals"
		case zh:
			n = fmtDur(r.staleFor) + "无数据"
		default:
			n = "no data for " + fmtDur(r.staleFor)
		}
		if zh {
			b.WriteString(dev + " 离线：" + n)
		} else {
			b.WriteString(dev + " offline: " + n)
		}
	case condEvent:
		if zh {
			b.WriteString(dev + " 检测到" + lvl + "，置信度 " + strconv.FormatFloat(a.Value, 'f', 2, 64))
		} else {
			b.WriteString(dev + " detected " + a.Level + ", confidence " + strconv.FormatFloat(a.Value, 'f', 2, 64))
		}
	}
}

func writeResolved(b *strings.Builder, zh bool, r *rule, a *Alert, dev, pt, lvl string) {
	switch r.kind {
	case condStale:
		if zh {
			b.WriteString(dev + " 已恢复在线")
		} else {
			b.WriteString(dev + " back online")
		}
	case condEvent:
		if zh {
			b.WriteString(dev + " " + lvl + "告警已解除：" + fmtDur(r.autoResolve) + "内未再检测到")
		} else {
			b.WriteString(dev + " " + a.Level + " alert resolved: none detected for " + fmtDur(r.autoResolve))
		}
	case condBool:
		if zh {
			b.WriteString(dev + " " + pt + " 已恢复正常")
		} else {
			b.WriteString(dev + " " + a.Point + " back to normal")
		}
	default:
		v, u := fmtNum(a.Value), unitSuffix(a.Unit)
		if r.kind == condRate {
			if zh {
				b.WriteString(dev + " " + pt + " 变化率已恢复正常（" + fmtDur(r.ratePer) + "内上升 " + v + u + "）")
			} else {
				b.WriteString(dev + " " + a.Point + " rate back to normal (rose " + v + u + " in " + fmtDur(r.ratePer) + ")")
			}
			return
		}
		if zh {
			b.WriteString(dev + " " + pt + " 已恢复正常，当前 " + v + u)
		} else {
			b.WriteString(dev + " " + a.Point + " back to normal at " + v + u)
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

// fmtDur writes a duration without trailing zero units (1m, 90s, 1h30m).
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
