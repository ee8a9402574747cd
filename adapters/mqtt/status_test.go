package mqtt

import (
	"strings"
	"testing"

	"github.com/hazardgw/hazardgw/gateway"
)

func TestDecodeStatus(t *testing.T) {
	topicDev := gateway.Tag{Key: "device", Value: "CAM-02"}
	tests := []struct {
		name          string
		payload       string
		topic         []gateway.Tag
		want          string // line protocol (kind left empty: omitted), or "" when rejected
		reason        reason
		online, fault bool
		arrival       bool
	}{
		{name: "spec example", payload: `{"device_id":"CAM-01","ts":"2026-11-22T09:00:00Z","online":true,"fault":false}`, online: true,
			want: `device_status,device=CAM-01,site=qz-petro-01,source=mqtt online=true,quality="good",reason="" 1795338000000000000`},
		{name: "device from topic", payload: `{"ts":"2026-11-22T09:00:00.5Z"}`, topic: []gateway.Tag{topicDev, {Key: "zone", Value: "z"}}, online: true,
			want: `device_status,device=CAM-02,site=qz-petro-01,source=mqtt online=true,quality="good",reason="" 1795338000500000000`},
		{name: "payload device wins", payload: `{"device_id":"CAM-01"}`, topic: []gateway.Tag{topicDev}, online: true, arrival: true,
			want: `device_status,device=CAM-01,site=qz-petro-01,source=mqtt online=true,quality="good",reason="" 1795338030000000000`},
		{name: "fault", payload: `{"device_id":"CAM-01","online":true,"fault":true}`, online: true, fault: true, arrival: true,
			want: `device_status,device=CAM-01,site=qz-petro-01,source=mqtt online=true,quality="bad",reason="fault" 1795338030000000000`},
		{name: "offline", payload: `{"device_id":"CAM-01","online":false}`, arrival: true,
			want: `device_status,device=CAM-01,site=qz-petro-01,source=mqtt online=false,quality="bad",reason="offline" 1795338030000000000`},
		{name: "nulls and unknown members", payload: `{"device_id":"CAM-01","online":null,"fault":null,"ts":null,"battery":{"v":3.3}}`, online: true, arrival: true,
			want: `device_status,device=CAM-01,site=qz-petro-01,source=mqtt online=true,quality="good",reason="" 1795338030000000000`},
		{name: "implausible ts", payload: `{"device_id":"CAM-01","ts":"1970-01-01T00:00:00Z"}`, online: true, arrival: true,
			want: `device_status,device=CAM-01,site=qz-petro-01,source=mqtt online=true,quality="good",reason="" 1795338030000000000`},

		{name: "empty", payload: ``, reason: reasonEmpty},
		{name: "no device", payload: `{"online":true}`, reason: reasonMissingField},
		{name: "online string", payload: `{"device_id":"C","online":"yes"}`, reason: reasonWrongType},
		{name: "fault number", payload: `{"device_id":"C","fault":1}`, reason: reasonWrongType},
		{name: "device number", payload: `{"device_id":7}`, reason: reasonWrongType},
		{name: "control char in device", payload: `{"device_id":"C\n1"}`, reason: reasonOutOfRange},
		{name: "device too long", payload: `{"device_id":"` + strings.Repeat("x", 300) + `"}`, reason: reasonOutOfRange},
		{name: "bad ts", payload: `{"device_id":"C","ts":"now"}`, reason: reasonBadTimestamp},
		{name: "truncated", payload: `{"device_id":"C","online":tr`, reason: reasonInvalidJSON},
		{name: "bad value then truncated", payload: `{"device_id":"C\n","online":tr`, reason: reasonInvalidJSON},
		{name: "array", payload: `[true]`, reason: reasonWrongType},
		{name: "invalid utf8", payload: "{\"device_id\":\"\xff\"}", reason: reasonInvalidUTF8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d decoded
			r := statusDecoder{}.decode(newEnv(tc.topic...), []byte(tc.payload), &d)
			if r.reason != tc.reason {
				t.Fatalf("reason = %q (field %q), want %q", r.reason, r.field, tc.reason)
			}
			if tc.want == "" {
				return
			}
			if got := line(d.point); got != tc.want {
				t.Errorf("point\n got %s\nwant %s", got, tc.want)
			}
			if !d.heartbeat || d.online != tc.online || d.fault != tc.fault || d.arrival != tc.arrival {
				t.Errorf("heartbeat=%v online=%v fault=%v arrival=%v, want true %v %v %v", d.heartbeat, d.online, d.fault, d.arrival, tc.online, tc.fault, tc.arrival)
			}
			if _, ok := d.point.Tag(tagKind); !ok {
				t.Error("no kind tag to fill in")
			}
		})
	}
}

func TestDecodeStatusAllocs(t *testing.T) {
	payload := []byte(`{"device_id":"CAM-01","ts":"2026-11-22T09:00:00Z","online":true,"fault":false}`)
	e := newEnv()
	var d decoded
	tags := make([]gateway.Tag, 0, 8)
	fields := make([]gateway.Field, 0, 8)
	statusDecoder{}.decode(e, payload, &d) // interns the id
	n := testing.AllocsPerRun(100, func() {
		d = decoded{}
		d.point.Tags, d.point.Fields = tags, fields
		if r := (statusDecoder{}).decode(e, payload, &d); !r.ok() {
			t.Fatal(r)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per heartbeat, want 0", n)
	}
}
