package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestVoiceMissedRightAfterRestart runs the real binary on Mosquitto and
// InfluxDB: the station rates level 4, the gateway restarts, and a passage
// without the voice warning, before any new station reading, raises
// voice-missed at once with the level rated before the restart.
func TestVoiceMissedRightAfterRestart(t *testing.T) {
	site := newMQTTSite(t, "forest-01", "hazard")
	desk, config := site.desk, site.config
	site.writeConfig(dangerSite, "hazardgw-e2e-danger-restart", dangerStation+`alerting:
  rules:
    - name: fire-danger
      match: {kind: fire_danger, point: level}
      thresholds:
        - {level: level-3, above: 3, severity: yellow}
        - {level: level-4, above: 4, severity: orange}
    - name: voice-missed
      match: {kind: checkpoint_passage}
      voice_missed: {min_level: 3}
      severity: orange
  notify:
    - {name: duty-desk, url: %q, secret: "${DUTY_DESK_SECRET}", timeout: 2s}
`, "1h", desk.URL())
	g, ctx, pub := site.start(2*time.Minute, "e2e-ws-restart")
	in := func(ds []dutydesk.Delivery, rule, typ string) bool {
		return slices.ContainsFunc(ds, func(d dutydesk.Delivery) bool { return d.Alert.Rule == rule && d.Type == typ })
	}
	has := func(rule, typ string) bool { return in(desk.Deliveries(), rule, typ) }
	// Six dry days before today; 22 °C, 30 %, 5 m/s: 16 + 16 + 30 + 15 = 77
	// → level 4. Published until rated: the gateway's first subscription
	// may come after the first copy (the same reading twice is one point).
	base := dangerDay(t)
	testenv.Eventually(t, 60*time.Second, func() bool {
		payload := fmt.Sprintf(`{"id":"WS-01","ts":%d,"temp":22,"rh":30,"wind":5,"rain":0}`, base.UnixMilli())
		flushed(t, ctx, pub, pub.PublishRaw(ctx, "vendor/ws/WS-01/telemetry", []byte(payload)))
		return has("fire-danger", "alert.firing")
	}, "the station rated level 4")
	if has("voice-missed", "alert.firing") {
		t.Fatal("voice-missed before any passage")
	}

	g.stop(30 * time.Second)
	startGateway(t, config, "DUTY_DESK_SECRET="+deskSecret)
	// The gateway's MQTT session persists: the broker keeps the passage for
	// it until it has subscribed again.
	flushed(t, ctx, pub, pub.PublishPassage(ctx, mqttsim.Passage{EventID: "KK-03-000001", CheckpointID: "KK-03", TS: time.Now(),
		Direction: mqttsim.In, People: mqttsim.Ptr(1), Vehicles: mqttsim.Ptr(0), VoicePlayed: mqttsim.Ptr(false)}))
	if err := desk.Wait(ctx, func(ds []dutydesk.Delivery) bool { return in(ds, "voice-missed", "alert.firing") }); err != nil {
		t.Fatalf("voice-missed after the restart, before any station reading: %v; deliveries %+v", err, desk.Deliveries())
	}
	for _, d := range desk.Deliveries() {
		if d.Alert.Rule == "voice-missed" && (d.Alert.Device != "KK-03" || d.Alert.Value != 4) {
			t.Errorf("voice-missed alert %+v, want KK-03 at the level rated before the restart (4)", d.Alert)
		}
	}
}
