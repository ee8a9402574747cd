package mqttsim

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

func TestPayloadsFollowTheSpec(t *testing.T) {
	ts := time.Date(2026, 11, 22, 9, 0, 0, 123_000_000, time.UTC)
	ev := CameraEvent{EventID: "CAM-07-000123", CameraID: "CAM-07", TS: ts, Type: Smoke, Confidence: 0.87,
		BearingDeg: Ptr(132.5), DistanceM: Ptr(1800.0), TemperatureC: Ptr(312.0), ImageURL: "http://10.0.0.7/snap/000123.jpg"}
	want := `{"ts":"2026-11-22T09:00:00.123Z","event_id":"CAM-07-000123","camera_id":"CAM-07","type":"smoke","confidence":0.87,"bearing_deg":132.5,"distance_m":1800,"temperature_c":312,"image_url":"http://10.0.0.7/snap/000123.jpg"}`
	if got := string(ev.JSON()); got != want {
		t.Errorf("camera event\n got %s\nwant %s", got, want)
	}
	p := Passage{EventID: "KK-03-000045", CheckpointID: "KK-03", TS: ts.Truncate(time.Second), Direction: In,
		People: Ptr(2), Vehicles: Ptr(1), Plate: "闽C12345", VoicePlayed: Ptr(true)}
	want = `{"ts":"2026-11-22T09:00:00Z","event_id":"KK-03-000045","checkpoint_id":"KK-03","direction":"in","people":2,"vehicles":1,"plate":"闽C12345","voice_played":true}`
	if got := string(p.JSON()); got != want {
		t.Errorf("passage\n got %s\nwant %s", got, want)
	}
	p.TS = ts
	if got := string(p.JSON()); got[:33] != `{"ts":"2026-11-22T09:00:00.123Z",` {
		t.Errorf("passage with a fraction: %s", got)
	}
	if got := string((CameraEvent{Type: Fire, Confidence: 1}).JSON()); got != `{"type":"fire","confidence":1}` {
		t.Errorf("minimal event: %s", got)
	}
}

func TestPlate(t *testing.T) {
	re := regexp.MustCompile(`^[闽粤浙赣沪京][A-K][0-9][0-9A-HJ-NP-Z]{4}$`)
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		if p := Plate(r); !re.MatchString(p) || !utf8.ValidString(p) {
			t.Fatalf("plate %q", p)
		}
	}
}

// TestSiteOnEmbeddedBroker runs the site component against the embedded
// broker and checks what a subscriber receives has the built-in formats' shape.
func TestSiteOnEmbeddedBroker(t *testing.T) {
	b, err := NewBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	var mu sync.Mutex
	got := map[string][]map[string]any{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("test-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(0)
	tok := sub.Subscribe("site/#", 1, func(_ paho.Client, m paho.Message) {
		var v map[string]any
		if err := json.Unmarshal(m.Payload(), &v); err != nil {
			t.Errorf("%s: %v", m.Topic(), err)
		}
		mu.Lock()
		got[m.Topic()] = append(got[m.Topic()], v)
		mu.Unlock()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	site, err := NewSite(SiteOptions{URL: b.URL(), Site: "s1", Cameras: 2, Checkpoints: 1, EventRate: 50, PassageRate: 50, FireAfter: time.Millisecond, Seed: 7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- site.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got[CameraTopic("s1", "CAM-01")]) + len(got[CheckpointTopic("s1", "KK-01")])
		mu.Unlock()
		if n >= 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	cams, kks := got[CameraTopic("s1", "CAM-01")], got[CheckpointTopic("s1", "KK-01")]
	if len(cams) == 0 || len(kks) == 0 {
		t.Fatalf("received %d camera events and %d passages", len(cams), len(kks))
	}
	for _, ev := range cams {
		c, _ := ev["confidence"].(float64)
		if ev["camera_id"] != "CAM-01" || c < 0 || c > 1 || ev["ts"] == nil {
			t.Errorf("camera event %v", ev)
		}
	}
	for _, p := range kks {
		if d := p["direction"]; d != "in" && d != "out" {
			t.Errorf("passage %v", p)
		}
	}
}

// TestSpeakers: a checkpoint plays the last voice command it received —
// also one retained before it connected — and a muted one plays nothing.
func TestSpeakers(t *testing.T) {
	b, err := NewBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	pub, err := NewPublisher(ctx, PublisherOptions{URL: b.URL(), Site: "bs", ClientID: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(time.Second)
	cmd := `{"cmd":"voice","level":4,"text":"当前森林火险等级为四级（高），严禁携带火种进山","ts":"2026-11-22T02:00:00Z"}`
	if tok := pub.client.Publish("site/bs/checkpoint/KK-01/command", 1, true, cmd); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("publish", tok.Error())
	}
	spk, err := NewSpeakers(ctx, b.URL(), "bs", "", "speakers")
	if err != nil {
		t.Fatal(err)
	}
	defer spk.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return spk.Plays("KK-01") }, "the retained command reaches KK-01")
	if c, _ := spk.Last("KK-01"); c.Level != 4 || !c.TS.Equal(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("command %+v", c)
	}
	if spk.Plays("KK-02") {
		t.Error("KK-02 plays without a command")
	}
	// Not a voice command: ignored.
	if tok := pub.client.Publish("site/bs/checkpoint/KK-02/command", 1, false, `{"cmd":"reboot"}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("publish", tok.Error())
	}
	spk.Mute("KK-01", true)
	if spk.Plays("KK-01") || spk.Plays("KK-02") {
		t.Error("a muted speaker or a non-voice command plays")
	}
}
