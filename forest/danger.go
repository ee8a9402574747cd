package forest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// Publisher publishes a message to the MQTT broker (the MQTT source has
// this ability). Publish returns nil once the broker has the message (QoS
// 1: acknowledged); it fails at once when there is no connection. It is
// safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error
}

// Options configure a Danger. Zero values mean defaults.
type Options struct {
	Site     string         // tag site of the points, {site} of the command topic
	Location *time.Location // site.timezone; default UTC
	// DataDir holds StateFile; "" keeps the state in memory only.
	DataDir string
	// Checkpoints are the ids of the declared checkpoints told the level.
	Checkpoints []string
	// Publisher sends the voice commands; nil sends none.
	Publisher Publisher
	// RetryEvery is how often a voice command that could not be published
	// is tried again (besides on every reconnection). Default 10s.
	RetryEvery time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// maxAhead is how far a reading's time may be ahead of the gateway clock.
const maxAhead = 10 * time.Minute

// maxPending bounds the ratings waiting to be written: past it the oldest
// is dropped (the newer ones carry the day's state anyway).
const maxPending = 256

// Danger rates the forest fire danger from the weather station's committed
// readings and writes each rating as a fire_danger point; it tells the
// checkpoints the level when it changes.
//
// It is a gateway.Observer (Observe takes the station's readings from the
// pipeline's committer goroutine, rates them and returns; it never calls
// the pipeline) and a gateway.Source (Run writes the ratings through the
// Acceptor, keeps the state file and publishes the voice commands, until
// its context ends). Open loads the state: call it before the pipeline
// runs, so that no reading is rated against a day that is not loaded yet
// (readings observed before Open are not rated).
type Danger struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	r       *rater
	texts   map[int]string
	path    string
	station string
	pts     Points

	wake    chan struct{} // capacity 1
	opened  atomic.Bool
	started atomic.Bool

	mu         sync.Mutex
	day        Day
	good       bool   // the station's latest status lets its readings count
	frozen     string // why the rating is frozen ("" when it is not), for log-on-change
	pending    []Rating
	dropped    int64
	saveDue    bool
	level      int       // the level of the last rating written
	levelSince time.Time // when it took that level
	voiceDue   bool      // the checkpoints are to be told level
	voiceAsk   uint64    // counts the times voiceDue was set, so a request made during a publication is not lost
	ratings    int64     // fire_danger points written
	damaged    []string
}

var (
	_ gateway.Observer = (*Danger)(nil)
	_ gateway.Source   = (*Danger)(nil)
)

// New returns a Danger for cfg (cfg.Enabled()). It does no I/O.
func New(cfg Config, opts Options) (*Danger, error) {
	var p conf.Problems
	cfg.Validate("forest", &p)
	if len(p.List) > 0 {
		return nil, fmt.Errorf("create fire danger rating: %s: %s", p.List[0].Path, p.List[0].Msg)
	}
	if !cfg.Enabled() {
		return nil, errors.New("create fire danger rating: no forest.danger.station")
	}
	r, texts, err := cfg.compile(opts.Location)
	if err != nil {
		return nil, fmt.Errorf("create fire danger rating: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 10 * time.Second
	}
	if cfg.Checkpoints.CommandTopic == "" {
		cfg.Checkpoints.CommandTopic = DefaultCommandTopic
	}
	d := &Danger{
		cfg: cfg, opts: opts, log: opts.Logger, r: r, texts: texts,
		station: cfg.Danger.Station, pts: cfg.Danger.Points,
		wake: make(chan struct{}, 1), good: true,
	}
	if opts.DataDir != "" {
		d.path = filepath.Join(opts.DataDir, StateFile)
	}
	d.day.DryDays = cfg.Danger.InitialDryDays
	return d, nil
}

// Open loads the state file. A damaged one is logged, moved aside as
// NAME.corrupt-<time> and reported by Damaged; the rating then starts
// afresh from initial_dry_days. Open is called once, before Run and
// before the pipeline delivers points; Run calls it if it was not.
func (d *Danger) Open() error {
	if d.opened.Load() {
		return nil
	}
	defer d.opened.Store(true)
	if d.path == "" {
		return nil
	}
	doc, ok, err := readState(d.path)
	switch {
	case errors.Is(err, errDamaged):
		msg := err.Error()
		if to, merr := moveAside(d.path, d.opts.Now()); merr != nil {
			msg += "; " + merr.Error()
		} else {
			msg += "; moved aside as " + filepath.Base(to)
		}
		msg += fmt.Sprintf(": the dry-day count starts again from initial_dry_days (%d)", d.cfg.Danger.InitialDryDays)
		d.log.Error("fire danger: " + msg)
		d.mu.Lock()
		d.damaged = append(d.damaged, msg)
		d.mu.Unlock()
		return nil
	case err != nil:
		return err // unreadable (permissions): refuse to start rather than forget the count
	case !ok:
		d.log.Info("fire danger: no saved state; starting the dry-day count from initial_dry_days", "dry_days", d.cfg.Danger.InitialDryDays)
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if doc.Station != "" && doc.Station != d.station {
		d.log.Warn("fire danger: the saved state is another station's; its day and dry-day count are kept", "saved", doc.Station, "station", d.station)
	}
	d.day, d.level, d.levelSince = doc.Day, doc.Level, doc.LevelSince
	d.askVoice()
	d.log.Info("fire danger: state loaded", "day", d.day.Date, "dry_days", d.day.DryDays, "level", d.level)
	return nil
}

// Damaged describes the state file found damaged at Open, if it was.
func (d *Danger) Damaged() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.damaged...)
}

// Level returns the level of the last rating written (0 before the first)
// and when it took that level.
func (d *Danger) Level() (int, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.level, d.levelSince
}

// DryDays returns the dry-day count before the current rating day.
func (d *Danger) DryDays() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.day.DryDays
}

// Reconnected tells Danger that the broker connection was (re)established:
// the checkpoints are told the current level again (a broker without
// persistence has lost the retained command). It does not block.
func (d *Danger) Reconnected() {
	d.mu.Lock()
	d.askVoice()
	d.mu.Unlock()
	d.poke()
}

// askVoice asks for the current level to be published (if there is one).
// d.mu is held.
func (d *Danger) askVoice() {
	if d.level > 0 {
		d.voiceDue = true
		d.voiceAsk++
	}
}

func (d *Danger) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Observe takes committed points: the station's device_status points say
// whether its readings may count, and each reading of its four points
// with good values is added to the day and rated. It returns at once.
func (d *Danger) Observe(points []gateway.Point) {
	if !d.opened.Load() {
		return
	}
	var rated bool
	d.mu.Lock()
	// Statuses first: an MQTT source commits a device's status after the
	// reading it came with.
	for i := range points {
		p := &points[i]
		if p.Measurement == gateway.MeasurementDeviceStatus && d.isStation(p) {
			d.status(p)
		}
	}
	for i := range points {
		p := &points[i]
		if p.Measurement == gateway.MeasurementDeviceStatus || p.Measurement == gateway.MeasurementFireDanger ||
			p.Measurement == gateway.MeasurementAlert || !d.isStation(p) {
			continue
		}
		if d.reading(p) {
			rated = true
		}
	}
	d.mu.Unlock()
	if rated {
		d.poke()
	}
}

func (d *Danger) isStation(p *gateway.Point) bool {
	v, ok := p.Tag(gateway.TagDevice)
	return ok && v == d.station
}

// status takes the station's device_status: a fault or maintenance
// (uncertain) means its readings must not rate. A bad status for a failed
// poll or a silent device comes without readings; one for a bad value
// leaves that value out of the reading, which then does not rate.
func (d *Danger) status(p *gateway.Point) {
	q, reason := gateway.QualityGood, ""
	var hasQ bool
	for _, f := range p.Fields {
		switch {
		case f.Key == gateway.FieldQuality && f.Kind == gateway.KindString:
			q, hasQ = gateway.ParseQuality(f.S), true
		case f.Key == gateway.FieldReason && f.Kind == gateway.KindString:
			reason = f.S
		case f.Key == gateway.FieldFault && f.Kind == gateway.KindBool && f.B:
			reason = gateway.ReasonFault
		case f.Key == gateway.FieldMaintenance && f.Kind == gateway.KindBool && f.B:
			q = gateway.QualityUncertain
		}
	}
	if !hasQ && reason == "" {
		return // says nothing of the readings
	}
	d.good = q != gateway.QualityUncertain && reason != gateway.ReasonFault && reason != gateway.ReasonMaintenance
	if !d.good {
		d.freeze("station " + firstNonEmpty(reason, q.String()))
	}
}

// uncertain reports whether a reading point carries its own quality and
// it is not good: an MQTT station's message while it is out of service.
func uncertain(p *gateway.Point) bool {
	for i := range p.Fields {
		if f := &p.Fields[i]; f.Key == gateway.FieldQuality && f.Kind == gateway.KindString {
			return gateway.ParseQuality(f.S) != gateway.QualityGood
		}
	}
	return false
}

// reading rates one point of the station. It reports whether a rating
// was made.
func (d *Danger) reading(p *gateway.Point) bool {
	vals := [4]float64{}
	found := 0
	for i, name := range [4]string{d.pts.Temperature, d.pts.Humidity, d.pts.Wind, d.pts.Rain} {
		f, ok := p.Field(name)
		if !ok {
			continue
		}
		var v float64
		switch f.Kind {
		case gateway.KindFloat:
			v = f.F
		case gateway.KindInt:
			v = float64(f.I)
		default:
			v = math.NaN()
		}
		vals[i] = v
		found++
	}
	switch {
	case found == 0:
		return false // another measurement of the device
	case !d.good:
		return false // frozen by its status (logged there)
	case uncertain(p):
		d.freeze("station reading uncertain (out of service)")
		return false
	case found < 4:
		d.freeze("a weather point has no good value")
		return false
	}
	w := Weather{At: p.Time, Temperature: vals[0], Humidity: vals[1], Wind: vals[2], Rain: vals[3]}
	if ahead := w.At.Sub(d.opts.Now()); ahead > maxAhead {
		// A station clock gone wrong would open a day early and make the
		// correct readings after it look late.
		d.freeze(fmt.Sprintf("reading time %s ahead of the gateway clock", ahead.Round(time.Second)))
		return false
	}
	if !plausible(w) {
		d.freeze(fmt.Sprintf("implausible reading (temperature %v, humidity %v, wind %v, rain %v)", w.Temperature, w.Humidity, w.Wind, w.Rain))
		return false
	}
	day, rt, ok := d.r.take(d.day, w)
	if !ok {
		return false // a late reading of a closed day
	}
	if d.frozen != "" {
		d.log.Info("fire danger: the station's readings are good again; rating resumes", "was", d.frozen)
		d.frozen = ""
	}
	d.day, d.saveDue = day, true
	if len(d.pending) == maxPending {
		d.pending = d.pending[1:]
		d.dropped++
	}
	d.pending = append(d.pending, rt)
	return true
}

// freeze notes that the rating holds: logged when the reason changes.
func (d *Danger) freeze(why string) {
	if d.frozen == why {
		return
	}
	d.frozen = why
	d.log.Warn("fire danger: rating frozen at its last level; the station's reading does not count", "station", d.station, "why", why)
}

// Run writes the ratings, keeps the state file and tells the checkpoints
// the level, until ctx ends; it then saves the state once more. It returns
// an error only if Open fails.
func (d *Danger) Run(ctx context.Context, acc gateway.Acceptor) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("run fire danger rating: already started")
	}
	if err := d.Open(); err != nil {
		return err
	}
	retry := time.NewTicker(d.opts.RetryEvery)
	defer retry.Stop()
	var saveErr, pubErr string
	for {
		d.write(ctx, acc)
		saveErr = d.save(saveErr)
		pubErr = d.tell(ctx, pubErr)
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.saveDue = true
			d.mu.Unlock()
			d.save("")
			return nil
		case <-d.wake:
		case <-retry.C:
		}
	}
}

// write commits the pending ratings as fire_danger points, and notes a
// change of level for the checkpoints.
func (d *Danger) write(ctx context.Context, acc gateway.Acceptor) {
	d.mu.Lock()
	rts := d.pending
	d.pending = nil
	d.mu.Unlock()
	if len(rts) == 0 {
		return
	}
	pts := make([]gateway.Point, len(rts))
	for i, rt := range rts {
		pts[i] = d.point(rt)
	}
	if err := acc.Accept(ctx, pts); err != nil {
		if ctx.Err() == nil {
			d.log.Error("fire danger: ratings not stored; the next reading rates again", "ratings", len(rts), "err", err)
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ratings += int64(len(rts))
	for _, rt := range rts {
		if rt.Level != d.level {
			d.log.Info("fire danger level changed", "station", d.station, "from", d.level, "to", rt.Level, "index", rt.Index)
			d.level, d.levelSince, d.saveDue = rt.Level, rt.At, true
			d.askVoice()
		}
	}
}

// point is the fire_danger point of a rating.
func (d *Danger) point(rt Rating) gateway.Point {
	return gateway.Point{
		Measurement: gateway.MeasurementFireDanger,
		Tags:        []gateway.Tag{{Key: gateway.TagSite, Value: d.opts.Site}, {Key: gateway.TagStation, Value: d.station}},
		Fields: []gateway.Field{
			gateway.Int(gateway.FieldDangerIndex, int64(rt.Index)), gateway.Int(gateway.FieldDangerLevel, int64(rt.Level)),
			gateway.Int(gateway.FieldDangerA, int64(rt.A)), gateway.Int(gateway.FieldDangerB, int64(rt.B)),
			gateway.Int(gateway.FieldDangerC, int64(rt.C)), gateway.Int(gateway.FieldDangerE, int64(rt.E)),
		},
		Time: rt.At,
	}
}

// save writes the state file if it changed. prev is the last error logged
// (log on change); it returns the current one.
func (d *Danger) save(prev string) string {
	d.mu.Lock()
	if !d.saveDue || d.path == "" {
		d.mu.Unlock()
		return prev
	}
	doc := stateDoc{Station: d.station, Day: d.day, Level: d.level, LevelSince: d.levelSince}
	d.saveDue = false
	d.mu.Unlock()
	if err := writeState(d.path, doc); err != nil {
		d.mu.Lock()
		d.saveDue = true
		d.mu.Unlock()
		if err.Error() != prev {
			d.log.Error("fire danger: cannot save the state; the dry-day count may be lost at a restart", "err", err)
		}
		return err.Error()
	}
	if prev != "" {
		d.log.Info("fire danger: state saved again")
	}
	return ""
}

// Command is the voice command published to a checkpoint.
type Command struct {
	Cmd   string    `json:"cmd"` // always "voice"
	Level int       `json:"level"`
	Text  string    `json:"text"`
	TS    time.Time `json:"ts"` // when the level took effect
}

// CommandTopic is the command topic of checkpoint at site under the
// template tmpl.
func CommandTopic(tmpl, site, checkpoint string) string {
	return strings.NewReplacer("{site}", site, "{checkpoint}", checkpoint).Replace(tmpl)
}

// tell publishes the current level to every checkpoint when it is due:
// QoS 1, retained, so a checkpoint that connects later hears it too. A
// failure is tried again on the next reconnection or retry tick. prev is
// the last error logged; it returns the current one.
func (d *Danger) tell(ctx context.Context, prev string) string {
	if d.opts.Publisher == nil || len(d.opts.Checkpoints) == 0 {
		return prev
	}
	d.mu.Lock()
	due, lvl, since, ask := d.voiceDue, d.level, d.levelSince, d.voiceAsk
	d.mu.Unlock()
	if !due || lvl == 0 {
		return prev
	}
	body, err := json.Marshal(Command{Cmd: "voice", Level: lvl, Text: d.texts[lvl], TS: since.UTC()})
	if err != nil {
		return prev // not reached: plain values
	}
	var failed error
	for _, cp := range d.opts.Checkpoints {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.opts.Publisher.Publish(pctx, CommandTopic(d.cfg.Checkpoints.CommandTopic, d.opts.Site, cp), body, 1, true)
		cancel()
		if err != nil {
			failed = fmt.Errorf("checkpoint %s: %w", cp, err)
			break
		}
	}
	if failed != nil {
		if failed.Error() != prev && ctx.Err() == nil {
			d.log.Warn("fire danger: voice command not published; retrying", "level", lvl, "err", failed)
		}
		return failed.Error()
	}
	d.mu.Lock()
	if d.voiceAsk == ask {
		d.voiceDue = false // else a reconnection or a new level asked again meanwhile: once more
	}
	d.mu.Unlock()
	d.log.Info("fire danger: checkpoints told the level", "level", lvl, "checkpoints", len(d.opts.Checkpoints))
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
