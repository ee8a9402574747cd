// Package fakerobot holds fake group chat robots (DingTalk, WeCom, Feishu)
// for the tests of the chat receivers and of the gateway binary. Each is
// an httptest server that checks a request the way the vendor's
// documentation describes it, with its own code (not the sender's: a
// signing mistake in the gateway must not hide in the fake), answers as
// the vendor does, and records what it took and what it refused:
//
//   - DingTalk custom robot: POST to /robot/send?access_token=…; with 加签,
//     query timestamp (ms, within one hour of now) and sign, the
//     URL-encoded base64 of HMAC-SHA256 with the secret as key over
//     timestamp+"\n"+secret; body {"msgtype":"markdown","markdown":
//     {"title","text"},"at":{"atMobiles","isAtAll"}}, every @-mentioned
//     mobile also written "@mobile" in the text. Answers errcode/errmsg.
//   - WeCom group robot: POST to /cgi-bin/webhook/send?key=…; markdown
//     content at most 4096 bytes, text content at most 2048 bytes with
//     mentioned_mobile_list. Answers errcode/errmsg.
//   - Feishu custom bot: POST to /open-apis/bot/v2/hook/<token>; body at
//     most 20 KB with "timestamp" (seconds, a string, within one hour) and
//     "sign" = base64(HMAC-SHA256 keyed with timestamp+"\n"+secret over
//     nothing); msg_type interactive with a card (header title, elements)
//     or text. Answers code/msg.
//
// New makes a fake of any other HTTP receiver from its checks.
//
// # Clock
//
// Timestamps are checked against the robot's clock, which is the
// machine's unless SetClockAhead moves it; every answer tells that clock
// in its Date header, as the vendors' servers do, so tests can put the
// gateway's clock and the robot's apart.
//
// # Concurrency
//
// A Robot serves requests concurrently; its methods are safe to call from
// any goroutine. It closes when the test ends.
//
//	robot := fakerobot.DingTalk(t, token, secret)
//	robot.Script(fakerobot.Answer{Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast"}`}, fakerobot.DingTalkOK)
//	// ... notify robot.Webhook() ...
//	got, taken, bad := robot.Counts()
package fakerobot
