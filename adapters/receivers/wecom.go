package receivers

import (
	"net/http"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
)

// WeCom error codes that mean "later": 45009 API frequency out of limit
// (20 messages a minute per robot), 45033 too many concurrent calls, -1
// the platform busy.
var weComTemporary = map[int]bool{45009: true, 45033: true, -1: true}

// weCom is a WeCom (企业微信) group robot. Messages are markdown; WeCom
// markdown cannot mention by mobile number, so a robot with mobiles or
// at_all sends text messages instead (mentioned_mobile_list), plainer but
// ringing the phones.
type weCom struct {
	url     string
	mobiles []string
	atAll   bool
	site    Site
}

type weComContent struct {
	Content             string   `json:"content"`
	MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
}

type weComBody struct {
	MsgType  string        `json:"msgtype"`
	Markdown *weComContent `json:"markdown,omitempty"`
	Text     *weComContent `json:"text,omitempty"`
}

func (w *weCom) text() bool { return len(w.mobiles) > 0 || w.atAll }

func (w *weCom) prepare(ms []alerting.Message) (signer, error) {
	var b weComBody
	if w.text() {
		r := render(w.site, weComText, ms, nil)
		c := &weComContent{Content: r.text}
		if r.urgent {
			c.MentionedMobileList = append(c.MentionedMobileList, w.mobiles...)
			if w.atAll {
				c.MentionedMobileList = append(c.MentionedMobileList, "@all")
			}
		}
		b = weComBody{MsgType: "text", Text: c}
	} else {
		r := render(w.site, weComMarkdown, ms, nil)
		b = weComBody{MsgType: "markdown", Markdown: &weComContent{Content: r.text}}
	}
	body, err := marshal(b)
	if err != nil {
		return nil, err
	}
	return func(time.Time) (attempt, error) {
		return attempt{method: http.MethodPost, url: w.url, header: jsonHeader(), body: body}, nil
	}, nil
}

// verdict: errcode 0 is delivery; 45009 and the other temporary codes are
// retried; any other (93000 invalid webhook key, 40058 bad content…) is
// final.
func (w *weCom) verdict(status int, body []byte) error {
	return errcodeVerdict(status, body, weComTemporary, nil)
}
