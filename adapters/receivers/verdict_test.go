package receivers

import (
	"errors"
	"testing"
)

// The vendors' answers: delivered (nil), refused for now (retried) or
// refused for good.
func TestVerdict(t *testing.T) {
	const (
		delivered = "delivered"
		retry     = "retry"
		final     = "final"
	)
	tests := []struct {
		name   string
		v      vendor
		status int
		body   string
		want   string
		code   int
	}{
		{"dingtalk ok", &dingTalk{}, 200, `{"errcode":0,"errmsg":"ok"}`, delivered, 0},
		{"dingtalk rate limit", &dingTalk{}, 200, `{"errcode":130101,"errmsg":"send too fast"}`, retry, 130101},
		{"dingtalk busy", &dingTalk{}, 200, `{"errcode":-1,"errmsg":"busy"}`, retry, -1},
		{"dingtalk signature", &dingTalk{}, 200, `{"errcode":310000,"errmsg":"sign not match"}`, final, 310000},
		{"dingtalk no errcode", &dingTalk{}, 200, `{"errmsg":"ok"}`, final, 0},
		{"dingtalk not json", &dingTalk{}, 200, `<html>`, final, 0},
		{"dingtalk 404", &dingTalk{}, 404, `{"errcode":0}`, final, 0},
		{"wecom ok", &weCom{}, 200, `{"errcode":0,"errmsg":"ok"}`, delivered, 0},
		{"wecom rate limit", &weCom{}, 200, `{"errcode":45009,"errmsg":"api freq out of limit"}`, retry, 45009},
		{"wecom 45033", &weCom{}, 200, `{"errcode":45033,"errmsg":"too many"}`, retry, 45033},
		{"wecom bad key", &weCom{}, 200, `{"errcode":93000,"errmsg":"invalid webhook url"}`, final, 93000},
		{"wecom dingtalk's rate limit is final", &weCom{}, 200, `{"errcode":130101}`, final, 130101},
		{"wecom empty body", &weCom{}, 200, ``, final, 0},
		{"feishu ok", &feishu{}, 200, `{"code":0,"msg":"success"}`, delivered, 0},
		{"feishu legacy ok", &feishu{}, 200, `{"StatusCode":0}`, delivered, 0},
		{"feishu rate limit", &feishu{}, 200, `{"code":11232,"msg":"frequency limited"}`, retry, 11232},
		{"feishu keyword", &feishu{}, 200, `{"code":19024,"msg":"Key Words Not Found"}`, final, 19024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.verdict(tc.status, []byte(tc.body))
			got := delivered
			var re *RefusedError
			switch {
			case err == nil:
			case !errors.As(err, &re):
				t.Fatalf("verdict = %v, not a *RefusedError", err)
			case re.Temporary:
				got = retry
			default:
				got = final
			}
			if got != tc.want {
				t.Errorf("verdict = %v (%s), want %s", err, got, tc.want)
			}
			if re != nil && (re.Code != tc.code || re.Status != tc.status) {
				t.Errorf("refusal %+v, want code %d status %d", re, tc.code, tc.status)
			}
		})
	}
}
