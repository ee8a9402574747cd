package receivers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// Handles reports whether this package delivers to receivers of cfg's
// type (all but the Standard Webhooks duty desk).
func Handles(cfg alerting.NotifyConfig) bool {
	switch cfg.NotifyType() {
	case alerting.NotifyDingTalk, alerting.NotifyWeCom, alerting.NotifyFeishu, alerting.NotifyHTTP:
		return true
	}
	return false
}

// Check reports the problems of a receiver this package handles at path
// (alerting.notify[i]): its URL, secret, mentions and templates. It is
// what New checks, so a configuration that passes `check` starts. Messages
// never contain the secret or the URL's token.
func Check(cfg alerting.NotifyConfig, path string, p *conf.Problems) {
	compile(cfg, Site{}, path, p)
}

// New returns the Notifier for one receiver of a type this package
// handles (a Chat, which is also an alerting.BatchNotifier, for the group
// chat robots). It compiles cfg as Check does and does no I/O.
func New(cfg alerting.NotifyConfig, site Site, opts Options, logger *slog.Logger) (alerting.Notifier, error) {
	var p conf.Problems
	v := compile(cfg, site, "notify."+cfg.Name, &p)
	if p.Len() > 0 {
		var msgs []string
		for _, pr := range p.List {
			msgs = append(msgs, pr.Path+": "+pr.Msg)
		}
		return nil, fmt.Errorf("create notifier %q: %s", cfg.Name, strings.Join(msgs, "; "))
	}
	n := newNotifier(cfg, v, opts, logger)
	if cfg.NotifyType() == alerting.NotifyHTTP {
		return n, nil
	}
	return Chat{n}, nil
}

// compile checks cfg and returns its vendor (nil when p got problems).
func compile(cfg alerting.NotifyConfig, site Site, path string, p *conf.Problems) vendor {
	at := func(key string) string { return conf.Join(path, key) }
	before := p.Len()
	typ := cfg.NotifyType()
	notFor := func(key string, set bool) {
		if set {
			p.Addf(at(key), "not used by a %s receiver", typ)
		}
	}
	if typ != alerting.NotifyHTTP {
		notFor("method", cfg.Method != "")
		notFor("headers", len(cfg.Headers) > 0)
		notFor("body", cfg.Body != "")
		notFor("success", len(cfg.Success) > 0)
	}
	if typ != alerting.NotifyFeishu {
		notFor("card", cfg.Card != nil)
	}
	var v vendor
	switch typ {
	case alerting.NotifyDingTalk:
		u := chatURL(p, at("url"), cfg.URL, "access_token", "the robot's webhook URL, https://oapi.dingtalk.com/robot/send?access_token=…")
		if cfg.Secret != "" && !strings.HasPrefix(cfg.Secret, "SEC") {
			p.Addf(at("secret"), `must be the robot's 加签 secret, which starts with "SEC" (value not shown); leave it empty for a robot secured by keywords or IP`)
		}
		checkMobiles(p, at("mobiles"), cfg.Mobiles)
		if u != nil {
			v = &dingTalk{base: *u, secret: cfg.Secret, mobiles: cfg.Mobiles, atAll: cfg.AtAll, site: site}
		}
	case alerting.NotifyWeCom:
		chatURL(p, at("url"), cfg.URL, "key", "the group robot's webhook URL, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…")
		if cfg.Secret != "" {
			p.Addf(at("secret"), "not used by a wecom robot: the key in its URL is its credential (value not shown)")
		}
		checkMobiles(p, at("mobiles"), cfg.Mobiles)
		v = &weCom{url: cfg.URL, mobiles: cfg.Mobiles, atAll: cfg.AtAll, site: site}
	case alerting.NotifyFeishu:
		if u := conf.CheckURL(p, at("url"), cfg.URL, "https", "http"); u != nil && conf.CheckHost(p, at("url"), u, false) {
			if seg := u.Path[strings.LastIndexByte(u.Path, '/')+1:]; seg == "" {
				p.Addf(at("url"), "want the bot's webhook URL, https://open.feishu.cn/open-apis/bot/v2/hook/…, ending in its token")
			}
		}
		if len(cfg.Mobiles) > 0 {
			p.Addf(at("mobiles"), "a feishu custom bot cannot mention by mobile number; use at_all")
		}
		card := cfg.Card == nil || *cfg.Card
		v = &feishu{url: cfg.URL, key: cfg.Secret, card: card, atAll: cfg.AtAll, site: site}
	case alerting.NotifyHTTP:
		notFor("mobiles", len(cfg.Mobiles) > 0)
		notFor("at_all", cfg.AtAll)
		if cfg.Secret != "" {
			p.Addf(at("secret"), "not used by an http receiver: put credentials in headers or the URL, e.g. ${SMS_TOKEN} (value not shown)")
		}
		v = compileHTTP(cfg, site, at, p)
	default:
		p.Addf(at("type"), "not a type this package sends (%q)", typ)
	}
	if p.Len() > before {
		return nil
	}
	return v
}

// chatURL checks a robot's webhook URL: http(s), a host, and its token in
// the query parameter param. It never repeats the URL.
func chatURL(p *conf.Problems, path, raw, param, want string) *url.URL {
	u := conf.CheckURL(p, path, raw, "https", "http")
	if u == nil || !conf.CheckHost(p, path, u, false) {
		return nil
	}
	if u.Query().Get(param) == "" {
		p.Addf(path, "has no %s: want %s", param, want)
		return nil
	}
	return u
}

// checkMobiles wants phone numbers: digits, optionally a leading + and
// hyphens (DingTalk takes "+86-138…").
func checkMobiles(p *conf.Problems, path string, ms []string) {
	for i, m := range ms {
		digits := 0
		ok := m != ""
		for j, r := range m {
			switch {
			case unicode.IsDigit(r) && r < 0x80:
				digits++
			case r == '+' && j == 0, r == '-':
			default:
				ok = false
			}
		}
		if !ok || digits < 5 || digits > 20 {
			p.Addf(conf.Index(path, i), "want a mobile number such as 13800000000 (got %q)", m)
		}
	}
}

// compileHTTP parses and tries the templates of an http receiver.
func compileHTTP(cfg alerting.NotifyConfig, site Site, at func(string) string, p *conf.Problems) vendor {
	before := p.Len()
	h := &httpTemplate{method: strings.ToUpper(cfg.Method), success: cfg.Success, site: site, headers: map[string]*template.Template{}}
	if h.method == "" {
		h.method = http.MethodPost
	}
	conf.OneOf(p, at("method"), h.method, http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch)
	for i, c := range cfg.Success {
		if c < 100 || c > 599 {
			p.Addf(conf.Index(at("success"), i), "want an HTTP status code, 100–599 (got %d)", c)
		}
	}
	var err error
	if !conf.Required(p, at("url"), cfg.URL) {
		return nil
	}
	if h.url, err = parseTemplate("url", cfg.URL); err != nil {
		p.Addf(at("url"), "%v", templateProblem(err))
	} else if plain(h.url) {
		if u := conf.CheckURL(p, at("url"), cfg.URL, "https", "http"); u != nil {
			conf.CheckHost(p, at("url"), u, false)
		}
	}
	for _, k := range sortedKeys(cfg.Headers) {
		if !validHeaderName(k) {
			p.Addf(conf.Join(at("headers"), k), "not a valid header name")
			continue
		}
		t, err := parseTemplate("headers."+k, cfg.Headers[k])
		if err != nil {
			p.Addf(conf.Join(at("headers"), k), "%v", templateProblem(err))
			continue
		}
		h.headers[http.CanonicalHeaderKey(k)] = t
		h.names = append(h.names, http.CanonicalHeaderKey(k))
	}
	if cfg.Body != "" {
		if h.body, err = parseTemplate("body", cfg.Body); err != nil {
			p.Addf(at("body"), "%v", templateProblem(err))
		}
	}
	if p.Len() > before || h.url == nil {
		return nil
	}
	// Execute them once on a sample, so that a misspelt field or a missing
	// map key fails check rather than an alarm.
	d := h.data(sampleMessage())
	a, err := h.request(&d)
	if err != nil {
		key, _, _ := strings.Cut(err.Error(), " template: ")
		p.Addf(at(key), "%v", templateProblem(errors.Unwrap(err)))
		return nil
	}
	if !plain(h.url) {
		if u, err := url.Parse(a.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf(at("url"), "the template must make an http(s)://host/… URL")
		}
	}
	return h
}

// plain reports whether t is only text (no actions).
func plain(t *template.Template) bool {
	if t.Tree == nil || t.Tree.Root == nil {
		return true
	}
	for _, n := range t.Tree.Root.Nodes {
		if n.Type() != parse.NodeText {
			return false
		}
	}
	return true
}

// templateProblem shortens text/template's messages to what an operator
// needs: they name the template and the line, never data values.
func templateProblem(err error) string {
	if err == nil {
		return "template error"
	}
	return strings.TrimPrefix(err.Error(), "template: ")
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

// sensitiveParams are URL query parameters that carry credentials: the
// robots' tokens and the like.
var sensitiveParams = []string{"access_token", "key", "token", "sign", "secret", "password", "apikey", "api_key", "signature"}

// Secrets returns the credential values in cfg, for log redaction and to
// keep them out of error texts: the secret, the URL's token parameters and
// (Feishu) the hook token in its path, and an http receiver's header
// values that look like credentials.
func Secrets(cfg alerting.NotifyConfig) []string {
	var s []string
	// Values found in the URL or headers are credentials only when long
	// enough: redacting "none" or "abc" would garble every log line.
	add := func(v string) {
		if len(v) >= 6 {
			s = append(s, v)
		}
	}
	if cfg.Secret != "" {
		s = append(s, cfg.Secret)
	}
	if u, err := url.Parse(cfg.URL); err == nil {
		q := u.Query()
		for k, vs := range q {
			for _, p := range sensitiveParams {
				if strings.EqualFold(k, p) {
					for _, v := range vs {
						add(v)
						add(url.QueryEscape(v))
					}
				}
			}
		}
		if cfg.NotifyType() == alerting.NotifyFeishu {
			add(u.Path[strings.LastIndexByte(u.Path, '/')+1:])
		}
	}
	for k, v := range cfg.Headers {
		lk := strings.ToLower(k)
		for _, w := range []string{"auth", "token", "key", "secret", "sign", "cookie", "password"} {
			if strings.Contains(lk, w) {
				add(v)
				if _, cred, ok := strings.Cut(v, " "); ok {
					add(cred)
				}
				break
			}
		}
	}
	return s
}
