package forest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// recorder is an Acceptor that keeps what it is given.
type recorder struct {
	mu  sync.Mutex
	pts []gateway.Point
}

func (r *recorder) Accept(_ context.Context, pts []gateway.Point) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pts = append(r.pts, pts...)
	return nil
}

func (r *recorder) levels() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, p := range r.pts {
		f, _ := p.Field(gateway.FieldDangerLevel)
		out = append(out, f.I)
	}
	return out
}

// publisher records publications; fail makes them fail.
type publisher struct {
	mu   sync.Mutex
	fail bool
	msgs []pub
}

type pub struct {
	topic    string
	cmd      Command
	qos      byte
	retained bool
}

func (p *publisher) Publish(_ context.Context, topic string, payload []byte, qos byte, retained bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return os.ErrDeadlineExceeded
	}
	var c Command
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	p.msgs = append(p.msgs, pub{topic, c, qos, retained})
	return nil
}

func (p *publisher) got() []pub {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pub(nil), p.msgs...)
}

func (p *publisher) setFail(b bool) {
	p.mu.Lock()
	p.fail = b
	p.mu.Unlock()
}

func testConfig() Config {
	return Config{Danger: DangerConfig{
		Station:        "WS-01",
		Points:         Points{Temperature: "air_temp_c", Humidity: "rh_pct", Wind: "wind_ms", Rain: "rain_mm"},
		InitialDryDays: 6,
	}}
}

func station(at time.Time, temp, rh, wind, rain float64) gateway.Point {
	return gateway.Point{Measurement: "weather_station",
		Tags:   []gateway.Tag{{Key: "site", Value: "bs"}, {Key: "device", Value: "WS-01"}},
		Fields: []gateway.Field{gateway.Float("air_temp_c", temp), gateway.Float("rh_pct", rh), gateway.Float("wind_ms", wind), gateway.Float("rain_mm", rain), gateway.Int("wind_dir_deg", 290)},
		Time:   at}
}

func status(at time.Time, quality, reason string) gateway.Point {
	return gateway.Point{Measurement: gateway.MeasurementDeviceStatus,
		Tags:   []gateway.Tag{{Key: "site", Value: "bs"}, {Key: "device", Value: "WS-01"}, {Key: "kind", Value: "weather_station"}, {Key: "source", Value: "modbus"}},
		Fields: []gateway.Field{gateway.Bool("online", true), gateway.String("quality", quality), gateway.String("reason", reason)},
		Time:   at}
}

type harness struct {
	d      *Danger
	acc    *recorder
	pub    *publisher
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config, dir string, pub *publisher) *harness {
	t.Helper()
	d, err := New(cfg, Options{Site: "bs", Location: shanghai(t), DataDir: dir, Checkpoints: []string{"KK-03", "KK-04"},
		Publisher: pub, RetryEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	h := &harness{d: d, acc: &recorder{}, pub: pub, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- d.Run(ctx, h.acc) }()
	return h
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}

// TestDangerRatesAndTells: good readings become fire_danger points; a
// change of level publishes a retained QoS 1 voice command to every
// checkpoint; the same level again publishes nothing.
func TestDangerRatesAndTells(t *testing.T) {
	pub := &publisher{}
	h := start(t, testConfig(), t.TempDir(), pub)
	defer h.stop(t)
	loc := shanghai(t)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, loc)
	// 16 + 12 + 30 + 15 = 73 → 4.
	h.d.Observe([]gateway.Point{status(at, "good", ""), station(at, 22, 40, 5, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.pub.got()) == 2 }, "voice commands: %v", h.pub.got())
	h.acc.mu.Lock()
	p := h.acc.pts[0]
	h.acc.mu.Unlock()
	if p.Measurement != "fire_danger" || !p.Time.Equal(at) {
		t.Fatalf("point %+v", p)
	}
	for key, want := range map[string]int64{"index": 73, "level": 4, "a": 16, "b": 12, "c": 30, "e": 15} {
		if f, _ := p.Field(key); f.Kind != gateway.KindInt || f.I != want {
			t.Errorf("field %s = %+v, want %d", key, f, want)
		}
	}
	if st, _ := p.Tag("station"); st != "WS-01" {
		t.Errorf("station tag %q", st)
	}
	for i, m := range pub.got() {
		want := []string{"site/bs/checkpoint/KK-03/command", "site/bs/checkpoint/KK-04/command"}[i]
		if m.topic != want || m.qos != 1 || !m.retained || m.cmd.Cmd != "voice" || m.cmd.Level != 4 ||
			m.cmd.Text != "当前森林火险等级为四级（高），严禁携带火种进山" || !m.cmd.TS.Equal(at) {
			t.Errorf("publication %d: %+v", i, m)
		}
	}
	// Same level: a point, no publication.
	h.d.Observe([]gateway.Point{station(at.Add(time.Minute), 22, 41, 5, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) == 2 }, "second rating")
	// Drier: 20 + 16 + 30 + 15 = 81 → 4 still; then wind 8 → 25: 91 → 5.
	h.d.Observe([]gateway.Point{station(at.Add(2*time.Minute), 26, 30, 8, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.pub.got()) == 4 }, "level 5 commands")
	if got := pub.got()[3].cmd; got.Level != 5 || !strings.Contains(got.Text, "五级") {
		t.Errorf("level 5 command %+v", got)
	}
	if lv := h.acc.levels(); len(lv) != 3 || lv[0] != 4 || lv[1] != 4 || lv[2] != 5 {
		t.Errorf("levels %v", lv)
	}
}

// TestDangerFreezes: a bad station — a point missing (bad value), a fault
// or maintenance status, an impossible value — rates nothing: no calm
// rating is written. Good readings resume it.
func TestDangerFreezes(t *testing.T) {
	pub := &publisher{}
	h := start(t, testConfig(), t.TempDir(), pub)
	defer h.stop(t)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, shanghai(t))
	h.d.Observe([]gateway.Point{status(at, "good", ""), station(at, 26, 20, 9, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) == 1 }, "first rating")

	missing := station(at.Add(time.Minute), 5, 90, 0, 0)
	missing.Fields = missing.Fields[1:] // temperature bad: left out by the source
	maintenance := []gateway.Point{status(at.Add(2*time.Minute), "uncertain", "maintenance"), station(at.Add(2*time.Minute), 5, 90, 0, 0)}
	fault := []gateway.Point{status(at.Add(3*time.Minute), "bad", "fault")}
	faultThenReading := []gateway.Point{station(at.Add(4*time.Minute), 5, 90, 0, 0)}
	nan := []gateway.Point{status(at.Add(5*time.Minute), "good", ""), station(at.Add(5*time.Minute), 5, 190, 0, 0)}
	for _, b := range [][]gateway.Point{{missing}, maintenance, fault, faultThenReading, nan} {
		h.d.Observe(b)
	}
	// A good reading after them is rated, and is the only new rating.
	h.d.Observe([]gateway.Point{status(at.Add(6*time.Minute), "good", ""), station(at.Add(6*time.Minute), 5, 90, 0, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) == 2 }, "rating after the bad ones")
	h.acc.mu.Lock()
	last := h.acc.pts[1]
	h.acc.mu.Unlock()
	if !last.Time.Equal(at.Add(6 * time.Minute)) {
		t.Fatalf("rated a bad reading: %v", last.Time)
	}
	// The day keeps its worst so far: the calm reading does not lower it.
	if lv := h.acc.levels(); lv[1] != lv[0] {
		t.Errorf("levels %v: a calm reading lowered the day's rating", lv)
	}
}

// TestDangerRestart: the day and the dry-day count survive a restart, and
// the current level is published again at start.
func TestDangerRestart(t *testing.T) {
	dir := t.TempDir()
	loc := shanghai(t)
	pub := &publisher{}
	h := start(t, testConfig(), dir, pub)
	d1 := time.Date(2026, 11, 22, 14, 0, 0, 0, loc)
	h.d.Observe([]gateway.Point{station(d1, 22, 40, 5, 0)})
	h.d.Observe([]gateway.Point{station(d1.Add(24*time.Hour), 22, 40, 5, 0)}) // next day: dry 6 → 7
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) == 2 }, "ratings")
	h.stop(t)
	if h.d.DryDays() != 7 {
		t.Fatalf("dry days %d", h.d.DryDays())
	}

	pub2 := &publisher{}
	h2 := start(t, testConfig(), dir, pub2)
	defer h2.stop(t)
	if got := h2.d.DryDays(); got != 7 {
		t.Fatalf("after restart dry days %d, want 7", got)
	}
	lvl, since := h2.d.Level()
	testenv.Eventually(t, 5*time.Second, func() bool { return len(pub2.got()) == 2 }, "level told at start")
	if c := pub2.got()[0].cmd; c.Level != lvl || !c.TS.Equal(since) {
		t.Errorf("at start told %+v, want level %d since %v", c, lvl, since)
	}
	// The same day continues: a calmer reading keeps the morning's max.
	h2.d.Observe([]gateway.Point{station(d1.Add(25*time.Hour), 10, 80, 0, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h2.acc.levels()) == 1 }, "rating after restart")
	h2.acc.mu.Lock()
	a, _ := h2.acc.pts[0].Field("a")
	c, _ := h2.acc.pts[0].Field("c")
	h2.acc.mu.Unlock()
	if a.I != 16 || c.I != 35 {
		t.Errorf("after restart A %d C %d, want 16 (the day's max 22 °C) and 35 (7 dry days)", a.I, c.I)
	}
}

// TestDangerRetriesVoice: a command that cannot be published is sent on
// the next reconnection.
func TestDangerRetriesVoice(t *testing.T) {
	pub := &publisher{fail: true}
	h := start(t, testConfig(), t.TempDir(), pub)
	defer h.stop(t)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, shanghai(t))
	h.d.Observe([]gateway.Point{station(at, 22, 40, 5, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) == 1 }, "rating")
	// told: the level published to both checkpoints and nothing more due.
	// A reconnection that comes while a publication runs asks for one
	// more, so the count is checked as at least n, in whole rounds.
	told := func(n int) func() bool {
		return func() bool {
			h.d.mu.Lock()
			due := h.d.voiceDue
			h.d.mu.Unlock()
			got := len(pub.got())
			return !due && got >= n && got%2 == 0
		}
	}
	pub.setFail(false)
	h.d.Reconnected()
	testenv.Eventually(t, 5*time.Second, told(2), "published after reconnection")
	// Another reconnection tells them again (a broker may have lost its
	// retained messages).
	n := len(pub.got())
	h.d.Reconnected()
	testenv.Eventually(t, 5*time.Second, told(n+2), "published again")
	for _, p := range pub.got() {
		if int64(p.cmd.Level) != h.acc.levels()[0] || p.qos != 1 || !p.retained {
			t.Errorf("published %+v, want level %d, QoS 1, retained", p, h.acc.levels()[0])
		}
	}
}

// TestDamagedState: a damaged state file is moved aside as
// NAME.corrupt-<time>, reported, and the count starts from
// initial_dry_days.
func TestDamagedState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	if err := os.WriteFile(path, []byte(`{"version":1,"day":{"dry_days":`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, testConfig(), dir, &publisher{})
	defer h.stop(t)
	if got := h.d.DryDays(); got != 6 {
		t.Errorf("dry days %d, want initial 6", got)
	}
	if dm := h.d.Damaged(); len(dm) != 1 || !strings.Contains(dm[0], "corrupt-") {
		t.Errorf("damaged %v", dm)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("moved aside: %v", aside)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("damaged file still in place: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFile)
	c := 12.5
	in := stateDoc{Station: "WS-01", Day: Day{Date: "2026-11-22", Readings: 3, MaxTemp: 22.5, MinHumidity: 31, MaxWind: 4.4, Rain: 0.2,
		Counter: &c, CounterDate: "2026-11-22", DryDays: 8}, Level: 4, LevelSince: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}
	if err := writeState(path, in); err != nil {
		t.Fatal(err)
	}
	out, ok, err := readState(path)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	in.Version = stateVersion
	if out.Day.Counter == nil || *out.Day.Counter != c {
		t.Fatalf("counter %v", out.Day.Counter)
	}
	out.Day.Counter, in.Day.Counter = nil, nil
	if out != in {
		t.Errorf("read %+v, want %+v", out, in)
	}
	for _, bad := range []string{
		``, `{}`, `{"version":2}`, `[]`, `{"version":1,"level":9}`, `{"version":1,"day":{"dry_days":-1}}`,
		`{"version":1,"day":{"date":"22/11/2026"}}`, `{"version":1,"extra":1}`, `{"version":1} {}`,
		`{"version":1,"day":{"readings":2}}`,
	} {
		if _, err := decodeState([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// FuzzDecodeState: whatever the state file holds, decoding never panics,
// and what it accepts is a state the rating can use.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"station":"WS-01","day":{"date":"2026-11-22","readings":3,"max_temp_c":22,"min_rh_pct":30,"max_wind_ms":4,"rain_mm":0,"dry_days":7},"level":4,"level_since":"2026-11-22T02:00:00Z"}`))
	f.Add([]byte(`{"version":1,"day":{"counter":1e308,"counter_date":"2026-02-30"}}`))
	f.Add([]byte(`{"version":1,"day":{"max_temp_c":1e999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := decodeState(b)
		if err != nil {
			return
		}
		if err := doc.check(); err != nil {
			t.Fatalf("accepted a state that does not check: %v", err)
		}
		r := &rater{tables: DefaultTables(), loc: time.UTC, rainMode: RainCounter}
		d, rt, _ := r.take(doc.Day, Weather{At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Temperature: 20, Humidity: 40, Wind: 3, Rain: 1})
		if rt.Level < 1 || rt.Level > 5 || d.DryDays < 0 {
			t.Fatalf("rating %+v from an accepted state", rt)
		}
	})
}

// TestDangerReplaysAndClock: a redelivered reading is not rated again (its
// fire_danger point would be rewritten with the day as it stands now), and
// one stamped far ahead of the gateway clock is not rated at all (it would
// open the next day early).
func TestDangerReplaysAndClock(t *testing.T) {
	h := start(t, testConfig(), t.TempDir(), &publisher{})
	defer h.stop(t)
	at := time.Now().Add(-time.Hour)
	r1 := station(at, 18, 40, 3, 0)
	h.d.Observe([]gateway.Point{r1})
	h.d.Observe([]gateway.Point{station(at.Add(time.Minute), 26, 20, 9, 0)})
	h.d.Observe([]gateway.Point{r1})                                        // redelivered
	h.d.Observe([]gateway.Point{station(at.Add(2*time.Hour), 5, 90, 0, 0)}) // an hour ahead of now
	h.d.Observe([]gateway.Point{station(at.Add(2*time.Minute), 5, 90, 0, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) >= 3 }, "ratings")
	h.acc.mu.Lock()
	defer h.acc.mu.Unlock()
	var got []time.Time
	for _, p := range h.acc.pts {
		got = append(got, p.Time)
	}
	want := []time.Time{at, at.Add(time.Minute), at.Add(2 * time.Minute)}
	if len(got) != len(want) {
		t.Fatalf("rated %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("rating %d at %v, want %v", i, got[i], want[i])
		}
	}
}

// TestDangerMetrics: the level, the dry days, a frozen rating and a voice
// command waiting for the broker show in the metrics.
func TestDangerMetrics(t *testing.T) {
	pub := &publisher{fail: true}
	h := start(t, testConfig(), t.TempDir(), pub)
	defer h.stop(t)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, shanghai(t))
	h.d.Observe([]gateway.Point{station(at, 22, 40, 5, 0)})
	testenv.Eventually(t, 5*time.Second, func() bool { return len(h.acc.levels()) == 1 }, "rating")
	h.d.Observe([]gateway.Point{status(at.Add(time.Minute), "bad", "fault")})
	c := h.d.Collector()
	want := `
# HELP hazardgw_fire_danger_dry_days Consecutive days without rain before the current rating day.
# TYPE hazardgw_fire_danger_dry_days gauge
hazardgw_fire_danger_dry_days 6
# HELP hazardgw_fire_danger_frozen 1 while the station's readings do not count and the rating holds its last level.
# TYPE hazardgw_fire_danger_frozen gauge
hazardgw_fire_danger_frozen 1
# HELP hazardgw_fire_danger_level Fire danger level of the last rating written (1-5; 0 before the first).
# TYPE hazardgw_fire_danger_level gauge
hazardgw_fire_danger_level 4
# HELP hazardgw_fire_danger_ratings_total fire_danger points written.
# TYPE hazardgw_fire_danger_ratings_total counter
hazardgw_fire_danger_ratings_total 1
# HELP hazardgw_fire_danger_voice_pending 1 while the checkpoints are still to be told the current level (the broker is unreachable).
# TYPE hazardgw_fire_danger_voice_pending gauge
hazardgw_fire_danger_voice_pending 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	pub.setFail(false)
	h.d.Reconnected()
	testenv.Eventually(t, 5*time.Second, func() bool {
		return testutil.ToFloat64(prometheus.Collector(voiceOnly{c})) == 0
	}, "voice no longer pending once published")
}

// voiceOnly narrows a collector to hazardgw_fire_danger_voice_pending.
type voiceOnly struct{ c prometheus.Collector }

func (v voiceOnly) Describe(ch chan<- *prometheus.Desc) { ch <- descVoice }
func (v voiceOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 8)
	v.c.Collect(all)
	close(all)
	for m := range all {
		if m.Desc() == descVoice {
			ch <- m
		}
	}
}
