// Package receivers delivers alert notifications to receivers other than
// the Standard Webhooks duty desk: the group chat robots that Chinese duty
// teams live in — DingTalk (钉钉自定义机器人), WeCom (企业微信群机器人),
// Feishu / Lark (飞书自定义机器人) — and a templated HTTP request for SMS and
// voice gateways (`notify[].type`: dingtalk, wecom, feishu, http).
//
// A chat message is written for a duty officer reading a phone: a short
// title (severity colour and class, 红色 I级 … 蓝色 IV级, what happened,
// the device), then the alarm's own message (the rule's instruction leads
// it), value and limit, and the time in the site's zone, in the site's
// language. User text (labels, messages, comments) is neutralised so that
// it cannot become markup. Several notifications can go as one message
// (Chat.NotifyBatch, the alerting.BatchNotifier the engine uses when a
// receiver's rate budget is spent): most severe first, one alert's
// notifications together and in order, cut to the vendor's size limit
// with a count of what did not fit ("…另有 N 条"), never silently dropped.
//
// Signing follows each vendor: DingTalk's 加签 puts timestamp (ms) and
// sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)) in the query;
// Feishu puts timestamp (s) and sign = base64(HMAC-SHA256(key
// timestamp+"\n"+secret, empty message)) in the body; WeCom's credential
// is the key in its URL. Every attempt is signed afresh, so a message that
// waited out a long outage is still inside the vendors' one-hour window.
//
// # A wrong clock
//
// An edge box without RTC battery or NTP may come back from a power cut
// hours or years off, and DingTalk (310000) and Feishu (19021) refuse a
// timestamp more than an hour from their clock with the code of a bad
// signature. Every answer's Date header tells the robot's clock
// (retryhttp.Skew, shared with the duty desk); when it is a minute or more
// from ours, later attempts are signed with the robot's time, and such a
// refusal of an attempt signed with another offset is retried once at
// once. The offset is logged once at Warn and exported (ClockOffset,
// hazardgw_clock_offset_seconds).
//
// # Delivery
//
// A Notifier only renders, sends and classifies; the alert engine's
// durable outbox orders, retries across restarts and dead-letters.
// Network errors, 429, 5xx and the vendors' rate-limit codes (DingTalk
// 130101, WeCom 45009, Feishu 11232) are retried with backoff until the
// receiver takes the message or the context ends; every other refusal
// (a signature or keyword mismatch, a bad token) is final: the error wraps
// gateway.ErrPermanent and the engine dead-letters it (and raises
// gateway:notify-rejected). The robots do not deduplicate: a message is
// sent again only when the gateway stops between the vendor's answer and
// the outbox removing the notification, a window of one local database
// commit.
//
// Credentials (the secret, the URL's access_token or key, Feishu's hook
// token, an http receiver's credential headers) are never logged nor put
// in an error.
//
// # Concurrency
//
// A Notifier is safe for concurrent use; New does no I/O.
//
// # Example
//
//	n, err := receivers.New(alerting.NotifyConfig{
//		Name: "duty-group", Type: "dingtalk",
//		URL:    "https://oapi.dingtalk.com/robot/send?access_token=" + token,
//		Secret: os.Getenv("DINGTALK_SECRET"), Mobiles: []string{"13800000000"},
//	}, receivers.Site{Name: "某石化储罐区", Location: loc}, receivers.Options{}, logger)
//	if err != nil { ... }
//	err = n.Notify(ctx, msg)
package receivers
