package mqttsim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// SiteOptions configure the simulated MQTT devices of a site.
type SiteOptions struct {
	URL         string        // external broker, tcp://host:port
	Embedded    string        // else: run an embedded broker on this address
	Site        string        // site id in the topics; default qz-petro-01
	Cameras     int           // fire-detection cameras; default 4
	Checkpoints int           // forest-entry checkpoints; default 2
	EventRate   float64       // background camera events per second, whole site; default 0.2
	PassageRate float64       // passages per second, whole site; default 0.5
	FireAfter   time.Duration // when the scripted smoke-then-fire episode starts; default 2m, negative: never
	// CommandTopic is the checkpoints' command topic (DefaultCommandTopic
	// when empty): each plays the last voice command it received.
	CommandTopic string
	// Muted lists checkpoints whose speaker is broken: they receive their
	// commands but report voice_played false (the voice-missed scenario).
	Muted []string
	Seed  uint64 // random seed; 0: from the clock
	// Script is the scenario's mqtt section: camera locations and a
	// scripted fire, which replaces the FireAfter episode.
	Script Script
	// Note, if set, is told in a few words what a person watching the
	// site wants to see: a checkpoint's new voice command, a camera of
	// the scripted fire seeing smoke or flames. It is called from Run's
	// goroutine.
	Note func(what string)
}

// RegisterFlags adds sitesim's MQTT flags to fs.
func (o *SiteOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.URL, "mqtt-url", "", "MQTT broker the simulated cameras and checkpoints publish to (tcp://host:port)")
	fs.StringVar(&o.Embedded, "mqtt-embedded", "", "run an embedded MQTT broker on this address (e.g. 127.0.0.1:1883) and publish to it")
	fs.StringVar(&o.Site, "mqtt-site", "qz-petro-01", "site id in the MQTT topics")
	fs.IntVar(&o.Cameras, "cameras", 4, "number of fire-detection cameras (CAM-01...)")
	fs.IntVar(&o.Checkpoints, "checkpoints", 2, "number of forest-entry checkpoints (KK-01...)")
	fs.Float64Var(&o.EventRate, "event-rate", 0.2, "background camera events per second, whole site")
	fs.Float64Var(&o.PassageRate, "passage-rate", 0.5, "checkpoint passages per second, whole site")
	fs.DurationVar(&o.FireAfter, "fire-after", 2*time.Minute, "start of the scripted smoke-then-fire episode on CAM-01; negative: never")
	fs.StringVar(&o.CommandTopic, "command-topic", DefaultCommandTopic, "checkpoints' command topic ({site}, {checkpoint}): each plays the last voice command it received")
	fs.Func("mute-checkpoint", "checkpoint whose speaker is broken (repeatable): its passages report voice_played false", func(v string) error {
		o.Muted = append(o.Muted, v)
		return nil
	})
}

// Enabled reports whether MQTT devices are to be simulated.
func (o SiteOptions) Enabled() bool { return o.URL != "" || o.Embedded != "" }

// Site publishes the traffic of a site's cameras and checkpoints: a
// background of low-confidence detections (sun glint, warm rocks), random
// passages with occasional bursts (a tour group) that hear the voice
// warning their checkpoint was last sent (Speakers), and, FireAfter into the
// run, a smoke plume on CAM-01 whose confidence rises until the camera
// reports fire: what the gateway's forest-fire rule must catch. With a
// fire in its Script, that fire's cameras report it instead, with their
// bearings toward it.
type Site struct {
	opts SiteOptions
	log  *slog.Logger
	rng  *rand.Rand
	seq  map[string]int
	sent atomic.Int64
	spk  atomic.Pointer[Speakers] // set by Run

	plan     []fireReport            // the scripted fire's reports, in time order
	planNext int                     // the next one to publish
	seenType map[string]string       // per camera of the script: the type it last reported
	heard    map[string]VoiceCommand // per checkpoint: the command last noted
}

// NewSite checks opts; it does no I/O.
func NewSite(opts SiteOptions, logger *slog.Logger) (*Site, error) {
	if opts.URL != "" && opts.Embedded != "" {
		return nil, errors.New("mqtt: -mqtt-url and -mqtt-embedded exclude each other")
	}
	if opts.Site == "" {
		opts.Site = "qz-petro-01"
	}
	if opts.Cameras < 0 || opts.Checkpoints < 0 || opts.Cameras > 99 || opts.Checkpoints > 99 {
		return nil, errors.New("mqtt: -cameras and -checkpoints must be 0..99")
	}
	if opts.EventRate < 0 || opts.PassageRate < 0 || math.IsNaN(opts.EventRate+opts.PassageRate) {
		return nil, errors.New("mqtt: rates must not be negative")
	}
	if opts.FireAfter == 0 {
		opts.FireAfter = 2 * time.Minute
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.Script.validate(); err != nil {
		return nil, err
	}
	if f := opts.Script.Fire; f != nil && f.Every == 0 {
		f.Every = DefaultFireEvery
	}
	return &Site{opts: opts, log: logger, rng: rand.New(rand.NewPCG(seed, 0x5eed)), seq: map[string]int{},
		plan: opts.Script.plan(), seenType: map[string]string{}, heard: map[string]VoiceCommand{}}, nil
}

// Sent returns how many messages were published.
func (s *Site) Sent() int64 { return s.sent.Load() }

// Run publishes until ctx ends.
func (s *Site) Run(ctx context.Context) error {
	url := s.opts.URL
	if s.opts.Embedded != "" {
		b, err := NewBroker(s.opts.Embedded, s.log.With("broker", "embedded"))
		if err != nil {
			return err
		}
		defer b.Close()
		url = b.URL()
		s.log.Info("embedded MQTT broker listening", "url", url)
	}
	pub, err := NewPublisher(ctx, PublisherOptions{URL: url, Site: s.opts.Site, ClientID: "sitesim-" + s.opts.Site})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer pub.Close(2 * time.Second)
	if s.opts.Checkpoints > 0 {
		spk, err := NewSpeakers(ctx, url, s.opts.Site, s.opts.CommandTopic, "sitesim-"+s.opts.Site+"-speakers")
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer spk.Close()
		for _, id := range s.opts.Muted {
			spk.Mute(id, true)
		}
		s.spk.Store(spk)
	}
	s.log.Info("simulating MQTT devices", "broker", url, "cameras", s.opts.Cameras, "checkpoints", s.opts.Checkpoints)
	if f := s.opts.Script.Fire; f != nil {
		s.log.Info("scripted fire", "lat", f.At.Lat, "lon", f.At.Lon, "seen_by", strings.Join(f.SeenBy, ","),
			"start", f.Start, "flames", f.Flames, "end", f.End, "reports", len(s.plan))
	}

	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var fireStep int
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if err := s.step(ctx, pub, now, now.Sub(start), &fireStep); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// step publishes what falls into one 100 ms tick.
func (s *Site) step(ctx context.Context, pub *Publisher, now time.Time, elapsed time.Duration, fireStep *int) error {
	const tick = 0.1 // seconds
	if s.opts.Cameras > 0 && s.rng.Float64() < s.opts.EventRate*tick {
		cam := 1 + s.rng.IntN(s.opts.Cameras)
		if err := s.publishCamera(ctx, pub, s.background(cam, now)); err != nil {
			return err
		}
	}
	if s.opts.Checkpoints > 0 && s.rng.Float64() < s.opts.PassageRate*tick {
		n := 1
		if s.rng.IntN(20) == 0 {
			n = 5 + s.rng.IntN(6) // a tour group walks through
		}
		kk := 1 + s.rng.IntN(s.opts.Checkpoints)
		for i := range n {
			if err := s.publishPassage(ctx, pub, s.passage(kk, now.Add(time.Duration(i)*300*time.Millisecond))); err != nil {
				return err
			}
		}
	}
	if s.opts.Script.Fire != nil {
		for s.planNext < len(s.plan) && s.plan[s.planNext].at <= elapsed {
			if err := s.publishCamera(ctx, pub, s.scripted(s.plan[s.planNext], now)); err != nil {
				return err
			}
			s.planNext++
		}
		s.noteCommands()
		return nil
	}
	s.noteCommands()
	// The scripted episode: one report every 5 s for two minutes.
	if s.opts.Cameras > 0 && s.opts.FireAfter > 0 && elapsed >= s.opts.FireAfter {
		due := int((elapsed - s.opts.FireAfter) / (5 * time.Second))
		for *fireStep <= due && *fireStep < 24 {
			if err := s.publishCamera(ctx, pub, s.episode(*fireStep, now)); err != nil {
				return err
			}
			if *fireStep == 0 {
				s.log.Info("scripted episode: smoke on CAM-01, turning into fire")
			}
			*fireStep++
		}
	}
	return nil
}

func (s *Site) next(device string) int {
	s.seq[device]++
	return s.seq[device]
}

func (s *Site) publishCamera(ctx context.Context, pub *Publisher, ev CameraEvent) error {
	s.sent.Add(1)
	return pub.PublishCamera(ctx, ev)
}

func (s *Site) publishPassage(ctx context.Context, pub *Publisher, p Passage) error {
	s.sent.Add(1)
	return pub.PublishPassage(ctx, p)
}

// baseBearing spreads the cameras' views around the compass.
func baseBearing(cam int) float64 { return math.Mod(float64(cam)*97.5, 360) }

// background is a detection below the alarm threshold.
func (s *Site) background(cam int, now time.Time) CameraEvent {
	id := CameraID(cam)
	seq := s.next(id)
	typ, conf, temp := Hotspot, 0.2+0.4*s.rng.Float64(), 60+80*s.rng.Float64()
	if s.rng.IntN(4) == 0 {
		typ, conf = Smoke, 0.3+0.35*s.rng.Float64()
	}
	ev := CameraEvent{
		EventID: EventID(id, seq), CameraID: id, TS: now, Type: typ, Confidence: round(conf, 2),
		BearingDeg:   Ptr(round(math.Mod(baseBearing(cam)+60*s.rng.Float64()-30+360, 360), 1)),
		DistanceM:    Ptr(float64(300 + s.rng.IntN(4700))),
		TemperatureC: Ptr(round(temp, 1)),
		ImageURL:     fmt.Sprintf("http://10.0.0.%d/snap/%06d.jpg", cam, seq),
	}
	if typ == Smoke {
		ev.TemperatureC = nil
	}
	return ev
}

// episode is step i of the scripted plume on CAM-01: smoke with rising
// confidence, then fire, at a steady bearing and a closing distance.
func (s *Site) episode(i int, now time.Time) CameraEvent {
	id := CameraID(1)
	seq := s.next(id)
	typ, conf := Smoke, 0.55+0.03*float64(i)
	var temp *float64
	if i >= 12 {
		typ, conf = Fire, 0.9+0.004*float64(i-12)
		temp = Ptr(round(300+25*float64(i-12), 1))
	}
	return CameraEvent{
		EventID: EventID(id, seq), CameraID: id, TS: now, Type: typ, Confidence: round(min(conf, 0.99), 2),
		BearingDeg: Ptr(132.5), DistanceM: Ptr(float64(1800 - 20*i)), TemperatureC: temp,
		ImageURL: fmt.Sprintf("http://10.0.0.1/snap/%06d.jpg", seq),
	}
}

// scripted is a report of the fire script, as its camera publishes it.
func (s *Site) scripted(r fireReport, now time.Time) CameraEvent {
	seq := s.next(r.camera)
	if s.seenType[r.camera] != r.typ {
		s.seenType[r.camera] = r.typ
		what := map[string]string{Smoke: "smoke", Fire: "flames"}[r.typ]
		dist := ""
		if r.distance != nil {
			dist = fmt.Sprintf(", %.1f km", *r.distance/1000)
		}
		f := s.opts.Script.Fire
		s.note(fmt.Sprintf("%s sees %s at bearing %.1f°%s (scripted fire at %.4f, %.4f)", r.camera, what, r.bearing, dist, f.At.Lat, f.At.Lon))
	}
	return CameraEvent{
		EventID: EventID(r.camera, seq), CameraID: r.camera, TS: now, Type: r.typ, Confidence: r.confidence,
		BearingDeg: Ptr(r.bearing), DistanceM: r.distance, TemperatureC: r.temp,
		ImageURL: fmt.Sprintf("http://lookout.invalid/%s/snap/%06d.jpg", r.camera, seq),
	}
}

// noteCommands notes each checkpoint's new voice command.
func (s *Site) noteCommands() {
	spk := s.spk.Load()
	if spk == nil || s.opts.Note == nil {
		return
	}
	for n := 1; n <= s.opts.Checkpoints; n++ {
		id := CheckpointID(n)
		c, ok := spk.Last(id)
		if !ok || c == s.heard[id] {
			continue
		}
		s.heard[id] = c
		how := "plays"
		if !spk.Plays(id) {
			how = "received (speaker broken, plays nothing)"
		}
		s.note(fmt.Sprintf("%s %s voice command level %d: %s", id, how, c.Level, c.Text))
	}
}

func (s *Site) note(what string) {
	if s.opts.Note != nil {
		s.opts.Note(what)
	}
}

// plays reports whether a passage at checkpoint hears the voice warning.
func (s *Site) plays(checkpoint string) bool {
	spk := s.spk.Load()
	return spk != nil && spk.Plays(checkpoint)
}

// CheckpointState is what a simulated checkpoint reports of its speaker.
type CheckpointState struct {
	Checkpoint string        `json:"checkpoint"`
	Plays      bool          `json:"plays"` // its passages hear the warning
	Muted      bool          `json:"muted"` // its speaker is broken
	Last       *VoiceCommand `json:"last,omitempty"`
}

// Checkpoints reports each simulated checkpoint's speaker: the voice
// command it last received (and plays, unless muted). Safe for
// concurrent use.
func (s *Site) Checkpoints() []CheckpointState {
	spk := s.spk.Load()
	out := make([]CheckpointState, 0, s.opts.Checkpoints)
	for n := 1; n <= s.opts.Checkpoints; n++ {
		st := CheckpointState{Checkpoint: CheckpointID(n), Muted: slices.Contains(s.opts.Muted, CheckpointID(n))}
		if spk != nil {
			if c, ok := spk.Last(st.Checkpoint); ok {
				st.Last = &c
			}
			st.Plays = spk.Plays(st.Checkpoint)
		}
		out = append(out, st)
	}
	return out
}

// Handler serves GET /api/mqtt/checkpoints: Checkpoints as JSON.
func (s *Site) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/mqtt/checkpoints", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Checkpoints())
	})
	return mux
}

// provinces are plate prefixes, mostly Fujian (闽) around Quanzhou.
var provinces = []string{"闽", "闽", "闽", "闽", "粤", "浙", "赣", "沪", "京"}

// Plate returns a Chinese civil plate such as 闽C12345.
func Plate(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(provinces[r.IntN(len(provinces))])
	b.WriteByte(byte('A' + r.IntN(11)))
	const chars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ" // no I, O
	for i := range 5 {
		if i == 0 || r.IntN(3) > 0 {
			b.WriteByte(chars[r.IntN(10)])
		} else {
			b.WriteByte(chars[r.IntN(len(chars))])
		}
	}
	return b.String()
}

func (s *Site) passage(kk int, at time.Time) Passage {
	id := CheckpointID(kk)
	p := Passage{
		EventID: EventID(id, s.next(id)), CheckpointID: id, TS: at,
		Direction: []string{In, Out}[s.rng.IntN(2)], People: Ptr(1 + s.rng.IntN(4)),
		VoicePlayed: Ptr(s.plays(id)),
	}
	if s.rng.IntN(3) == 0 {
		p.Vehicles, p.Plate = Ptr(1), Plate(s.rng)
	} else {
		p.Vehicles = Ptr(0)
	}
	return p
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
