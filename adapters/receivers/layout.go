package receivers

import (
	"strconv"
	"strings"

	"github.com/hazardgw/hazardgw/alerting"
)

// A dialect is how one vendor's message text is written: markdown or
// plain, the line break it needs, and the most bytes its content field
// takes.
type dialect struct {
	markdown bool
	heading  string // markdown prefix of an item's head ("### "); "" writes it bold
	sep      string // between lines
	limit    int    // bytes of the content
	// colour wraps a head of an alarm of the given rank (WeCom's <font>).
	colour func(rank int, s string) string
}

// Content limits, in bytes of the text field. DingTalk takes about 20000
// bytes of markdown; WeCom 4096 of markdown and 2048 of text; a Feishu
// request body at most 20 KB, of which the content keeps under half so that
// JSON escaping (a quote doubles) cannot push it over.
const (
	dingTalkLimit     = 19000
	weComMarkdownMax  = 4096
	weComTextMax      = 2048
	feishuLimit       = 9000
	maxLineBytes      = 1000 // one line of user text
	maxHeadBytes      = 300
	footerReserve     = 200 // room kept for the "…另有 N 条" notes
	titleBytes        = 120
	unreadableExcerpt = 500
)

var (
	dingTalkMarkdown = dialect{markdown: true, heading: "### ", sep: "\n\n", limit: dingTalkLimit}
	weComMarkdown    = dialect{markdown: true, heading: "### ", sep: "\n", limit: weComMarkdownMax, colour: weComColour}
	weComText        = dialect{sep: "\n", limit: weComTextMax}
	feishuMarkdown   = dialect{markdown: true, sep: "\n", limit: feishuLimit}
	feishuText       = dialect{sep: "\n", limit: feishuLimit}
)

// weComColour marks red and orange heads in WeCom's warning colour.
func weComColour(rank int, s string) string {
	if rank >= 3 {
		return `<font color="warning">` + s + `</font>`
	}
	return s
}

// rendered is a message ready for a vendor: a short plain title, the
// content in the vendor's dialect, within its limit.
type rendered struct {
	title  string
	text   string
	rank   int  // most severe
	urgent bool // something calls for action: mention people
	count  int  // notifications in it
	shown  int  // of which at least the head is in text
}

// render renders ms (one or more notifications) into one message: a
// header naming the site (and the count when several), then each
// notification, most severe first, one alert's notifications together and
// in order. What does not fit the dialect's limit is cut and counted
// ("…另有 N 条"), never silently dropped. mention is appended when
// something calls for action (DingTalk needs the @mobile in the text).
func render(site Site, d dialect, ms []alerting.Message, mention func(urgent bool) string) rendered {
	items := make([]item, len(ms))
	for i, m := range ms {
		items[i] = renderItem(site, m.Body)
	}
	return layout(site, d, order(items), mention)
}

func layout(site Site, d dialect, items []item, mention func(urgent bool) string) rendered {
	zh := site.zh()
	r := rendered{count: len(items)}
	for _, it := range items {
		r.rank = max(r.rank, it.rank)
		r.urgent = r.urgent || it.urgent
	}
	r.title = title(site, items, r.rank)
	tail := ""
	if mention != nil {
		tail = mention(r.urgent)
	}
	budget := d.limit - footerReserve - len(tail)
	var b strings.Builder
	b.Grow(min(d.limit, 4096))
	write := func(s string) bool {
		extra := len(s)
		if b.Len() > 0 {
			extra += len(d.sep)
		}
		if b.Len()+extra > budget {
			return false
		}
		if b.Len() > 0 {
			b.WriteString(d.sep)
		}
		b.WriteString(s)
		return true
	}
	head := site.Name
	if len(items) > 1 {
		head = strings.TrimSpace(head + pick(zh, " · ", " · ") + strconv.Itoa(len(items)) + pick(zh, " 条通知", " notifications"))
	}
	if head != "" {
		write(d.strong(clip(escape(head), maxHeadBytes)))
	}
	var notes []string
items:
	for i, it := range items {
		h := clip(escape(it.head), maxHeadBytes)
		if d.colour != nil {
			h = d.colour(it.rank, h)
		}
		if d.markdown && d.heading != "" {
			h = d.heading + h
		} else {
			h = d.strong(h)
		}
		if i > 0 && !d.markdown {
			h = "\n" + h // a blank line between notifications in plain text
		}
		if !write(h) {
			notes = append(notes, moreNote(zh, len(items)-i))
			break
		}
		r.shown++
		for j, ln := range it.lines {
			s := clip(escape(ln.text), maxLineBytes)
			if ln.strong {
				s = d.strong(s)
			}
			if !write(s) {
				notes = append(notes, pick(zh, "…（此条内容过长，另有 ", "… (too long: ")+strconv.Itoa(len(it.lines)-j)+pick(zh, " 行未显示）", " more lines not shown)"))
				if rest := len(items) - i - 1; rest > 0 {
					notes = append(notes, moreNote(zh, rest))
				}
				break items
			}
		}
	}
	for _, n := range notes {
		if b.Len() > 0 {
			b.WriteString(d.sep)
		}
		b.WriteString(n)
	}
	if tail != "" {
		if b.Len() > 0 {
			b.WriteString(d.sep)
		}
		b.WriteString(tail)
	}
	r.text = b.String()
	return r
}

func moreNote(zh bool, n int) string {
	return pick(zh, "…另有 ", "… and ") + strconv.Itoa(n) + pick(zh, " 条通知未显示，请查看值班台", " more notifications not shown: see the duty console")
}

func (d dialect) strong(s string) string {
	if !d.markdown || s == "" {
		return s
	}
	return "**" + s + "**"
}

// title is the short plain line a phone shows in its notification list:
// the severity and event of a single notification with its device, or the
// count and the worst severity of several, and the site.
func title(site Site, items []item, rank int) string {
	zh := site.zh()
	var t string
	switch {
	case len(items) == 1:
		t = strings.TrimSpace(stripMark(items[0].head))
		if items[0].subject != "" {
			t += pick(zh, "：", ": ") + items[0].subject
		}
	default:
		t = strconv.Itoa(len(items)) + pick(zh, " 条告警通知", " alarm notifications")
		if w := severityWords(zh, severityOf(rank)); w != "" {
			t += pick(zh, "（最高 ", " (worst ") + stripMark(w) + pick(zh, "）", ")")
		}
	}
	if site.Name != "" {
		t = pick(zh, "【", "[") + site.Name + pick(zh, "】", "] ") + t
	}
	return clip(strings.TrimSpace(escape(t)), titleBytes)
}

// stripMark drops a leading coloured mark (an emoji and a space).
func stripMark(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 && i <= 8 && s[0] >= 0x80 {
		return s[i+1:]
	}
	return s
}

// escaper neutralises user text (labels, site names, messages, comments)
// for every dialect: control characters and line breaks become spaces (a
// label cannot start a heading or end the message's structure), and the
// characters that markdown, WeCom's <font> and <@userid>, and Feishu's
// <at> give meaning to become their full-width forms, which read the same
// to a person and mean nothing to a renderer. Backslash escapes would be
// neater, but the three vendors' renderers do not agree on them.
var escaper = strings.NewReplacer(
	"\\", "＼", "`", "｀", "*", "＊", "_", "＿", "[", "［", "]", "］",
	"<", "＜", ">", "＞", "#", "＃", "~", "～", "|", "｜",
	"\r\n", " ", "\n", " ", "\r", " ", "\t", " ",
)

func escape(s string) string {
	s = strings.ToValidUTF8(s, "�")
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isControl(r) && r != '\n' && r != '\r' && r != '\t' {
				return ' '
			}
			return r
		}, s)
	}
	return escaper.Replace(s)
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029
}
