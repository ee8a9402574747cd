package mqtt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestForgetLearntDeviceIT: a camera learnt from traffic and gone silent
// (offline) is forgotten: it leaves Devices and the devices file at once,
// a new Source on the same data dir does not know it, and a declared
// device or an unknown id is refused. Should it speak again, it is learnt
// afresh.
func TestForgetLearntDeviceIT(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg := brokerConfig(broker.URL())
	cfg.DataDir = t.TempDir()
	cfg.Subscriptions[0].Stale = time.Second
	cfg.Devices = []Device{{ID: "CAM-01", Kind: "camera", Stale: time.Hour}}
	rec := &recorder{}
	src, _, stop := runSource(t, cfg, rec)
	pub := publisher(t, broker.URL(), "it-forget")
	ctx := context.Background()
	for _, cam := range []string{"CAM-07", "CAM-08"} {
		if err := pub.PublishCamera(ctx, mqttsim.CameraEvent{CameraID: cam, Type: mqttsim.Smoke, Confidence: 0.9}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, ok := rec.find("device_status,device=CAM-07,", `online=false,quality="bad",reason="offline"`)
		return ok
	}, "CAM-07 learnt and gone silent")

	for _, tc := range []struct {
		id   string
		want error
	}{{"CAM-01", ErrDeclaredDevice}, {"NOPE-1", ErrUnknownDevice}, {"CAM-07", nil}, {"CAM-07", ErrUnknownDevice}} {
		if err := src.Forget(tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Forget(%s) = %v, want %v", tc.id, err, tc.want)
		}
	}
	ids := func(src *Source) string {
		var out []string
		for _, d := range src.Devices() {
			out = append(out, d.ID)
		}
		return strings.Join(out, " ")
	}
	if got := ids(src); got != "CAM-01 CAM-08" {
		t.Errorf("devices after Forget: %s, want CAM-01 CAM-08", got)
	}
	// Written at once, not at the next periodic save or at stop.
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, DevicesFile))
	if err != nil || strings.Contains(string(b), `"CAM-07"`) || !strings.Contains(string(b), `"CAM-08"`) {
		t.Fatalf("devices file after Forget: %s, %v", b, err)
	}
	stop()

	rec2 := &recorder{}
	src2, _, _ := runSource(t, cfg, rec2)
	if got := ids(src2); got != "CAM-01 CAM-08" {
		t.Errorf("devices after a restart: %s, want CAM-01 CAM-08", got)
	}
	if err := pub.PublishCamera(ctx, mqttsim.CameraEvent{CameraID: "CAM-07", Type: mqttsim.Smoke, Confidence: 0.9}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(ids(src2), "CAM-07") }, "CAM-07 learnt again when it speaks")
}
