package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/hazardgw/hazardgw/adapters/dutydesk"
	"github.com/hazardgw/hazardgw/adapters/influx"
	"github.com/hazardgw/hazardgw/adapters/modbus"
	"github.com/hazardgw/hazardgw/adapters/mqtt"
	"github.com/hazardgw/hazardgw/adapters/receivers"
	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/console"
	"github.com/hazardgw/hazardgw/forest"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/geo"
	"github.com/hazardgw/hazardgw/httpapi"
	"github.com/hazardgw/hazardgw/internal/retryhttp"
)

// runGateway runs the gateway described by cfg until ctx ends, then shuts
// down in data-flow order: sources stop, the pipeline commits what they
// handed over, the forwarder flushes the spool for at most
// gateway.shutdown_timeout, and the spool is closed. Whatever is not flushed
// stays in the spool for the next start.
func runGateway(ctx context.Context, cfg *File, logger *slog.Logger) (err error) {
	started := false
	defer func() {
		if err != nil && !started {
			err = &startError{err}
		}
	}()
	applyMaxProcs(os.LookupEnv, cfg.MQTT.URL != "", logger)
	gw := cfg.Gateway
	if gw.DataDir == "" {
		gw.DataDir = gateway.DefaultDataDir
	}
	if gw.SpoolMaxBytes <= 0 {
		gw.SpoolMaxBytes = gateway.DefaultSpoolMaxBytes
	}
	if gw.HTTP.Listen == "" {
		gw.HTTP.Listen = gateway.DefaultListen
	}
	if gw.ShutdownTimeout <= 0 {
		gw.ShutdownTimeout = gateway.DefaultShutdownTimeout
	}
	if err := os.MkdirAll(gw.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	sp, err := spool.Open(filepath.Join(gw.DataDir, "spool.db"), spool.Options{MaxBytes: int64(gw.SpoolMaxBytes), MinFree: spoolMinFree})
	if err != nil {
		return err
	}
	defer sp.Close()
	if st := sp.Stats(); st.Count > 0 {
		logger.Info("spool holds points from before; resuming delivery", "points", st.Count, "oldest", st.Oldest)
	}

	sink, err := influx.New(cfg.InfluxDB, logger.With("component", "influxdb"))
	if err != nil {
		return err
	}
	defer sink.Close()
	icfg := cfg.InfluxDB.WithDefaults()

	var observers []gateway.Observer
	// --- alerting is wired here (an Observer of committed points) ---
	notifiers := map[string]alerting.Notifier{}
	clocks := map[string]retryhttp.ClockReporter{} // the receivers' clocks, as their answers tell
	imSite := receivers.Site{Name: cfg.Site.Name, Language: cfg.Site.Language, Location: cfg.Site.Location()}
	for _, n := range cfg.Alerting.Notify {
		if receivers.Handles(n) {
			r, err := receivers.New(n, imSite, receivers.Options{}, logger.With("component", "receivers", "receiver", n.Name, "type", n.Type))
			if err != nil {
				return err
			}
			notifiers[n.Name] = r
			if c, ok := r.(retryhttp.ClockReporter); ok {
				clocks[n.Name] = c
			}
			continue
		}
		desk, err := dutydesk.New(n, dutydesk.Options{}, logger.With("component", "dutydesk", "receiver", n.Name))
		if err != nil {
			return err
		}
		notifiers[n.Name] = desk
		clocks[n.Name] = desk
	}
	var alertDevices []alerting.Device // labels, poll intervals and units for rules and messages
	for _, l := range cfg.Modbus.Links {
		for _, d := range l.Devices {
			units, labels := map[string]string{}, map[string]string{}
			for _, p := range d.Points {
				units[p.Name] = p.Unit
				if p.Label != "" {
					labels[p.Name] = p.Label
				}
			}
			interval := d.Interval
			if interval <= 0 {
				interval = modbus.DefaultInterval
			}
			alertDevices = append(alertDevices, alerting.Device{ID: d.ID, Label: d.Label, Kind: d.Kind, Interval: interval, Units: units, PointLabels: labels, FaultPoint: d.FaultPoint, Tags: d.Tags})
		}
	}
	// Declared MQTT devices are watched from the start, so that one that
	// never speaks still goes stale, and named by their labels.
	for _, d := range cfg.MQTT.DeclaredDevices() {
		ad := alerting.Device{ID: d.ID, Label: d.Label, Kind: d.Kind}
		if l := d.Location; l != nil && l.Lat != nil && l.Lon != nil {
			ad.Location = &geo.Point{Lat: *l.Lat, Lon: *l.Lon} // a camera's bearings locate fires
		}
		alertDevices = append(alertDevices, ad)
	}
	// The station's fire danger rating is alarmed as a series of the
	// station: name its points in messages.
	for i := range alertDevices {
		if cfg.Forest.Enabled() && alertDevices[i].ID == cfg.Forest.Danger.Station {
			labels := maps.Clone(alertDevices[i].PointLabels)
			if labels == nil {
				labels = map[string]string{}
			}
			for k, v := range dangerLabels(cfg.Site.Language) {
				if _, ok := labels[k]; !ok {
					labels[k] = v
				}
			}
			alertDevices[i].PointLabels = labels
		}
	}
	// The gateway reports its own health like a device, so that a full
	// spool raises the built-in alarm (alerting.SpoolFullRule).
	alertDevices = append(alertDevices, alerting.Device{
		ID: gateway.GatewayDevice, Label: "hazardgw " + cfg.Site.ID, Kind: gateway.MeasurementGateway,
		Interval: gateway.DefaultSelfMonitorInterval,
		Units:    map[string]string{gateway.FieldMQTTDown: "s", gateway.FieldSinkStalled: "s"},
	})
	reg := prometheus.NewRegistry()
	alerts, err := alerting.New(cfg.Alerting, alerting.Options{
		Site: cfg.Site.ID, SiteName: cfg.Site.Name, Language: cfg.Site.Language, Path: filepath.Join(gw.DataDir, "alerts.db"),
		Devices: alertDevices, Notifiers: notifiers, Logger: logger.With("component", "alerting"),
		MQTTAlertAfter: cfg.MQTT.AlertAfter, SinkAlertAfter: cfg.InfluxDB.AlertAfter,
		TriangulateWindow: cfg.Forest.TriangulateWindow, MaxEventAge: cfg.Forest.MaxEventAge,
	})
	if err != nil {
		return err
	}
	if err := alerts.Open(); err != nil { // fail now rather than run without alarms
		return err
	}
	defer alerts.Close()
	observers = append(observers, alerts)

	var mq *mqtt.Source
	if cfg.MQTT.URL != "" {
		mcfg := cfg.MQTT
		mcfg.DataDir = gw.DataDir // learnt devices are remembered there
		mq, err = mqtt.New(mcfg, cfg.Site.ID, logger.With("component", "mqtt"), reg)
		if err != nil {
			return err
		}
	}
	// The fire danger rating observes the station's committed readings and
	// writes its ratings through the pipeline like a source.
	var danger *forest.Danger
	if cfg.Forest.Enabled() {
		opts := forest.Options{Site: cfg.Site.ID, Location: cfg.Site.Location(), DataDir: gw.DataDir,
			Checkpoints: cfg.checkpointIDs(), Logger: logger.With("component", "forest")}
		if mq != nil {
			opts.Publisher = mq
		}
		danger, err = forest.New(cfg.Forest.Rating(), opts)
		if err != nil {
			return err
		}
		if err := danger.Open(); err != nil {
			return err
		}
		lvl, _ := danger.Level()
		alerts.RestoreDangerLevel(lvl) // voice_missed rules judge at once, not from the next station reading
		observers = append(observers, danger)
		reg.MustRegister(danger.Collector())
		if mq != nil {
			mq.OnConnect(danger.Reconnected)
		}
	}

	pipe := gateway.NewPipeline(sp, gateway.PipelineOptions{}, logger.With("component", "pipeline"), observers...)
	fwd := gateway.NewForwarder(sp, sink, pipe.Notify(), gateway.ForwarderOptions{
		BatchSize: icfg.BatchSize, FlushInterval: icfg.FlushInterval,
		// The InfluxDB writer takes concurrent writes. Two batches of at
		// most 512 KiB of lines each hold as much memory as one of 1 MiB.
		InFlight: 2, BatchBytes: 512 << 10,
	}, logger.With("component", "forwarder"))

	reg.MustRegister(
		newBuildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gateway.NewCollector(pipe, sp, fwd),
		alerts.Collector(),
		retryhttp.ClockCollector(clocks),
	)

	mon := &gateway.SelfMonitor{
		Site: cfg.Site.ID, MaxBytes: int64(gw.SpoolMaxBytes), Spool: sp, Fwd: fwd,
		Logger: logger.With("component", "selfmon"),
	}
	damaged := []func() []string{sp.Damaged}
	mon.Damaged = func() int {
		n := 0
		for _, f := range damaged {
			n += len(f())
		}
		return n
	}
	// The health report waits for its commit: one that cannot be stored (a
	// full disk) is counted as lost and shown to alerting all the same.
	mon.Lost = func() int64 { return pipe.Stats().Lost }
	sources := []gateway.Source{mon}
	api := &httpapi.Server{
		Token:   gw.HTTP.Token,
		Logger:  logger,
		Checks:  []httpapi.Check{{Name: "spool", Func: sp.Writable}},
		Metrics: reg,
		Routes:  map[string]http.Handler{},
		Site:    siteInfo(cfg.Site, cfg.Alerting),
	}
	maps.Copy(api.Routes, alerts.Routes())
	maps.Copy(api.Routes, console.Routes()) // the duty console at GET /, open like /healthz: it holds no data
	if len(cfg.Modbus.Links) > 0 {
		mb, err := modbus.New(cfg.Modbus, cfg.Site.ID, logger.With("component", "modbus"))
		if err != nil {
			return err
		}
		reg.MustRegister(mb.Collector())
		mb.OutOfService = alerts.OutOfService // readings of a device out of service are uncertain
		// Polls have nothing to acknowledge upstream: hand them over without
		// waiting for the commit, so a link's back-to-back polls share one fsync.
		sources = append(sources, asyncSource{mb, pipe})
		api.Devices = append(api.Devices, func() []any {
			ds := mb.Devices()
			out := make([]any, len(ds))
			for i := range ds {
				out[i] = ds[i]
			}
			return out
		})
	}

	// --- more sources (MQTT) are wired here ---
	if mq != nil {
		mq.OutOfService = alerts.OutOfService // messages of a device out of service are uncertain
		// DELETE /api/v1/devices/{id}: a device learnt from traffic, decommissioned.
		alerts.SetForget(func(id string) error {
			err := mq.Forget(id)
			switch {
			case errors.Is(err, mqtt.ErrUnknownDevice):
				return alerting.ErrUnknownDevice
			case errors.Is(err, mqtt.ErrDeclaredDevice):
				return alerting.ErrConfiguredDevice
			}
			return err
		})
		sources = append(sources, mq)
		mon.MQTTConnected = mq.Connected
		damaged = append(damaged, mq.Damaged)
		api.Devices = append(api.Devices, func() []any {
			ds := mq.Devices()
			out := make([]any, len(ds))
			for i := range ds {
				out[i] = ds[i]
			}
			return out
		})
	}

	if danger != nil {
		sources = append(sources, danger)
		damaged = append(damaged, danger.Damaged)
	}

	ln, err := net.Listen("tcp", gw.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", gw.HTTP.Listen, err)
	}
	srv := newHTTPServer(api.Handler(), defaultHTTPTimeouts)
	started = true
	logger.Info("hazardgw started", "site", cfg.Site.ID, "http", ln.Addr().String(), "sources", len(sources))

	// Each stage has its own context so that shutdown can go stage by stage.
	pipeCtx, stopPipe := context.WithCancel(context.Background())
	defer stopPipe()
	fwdCtx, stopFwd := context.WithCancel(context.Background())
	defer stopFwd()
	alertCtx, stopAlerts := context.WithCancel(context.Background())
	defer stopAlerts()
	alertsDone := make(chan error, 1)
	go func() { alertsDone <- alerts.Run(alertCtx, pipe) }()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- pipe.Run(pipeCtx) }()
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- fwd.Run(fwdCtx) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range sources {
		g.Go(func() error { return s.Run(gctx, pipe) })
	}
	srcErr := g.Wait() // returns once ctx ends (or a source fails)
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		logger.Error("source failed", "err", srcErr)
	}

	logger.Info("shutting down")
	stopPipe()
	<-pipeDone
	stopAlerts() // after the pipeline: every committed point has been observed
	if err := <-alertsDone; err != nil {
		logger.Error("alerting stopped", "err", err)
	}
	stopFwd()
	<-fwdDone
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), gw.ShutdownTimeout)
	defer cancelDrain()
	if err := fwd.Drain(drainCtx); err != nil {
		logger.Warn("spool not fully flushed; the rest is sent on next start", "left", sp.Stats().Count, "err", err)
	}
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelShut()
	_ = srv.Shutdown(shutCtx)
	if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	st := pipe.Stats()
	logger.Info("drained", "accepted", st.Accepted, "written", fwd.Stats().Written, "left_in_spool", sp.Stats().Count)
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) && ctx.Err() == nil {
		return srcErr
	}
	return nil
}

// asyncSource runs a source that has nothing to acknowledge upstream with
// the pipeline's asynchronous acceptor.
// spoolMinFree is what the spool leaves free on data_dir's file system
// when a backlog fills it: room for its cursor (so draining goes on) and
// for the alert store, whose notifications wait for its commits, so that
// gateway:spool-full still reaches the duty desk.
const spoolMinFree = 8 << 20

type asyncSource struct {
	gateway.Source
	pipe *gateway.Pipeline
}

func (a asyncSource) Run(ctx context.Context, _ gateway.Acceptor) error {
	return a.Source.Run(ctx, a.pipe.Async())
}

// siteInfo is what /api/v1/site tells the console about the site, with
// the defaults of empty fields filled in.
func siteInfo(c gateway.SiteConfig, a alerting.Config) *httpapi.SiteInfo {
	lang := c.Language
	if lang == "" {
		lang = gateway.DefaultLanguage
	}
	maxShelve := a.MaxShelve
	if maxShelve <= 0 {
		maxShelve = alerting.DefaultMaxShelve
	}
	return &httpapi.SiteInfo{ID: c.ID, Name: c.Name, Timezone: c.Location().String(), Language: lang, MaxShelve: maxShelve.String()}
}
