package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/internal/conf"
	"github.com/hazardgw/hazardgw/internal/logx"
)

// Source subscribes to the configured topics and turns messages into points
// (see the package documentation).
type Source struct {
	cfg  Config
	site string
	log  *slog.Logger
	subs []*subscription
	met  *metrics
	lim  *logx.Limiter // rejected messages and bad clocks: one line per reason per 10 s
	live *liveness
	// stamps remembers the times given to messages without a usable ts,
	// for their redeliveries; file-backed from Run when there is a data dir.
	stamps *stamps

	// now is the clock; checkEvery the liveness sweep period. Tests set both.
	now        func() time.Time
	checkEvery time.Duration

	in chan paho.Message // paho's handler → workers
	// open reports whether the connection a waiting handler's message came
	// on is still up (Client.IsConnectionOpen); tests replace it. waitT is
	// the handler's timer between two such looks (one handler at a time).
	open  func(paho.Client) bool
	waitT *time.Timer
	stop  chan struct{} // closed at shutdown: handlers stop waiting for a worker
	wake  chan struct{} // a lost connection: sweep now (broker_down points)

	// The devices file ("" without a data dir); lastSave and saveErr
	// are guarded by saveMu (the liveness goroutine, Run at its end, Forget).
	saveMu   sync.Mutex
	devPath  string
	lastSave time.Time
	saveErr  string
	dmu      sync.Mutex
	damaged  []string

	// Handlers run on paho's goroutines; they are counted so that Run can
	// return only after the last one has left.
	hmu      sync.RWMutex
	closed   bool
	handlers sync.WaitGroup

	started   atomic.Bool
	connected atomic.Bool
	client    atomic.Pointer[paho.Client] // for Publish, once Run has made it
	onConn    []func()                    // OnConnect callbacks; set before Run

	// OutOfService, when set (before Run), reports whether a duty officer
	// has taken a device out of service: its readings and events are then
	// stored uncertain, reason maintenance (heartbeats keep their own
	// quality). Called once per message with a device; it must be cheap
	// and safe for concurrent use.
	OutOfService func(device string) bool
	// lastArrival is the last arrival time handed out (UnixNano).
	lastArrival atomic.Int64

	connMu      sync.Mutex // guards the connection log state below
	everUp      bool
	downSince   time.Time
	lastConnErr string
	acceptErr   atomic.Pointer[string] // last Accept error logged, for log-on-change
}

var _ gateway.Source = (*Source)(nil)

// New returns a Source for cfg. It compiles the topic templates and payload
// mappings and registers the metrics on reg (nil: not registered), and does
// no I/O: TLS files are read and the broker is dialled by Run.
func New(cfg Config, site string, logger *slog.Logger, reg prometheus.Registerer) (*Source, error) {
	if cfg.URL == "" {
		return nil, errors.New("create mqtt source: no broker url")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, errors.New("create mqtt source: invalid broker url") // the url may hold a password: not quoted
	}
	if len(cfg.Subscriptions) == 0 {
		return nil, errors.New("create mqtt source: no subscriptions")
	}
	var p conf.Problems
	cfg.validateDevices("mqtt", &p)
	if len(p.List) > 0 {
		return nil, fmt.Errorf("create mqtt source: %s: %s", p.List[0].Path, p.List[0].Msg)
	}
	fixed := make([]bool, len(cfg.Devices))
	for i, d := range cfg.Devices {
		fixed[i] = d.Stale > 0
	}
	cfg = cfg.WithDefaults(site)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		cfg:        cfg,
		site:       site,
		log:        logger,
		live:       newLiveness(cfg.Devices, fixed, cfg.MaxDevices),
		stamps:     newStamps(),
		now:        time.Now,
		checkEvery: checkPeriod(cfg),
		in:         make(chan paho.Message, queueLen),
		open:       func(c paho.Client) bool { return c.IsConnectionOpen() },
		stop:       make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	s.lim = logx.New(rejectLogEvery, func() time.Time { return s.now() })
	if cfg.DataDir != "" {
		s.devPath = filepath.Join(cfg.DataDir, DevicesFile)
	}
	for i, sc := range cfg.Subscriptions {
		sub, err := compileSubscription(sc)
		if err != nil {
			return nil, fmt.Errorf("create mqtt source: subscriptions[%d] (%s): %w", i, sc.Topic, err)
		}
		s.subs = append(s.subs, sub)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("create mqtt source: %w", err)
	}
	s.met = m
	return s, nil
}

// checkPeriod is the liveness sweep period: a quarter of the shortest stale
// duration, so that an offline point is at most 25% late, within [100ms,
// 15s]. cfg has its defaults.
func checkPeriod(cfg Config) time.Duration {
	p := 15 * time.Second
	for _, s := range cfg.Subscriptions {
		p = min(p, s.Stale/4)
	}
	for _, d := range cfg.Devices {
		p = min(p, d.Stale/4)
	}
	return max(p, 100*time.Millisecond)
}

// Connected reports whether the broker connection is up.
func (s *Source) Connected() bool { return s.connected.Load() }

// Devices returns every tracked device — the declared ones, those learnt
// from traffic (also before a restart) — sorted by kind and id. It is
// safe for concurrent use.
func (s *Source) Devices() []DeviceState { return s.live.snapshot() }

// Declared returns the declared devices (mqtt.devices) with their kind
// resolved (the kind tag of their device_status points: camera is
// fire_detection, checkpoint is checkpoint_passage) and their stale
// duration, for the alert engine: labels and locations for messages, and
// devices known before they speak.
func (s *Source) Declared() []Device { return slices.Clone(s.cfg.Devices) }

// Damaged lists what Run found damaged at start and moved aside (the
// devices file), one sentence each; empty when nothing was. It is safe for
// concurrent use.
func (s *Source) Damaged() []string {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return slices.Clone(s.damaged)
}

// Run connects and consumes until ctx ends. It then stops taking messages,
// lets the workers finish the batch in hand (acknowledging what Accept
// committed), disconnects so that those acknowledgements are written first,
// and returns once every goroutine it started has returned. Messages not
// acknowledged by then stay with the broker for the next session.
//
// Run returns an error only if it cannot start (unreadable TLS files); a
// broker that cannot be reached is retried, with capped backoff, until ctx
// ends. Run may be called once.
func (s *Source) Run(ctx context.Context, acc gateway.Acceptor) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("run mqtt source: already started")
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return err
	}
	client := paho.NewClient(s.clientOptions(tlsCfg))
	s.storeClient(client)
	s.begin()
	if s.cfg.DataDir != "" {
		st, err := openStamps(filepath.Join(s.cfg.DataDir, StampsFile))
		if err != nil {
			// Ingest matters more than deduplication: go on, in memory.
			s.log.Warn("cannot open the MQTT stamps file; redeliveries of messages without ts after a restart may be stored twice", "err", err)
		} else {
			s.stamps = st
			defer st.close()
		}
	}

	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() { s.work(ctx, acc) })
	}
	wg.Go(func() { s.watchLiveness(ctx, acc) })

	s.connect(ctx, client)
	<-ctx.Done()

	s.hmu.Lock()
	s.closed = true
	s.hmu.Unlock()
	close(s.stop)
	wg.Wait()
	client.Disconnect(uint(disconnectQuiesce / time.Millisecond))
	s.handlers.Wait()
	s.setConnected(false, nil)
	s.saveDevices(true)
	s.log.Info("mqtt source stopped")
	return nil
}

// begin starts the liveness clocks of the declared devices and of those
// remembered in the devices file, which it loads. A damaged file is
// logged, moved aside and reported by Damaged; the source starts without
// it.
func (s *Source) begin() {
	start := s.now()
	s.live.begin(start)
	if s.devPath == "" {
		return
	}
	saved, err := readDevices(s.devPath)
	if errors.Is(err, errDamaged) {
		msg := fmt.Sprintf("%s is damaged (%v)", s.devPath, err)
		if to, merr := moveAside(s.devPath, start); merr != nil {
			msg += fmt.Sprintf("; %v", merr)
		} else {
			msg += "; moved aside as " + filepath.Base(to)
		}
		msg += ": devices learnt from traffic are forgotten until they speak again"
		s.log.Warn("mqtt: " + msg)
		s.dmu.Lock()
		s.damaged = append(s.damaged, msg)
		s.dmu.Unlock()
		return
	}
	if err != nil {
		s.log.Warn("cannot read the remembered MQTT devices; starting without them", "err", err)
		return
	}
	staleOf := func(kind string) time.Duration { return staleFor(s.cfg.Subscriptions, kind) }
	if left := s.live.load(saved, start, staleOf); left > 0 {
		s.log.Warn("more remembered MQTT devices than max_devices; the least recently seen are forgotten", "max_devices", s.cfg.MaxDevices, "forgotten", left)
	}
	if len(saved) > 0 {
		s.log.Info("remembered MQTT devices loaded", "file", s.devPath, "devices", len(saved))
	}
}

// saveDevices writes the devices file if the learnt devices changed, at
// most once per saveEvery unless final (at the end of Run, when it also
// records the last-seen times).
func (s *Source) saveDevices(final bool) {
	if s.devPath == "" {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	now := s.now()
	if !final && now.Sub(s.lastSave) < saveEvery {
		return
	}
	devs, changed := s.live.learntDevices()
	if !changed && !final {
		return
	}
	s.lastSave = now
	if err := writeDevices(s.devPath, devs); err != nil {
		s.live.markDirty()
		// Log on change of the cause (the temp file's name changes every
		// time): once for a full disk, not every 5 s.
		if msg := logx.Cause(err); msg != s.saveErr {
			s.saveErr = msg
			s.log.Warn("cannot remember the MQTT devices learnt from traffic; will retry", "err", err)
		}
		return
	}
	if s.saveErr != "" {
		s.saveErr = ""
		s.log.Info("MQTT devices file written again", "file", s.devPath)
	}
}

// clientOptions configures paho for no loss: a persistent session under a
// stable client id, manual acknowledgement after the spool commit, and a
// default handler set before connecting so that messages the broker queued
// for the session are not dropped on arrival.
func (s *Source) clientOptions(tlsCfg *tls.Config) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(s.cfg.URL).
		SetClientID(s.cfg.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetResumeSubs(false).  // subscribed in onConnect, every time
		SetOrderMatters(true). // the handler's wait is the back-pressure on the socket (see onMessage)
		SetAutoAckDisabled(true).
		SetStore(newSessionStore()).
		SetDefaultPublishHandler(s.onMessage).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(s.onLost).
		SetKeepAlive(s.cfg.KeepAlive).
		SetPingTimeout(min(s.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(connectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(false). // the first connection is retried by connect, with backoff and ctx
		SetMaxReconnectInterval(s.cfg.MaxBackoff)
	if open := bufferedOpener(s.cfg.URL); open != nil {
		o.SetCustomOpenConnectionFn(open)
	}
	if s.cfg.Username != "" {
		o.SetUsername(s.cfg.Username)
		o.SetPassword(s.cfg.Password)
	}
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	return o
}

// tlsConfig reads the TLS files for ssl:// and wss:// brokers.
func (s *Source) tlsConfig() (*tls.Config, error) {
	u, err := url.Parse(s.cfg.URL)
	if err != nil {
		return nil, errors.New("load mqtt tls config: invalid broker url")
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
	default:
		return nil, nil
	}
	t := s.cfg.TLS
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // an operator's explicit choice
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("load mqtt tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("load mqtt tls ca_file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load mqtt tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// connect makes the first connection, retrying with capped backoff until it
// succeeds or ctx ends; paho reconnects by itself after that.
func (s *Source) connect(ctx context.Context, client paho.Client) {
	for attempt := 1; ; attempt++ {
		tok := client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		err := tok.Error()
		if err == nil {
			return
		}
		delay := gateway.Backoff(attempt, 500*time.Millisecond, s.cfg.MaxBackoff, 0)
		s.connMu.Lock()
		if msg := err.Error(); msg != s.lastConnErr {
			s.lastConnErr = msg
			s.log.Warn("cannot connect to MQTT broker; retrying", "broker", redact(s.cfg.URL), "attempt", attempt, "retry_in", delay, "err", err)
		}
		s.connMu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// enter admits a paho callback unless Run is shutting down; leave with
// s.handlers.Done.
func (s *Source) enter() bool {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

func (s *Source) onConnect(c paho.Client) {
	if !s.enter() {
		return
	}
	defer s.handlers.Done()
	s.setConnected(true, nil)
	defer func() { // also when subscribing fails: publishing does not need it
		for _, f := range s.onConn {
			f()
		}
	}()
	// Every time: paho does not restore subscriptions, and a broker that
	// lost its state (no persistence) no longer has them.
	filters := make(map[string]byte, len(s.subs))
	for _, sub := range s.subs {
		if q, ok := filters[sub.tmpl.Filter()]; !ok || sub.qos > q {
			filters[sub.tmpl.Filter()] = sub.qos
		}
	}
	tok := c.SubscribeMultiple(filters, nil)
	t := time.NewTimer(subscribeTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-s.stop:
		return
	case <-t.C:
		s.log.Error("MQTT subscribe not acknowledged; will retry on reconnection", "timeout", subscribeTimeout)
		return
	}
	if err := tok.Error(); err != nil {
		s.log.Error("MQTT subscribe failed; will retry on reconnection", "err", err)
		return
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				s.log.Error("MQTT broker refused subscription (check its ACL)", "filter", f)
			}
		}
	}
}

func (s *Source) onLost(_ paho.Client, err error) {
	if !s.enter() {
		return
	}
	defer s.handlers.Done()
	s.setConnected(false, err)
}

// setConnected records and logs a connection state change.
func (s *Source) setConnected(up bool, err error) {
	now := s.now()
	s.connMu.Lock()
	defer s.connMu.Unlock()
	was := s.connected.Swap(up)
	s.live.setConnected(up)
	if was && !up {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if up {
		s.met.connected.Set(1)
		s.met.connects.Inc()
		s.lastConnErr = ""
		if !s.everUp {
			s.everUp = true
			s.log.Info("connected to MQTT broker", "broker", redact(s.cfg.URL), "client_id", s.cfg.ClientID, "subscriptions", len(s.subs))
		} else {
			s.log.Info("reconnected to MQTT broker", "broker", redact(s.cfg.URL), "down_for", now.Sub(s.downSince).Round(time.Millisecond))
		}
		return
	}
	s.met.connected.Set(0)
	if was {
		s.downSince = now
		if err != nil {
			s.log.Warn("lost connection to MQTT broker; reconnecting", "broker", redact(s.cfg.URL), "err", err)
		}
	}
}

// onMessage is paho's handler. With SetOrderMatters(true) paho calls it on
// the one goroutine that also reads the connection, message after message,
// so that while it waits paho reads nothing more and the broker's messages
// wait in the broker, not in this process: a broker resuming a session
// sends its whole backlog at once whatever max_inflight_messages says
// (Mosquitto 2.0 does), and tens of thousands of messages held here cost
// tens of MB. A QoS 1 message waits for room in the queue; a QoS 0 one,
// which the broker does not redeliver anyway, is dropped when the queue is
// full, as overload.
//
// The wait ends when the connection the message came on is gone: the
// message is then left unacknowledged, and the broker sends it again on
// the next connection. (paho cannot start that connection before this
// handler has returned.) So a spool that refuses commits for a long time
// costs reconnections, never a stuck client.
func (s *Source) onMessage(c paho.Client, m paho.Message) {
	if !s.enter() {
		return // not acknowledged: the broker redelivers it next session
	}
	defer s.handlers.Done()
	select {
	case s.in <- m:
		return
	default:
	}
	if m.Qos() == 0 {
		s.met.messages.Inc()
		s.rejected(reject{reason: reasonOverload}, m.Topic(), nil)
		return
	}
	if s.waitT == nil {
		s.waitT = time.NewTimer(handoffCheck)
	} else {
		s.waitT.Reset(handoffCheck)
	}
	defer s.waitT.Stop()
	for {
		select {
		case s.in <- m:
			return
		case <-s.stop:
			return
		case <-s.waitT.C:
			if !s.open(c) {
				return
			}
			s.waitT.Reset(handoffCheck)
		}
	}
}

// route finds the first subscription whose template matches topic and
// appends its tags to dst.
func (s *Source) route(topic string, dst []gateway.Tag) (*subscription, []gateway.Tag) {
	for _, sub := range s.subs {
		if tags, ok := sub.tmpl.Match(topic, dst); ok {
			return sub, tags
		}
	}
	return nil, dst
}

// rejected counts and (rate-limited) logs a bad message.
func (s *Source) rejected(r reject, topic string, payload []byte) {
	s.met.reject(r.reason)
	ok, suppressed := s.lim.Allow(string(r.reason), "")
	if !ok {
		return
	}
	args := []any{"reason", string(r.reason), "topic", topic, "bytes", len(payload)}
	if r.field != "" {
		args = append(args, "field", r.field)
	}
	if len(payload) > 0 && r.reason != reasonTooLarge {
		args = append(args, "payload", preview(payload))
	}
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	s.log.Warn("rejected MQTT message (acknowledged, not stored)", args...)
}

// badClockKey is the log limiter's key for implausible timestamps.
const badClockKey reason = "implausible_timestamp"

// badClock logs (rate-limited) a message stored at its arrival time because
// its timestamp was implausible.
func (s *Source) badClock(topic string, ts time.Time) {
	ok, suppressed := s.lim.Allow(string(badClockKey), "")
	if !ok {
		return
	}
	args := []any{"topic", topic, "ts", ts.UTC().Format(time.RFC3339Nano), "gateway_time", s.now().UTC().Format(time.RFC3339)}
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	s.log.Warn("implausible timestamp: a device clock (or the gateway's) is wrong; stored at arrival time", args...)
}

// preview is the start of a payload, safe to log.
func preview(p []byte) string {
	const n = 120
	cut := p
	if len(cut) > n {
		cut = cut[:n]
	}
	out := strings.ToValidUTF8(string(cut), "\uFFFD")
	if len(p) > n {
		out += "…"
	}
	return out
}

// redact drops the user info from a broker URL for logging.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	return u.String()
}

// ---- workers ----

// worker is one decoding goroutine's state, reused batch after batch.
type worker struct {
	s     *Source
	env   env
	msgs  []paho.Message
	good  []paho.Message // acknowledged after Accept
	bad   []paho.Message // acknowledged regardless: rejected
	seen  []seen
	pidx  []int // point index of each seen entry
	ttags []gateway.Tag
	// points, tags and fields are the arrays a batch's points are built
	// in (see process).
	points []gateway.Point
	tags   []gateway.Tag
	fields []gateway.Field
	// stamps of this batch's messages stored at arrival time, recorded
	// before the commit.
	stamps []stampEntry
}

func (s *Source) work(ctx context.Context, acc gateway.Acceptor) {
	w := &worker{s: s, env: env{site: s.site, ids: &interner{}}}
	for {
		var first paho.Message
		select {
		case first = <-s.in:
		case <-ctx.Done():
			return
		}
		w.msgs = append(w.msgs[:0], first)
	more:
		for len(w.msgs) < maxBatch {
			select {
			case m := <-s.in:
				w.msgs = append(w.msgs, m)
			default:
				break more
			}
		}
		w.process(ctx, acc)
		clear(w.msgs) // don't pin payloads until the next batch
	}
}

// process decodes w.msgs, commits the points in one Accept and acknowledges
// the messages: the stored ones only if Accept succeeded, the rejected ones
// always (they will never be stored, and redelivery would not change that).
func (w *worker) process(ctx context.Context, acc gateway.Acceptor) {
	s := w.s
	now := s.now()
	n := len(w.msgs)
	// The worker's arrays, reused batch after batch: the pipeline's
	// observers copy what they keep before Accept returns, and so does the
	// liveness tracker in stored. They grow to the largest batch (bounded
	// by maxBatch); a decoder that needs more than the room left allocates
	// for that point alone (see carve).
	points := w.points[:0]
	if cap(points) < n+4 {
		points = make([]gateway.Point, 0, n+4)
	}
	tags := w.tags[:0]
	if cap(tags) < n*6 {
		tags = make([]gateway.Tag, 0, n*6)
	}
	fields := w.fields[:0]
	if cap(fields) < n*6 {
		fields = make([]gateway.Field, 0, n*6)
	}
	defer func() {
		// Drop the references to this batch's strings; keep the arrays.
		clear(points[:cap(points)])
		clear(tags[:cap(tags)])
		clear(fields[:cap(fields)])
		w.points, w.tags, w.fields = points[:0], tags[:0], fields[:0]
	}()
	w.good, w.bad, w.seen, w.pidx, w.stamps = w.good[:0], w.bad[:0], w.seen[:0], w.pidx[:0], w.stamps[:0]
	s.met.messages.Add(float64(n))
	arrived := s.arrivals(now, n)
	for i, m := range w.msgs {
		// Messages stamped at arrival get distinct times (1 ns apart within
		// a batch, and across the workers' batches), or two events of one
		// series would be one point.
		w.env.now = arrived.Add(time.Duration(i))
		topic := m.Topic()
		sub, tt := s.route(topic, w.ttags[:0])
		w.ttags = tt
		if sub == nil {
			s.rejected(reject{reason: reasonUnknownTopic}, topic, m.Payload())
			w.bad = append(w.bad, m)
			continue
		}
		if r := checkTopicTags(tt); !r.ok() {
			s.rejected(r, topic, m.Payload())
			w.bad = append(w.bad, m)
			continue
		}
		w.env.topicTags = tt
		var d decoded
		d.point.Tags, d.point.Fields = tags[len(tags):], fields[len(fields):]
		if r := sub.dec.decode(&w.env, m.Payload(), &d); !r.ok() {
			s.rejected(r, topic, m.Payload())
			w.bad = append(w.bad, m)
			continue
		}
		tags, fields = carve(tags, d.point.Tags), carve(fields, d.point.Fields)
		d.point.Tags = d.point.Tags[:len(d.point.Tags):len(d.point.Tags)]
		d.point.Fields = d.point.Fields[:len(d.point.Fields):len(d.point.Fields)]
		switch {
		case !d.badClock.IsZero():
			s.met.badClock.Inc()
			s.badClock(topic, d.badClock)
		case d.arrival:
			s.met.arrival.Inc()
		}
		if d.arrival {
			// No usable ts: a redelivery gets the time its first copy got.
			key := stampKey(topic, m.Payload())
			if at, ok := s.redelivered(m, key); ok {
				d.point.Time = at
			} else {
				w.stamps = append(w.stamps, stampEntry{key: key, at: d.point.Time})
			}
		}
		if d.device != "" && !d.heartbeat && s.OutOfService != nil && s.OutOfService(d.device) {
			markOutOfService(&d.point)
		}
		if d.device != "" {
			w.seen = append(w.seen, seen{kind: sub.kind, id: d.device, stale: sub.stale, heartbeat: d.heartbeat, online: d.online, fault: d.fault})
			w.pidx = append(w.pidx, len(points))
		}
		points = append(points, d.point)
		w.good = append(w.good, m)
	}
	// Devices not known to be online (and good) get a device_status point,
	// committed in the same transaction as their message; heartbeats are
	// device_status points themselves and get the device's kind.
	if refused, first := s.live.announce(w.seen); refused > 0 {
		s.met.untracked.Add(float64(refused))
		if first != "" {
			s.log.Warn("MQTT device limit reached: messages from further new devices are stored, but their liveness is not tracked",
				"max_devices", s.cfg.MaxDevices, "first_untracked", first)
		}
	}
	online := true
	for i := range w.seen {
		e := &w.seen[i]
		switch {
		case e.heartbeat && e.tracked:
			setKind(&points[w.pidx[i]], e.kind)
		case e.announced:
			points = append(points, statusPoint(s.site, e.id, e.kind, &online, e.q, e.why, now))
		}
	}
	if len(points) > 0 {
		if err := s.acceptRetrying(ctx, acc, points, len(w.good), w.stamps); err != nil {
			ackAll(w.bad)
			s.live.abandon(w.seen)
			return
		}
		if p := s.acceptErr.Load(); p != nil && s.acceptErr.CompareAndSwap(p, nil) {
			s.log.Info("spool accepts MQTT messages again")
		}
	}
	ackAll(w.good)
	ackAll(w.bad)
	for i := range w.seen {
		w.seen[i].point = &points[w.pidx[i]]
	}
	s.live.stored(w.seen, now)
	for i := range w.seen {
		w.seen[i] = seen{}
	}
}

// arrivals reserves n consecutive nanoseconds of arrival time, from now or
// just after the last ones reserved, whichever is later: two workers
// decoding at the same instant never hand out the same time.
func (s *Source) arrivals(now time.Time, n int) time.Time {
	for {
		last := s.lastArrival.Load()
		first := max(now.UnixNano(), last+1)
		if s.lastArrival.CompareAndSwap(last, first+int64(n)-1) {
			return time.Unix(0, first).In(now.Location())
		}
	}
}

// checkTopicTags rejects a message whose {name} topic levels cannot be tag
// values: like device ids, at most 256 bytes without control characters.
// (An empty level adds no tag.)
func checkTopicTags(tags []gateway.Tag) reject {
	for _, t := range tags {
		if t.Value != "" && (!validID(t.Value) || !utf8.ValidString(t.Value)) {
			return reject{reason: reasonInvalidTopic, field: t.Key}
		}
	}
	return reject{}
}

func ackAll(ms []paho.Message) {
	for _, m := range ms {
		m.Ack()
	}
}

// redelivered returns the time remembered for a message the broker sends
// again (DUP set) whose first copy was stored at arrival time.
func (s *Source) redelivered(m paho.Message, key uint64) (time.Time, bool) {
	if !m.Duplicate() {
		return time.Time{}, false
	}
	at, ok := s.stamps.lookup(key)
	if ok {
		s.met.restamped.Inc()
	}
	return at, ok
}

// acceptRetrying hands points to acc until it takes them or the source
// stops. A failed commit (a full or failing disk) is retried with capped
// backoff rather than given up: the messages are only acknowledged once
// stored, and paho does not redeliver an unacknowledged message on a live
// connection, so giving up would fill the broker's in-flight window and
// stop ingest for good. Meanwhile the worker holds its batch, which is the
// back-pressure the broker sees. It returns an error only when the source
// is stopping (the messages then stay with the broker for the next session).
//
// The arrival stamps of the batch are recorded first: a point on disk
// always has its stamp on disk.
func (s *Source) acceptRetrying(ctx context.Context, acc gateway.Acceptor, points []gateway.Point, n int, stamps []stampEntry) error {
	wait := 100 * time.Millisecond
	for {
		err := s.stamps.record(stamps)
		if err == nil {
			stamps = nil // recorded: not again on a retry
			err = acc.Accept(ctx, points)
		}
		if err == nil {
			return nil
		}
		s.acceptFailed(err, n)
		if ctx.Err() != nil || errors.Is(err, gateway.ErrPipelineClosed) || errors.Is(err, context.Canceled) {
			return err
		}
		s.met.acceptRetries.Inc()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// acceptFailed logs an Accept failure on change. The messages stay
// unacknowledged, so the broker redelivers them; at shutdown that is the
// expected path and not logged.
func (s *Source) acceptFailed(err error, n int) {
	if errors.Is(err, context.Canceled) || errors.Is(err, gateway.ErrPipelineClosed) {
		return
	}
	msg := logx.Cause(err) // not the whole text: it says how many bytes are free
	if p := s.acceptErr.Load(); p != nil && *p == msg {
		return
	}
	s.acceptErr.Store(&msg)
	s.log.Error("cannot commit MQTT messages to the spool; retrying, they stay unacknowledged until stored", "messages", n, "err", err)
}

// carve advances arena over used if the decoder appended in place (used
// starts at arena's end, in the same backing array); otherwise the decoder
// had to allocate and arena stays as it was.
func carve[T any](arena, used []T) []T {
	if len(used) == 0 || len(arena) == cap(arena) {
		return arena
	}
	if &arena[:len(arena)+1][len(arena)] == &used[0] {
		return arena[:len(arena)+len(used)]
	}
	return arena
}

// ---- liveness ----

// watchLiveness sweeps for silent devices every checkEvery, and at once
// when the broker connection is lost; it saves the devices file when the
// learnt devices changed (rate-limited).
func (s *Source) watchLiveness(ctx context.Context, acc gateway.Acceptor) {
	t := time.NewTicker(s.checkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		s.sweep(ctx, acc)
		s.saveDevices(false)
	}
}

// sweep commits the status points due (see liveness.due): online=false for
// devices silent beyond their stale duration, broker_down for every device
// while disconnected, and the count of untracked devices when it changed.
// A failed Accept changes nothing, so the next sweep retries.
func (s *Source) sweep(ctx context.Context, acc gateway.Acceptor) {
	now := s.now()
	changes, untracked := s.live.due(now)
	if len(changes) == 0 && untracked < 0 {
		return
	}
	points := make([]gateway.Point, 0, len(changes)+1)
	offline := false
	for _, c := range changes {
		var on *bool
		if c.offline {
			on = &offline
		}
		points = append(points, statusPoint(s.site, c.id, c.kind, on, c.quality, c.reason, now))
	}
	if untracked >= 0 {
		points = append(points, untrackedPoint(s.site, int64(untracked), now))
	}
	if err := acc.Accept(ctx, points); err != nil {
		s.acceptFailed(err, 0)
		return
	}
	s.live.applied(changes, untracked)
	unreachable := 0
	for _, c := range changes {
		switch {
		case !c.offline:
			unreachable++
		case c.reason == reasonBrokerDown:
			s.log.Warn("MQTT device silent while the broker is unreachable; marked offline", "device", c.id, "kind", c.kind)
		default:
			s.log.Warn("MQTT device silent; marked offline", "device", c.id, "kind", c.kind)
		}
	}
	if unreachable > 0 {
		s.log.Warn("MQTT devices marked bad: no broker connection", "devices", unreachable)
	}
}
