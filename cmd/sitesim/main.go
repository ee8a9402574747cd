// Command sitesim runs the simulated site that hazardgw's demo and tests
// poll: Modbus devices on TCP and, optionally, on an RTU serial line or pty,
// driven by a scenario timeline, plus a JSON control API to change values
// and inject faults while it runs.
//
//	sitesim -modbus-listen 127.0.0.1:5020 -http 127.0.0.1:8090
//	sitesim -rtu /tmp/site/rtu-sim -scenario my-site.yaml -log-level debug
//	sitesim -dutydesk-listen 127.0.0.1:9090 -dutydesk-secret whsec_… -gateway-api http://127.0.0.1:8080
//	sitesim -scenario configs/scenarios/demo.yaml -mqtt-embedded 127.0.0.1:1884 -timeline -
//
// A scenario's mqtt section places the simulated cameras and scripts a fire
// they see (see mqttsim.Script). -timeline writes, one line each, what the
// duty desk receives, the voice commands the checkpoints get and what the
// scripted fire's cameras report, in seconds since start.
//
// It runs until SIGINT or SIGTERM and then exits 0.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/modbussim"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
	"golang.org/x/sync/errgroup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the flags say.
type config struct {
	modbusListen string
	rtu          string
	scenario     string
	httpListen   string
	timeline     string
	logLevel     slog.Level
	// the duty desk
	deskListen, deskSecret, deskLog string
	gatewayAPI, gatewayToken        string
	// the MQTT cameras and checkpoints
	mqtt mqttsim.SiteOptions
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("sitesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.modbusListen, "modbus-listen", "127.0.0.1:5020", "Modbus TCP listen address; empty disables TCP")
	fs.StringVar(&c.rtu, "rtu", "", "serial device or pty to serve Modbus RTU on (e.g. one end of a socat pty pair)")
	fs.StringVar(&c.scenario, "scenario", "", "scenario file (YAML or JSON); empty runs the embedded default site")
	fs.StringVar(&c.httpListen, "http", "127.0.0.1:8090", "control API listen address; empty disables it")
	fs.StringVar(&c.timeline, "timeline", "", "file to append the site's timeline to (alerts at the duty desk, voice commands, the scripted fire); - for standard output")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	c.mqtt.RegisterFlags(fs)
	fs.StringVar(&c.deskListen, "dutydesk-listen", "", "duty desk listen address (webhooks at /api/alerts, page at /); empty disables it")
	fs.StringVar(&c.deskSecret, "dutydesk-secret", os.Getenv("DUTYDESK_SECRET"), "duty desk Standard Webhooks secret, whsec_…; default $DUTYDESK_SECRET")
	fs.StringVar(&c.deskLog, "dutydesk-log", "", "file to append every delivery to, as JSON lines")
	fs.StringVar(&c.gatewayAPI, "gateway-api", "", "gateway base URL for the duty desk's Acknowledge button, e.g. http://127.0.0.1:8080")
	fs.StringVar(&c.gatewayToken, "gateway-token", os.Getenv("HAZARDGW_API_TOKEN"), "gateway API bearer token; default $HAZARDGW_API_TOKEN")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sitesim: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return config{}, errors.New("unexpected arguments")
	}
	return c, nil
}

// component is one part of the simulated site. Run serves until ctx ends,
// releases everything it started, and returns nil on a clean stop.
type component interface {
	Run(ctx context.Context) error
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	comps, err := build(cfg, logger)
	if err != nil {
		// Plain text, one problem a line: a scenario can have several.
		fmt.Fprintf(stderr, "sitesim: %v\n", err)
		return 1
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		g.Go(func() error { return c.Run(ctx) })
	}
	if err := g.Wait(); err != nil {
		logger.Error("sitesim failed", "err", err)
		return 1
	}
	logger.Info("sitesim stopped")
	return 0
}

// build assembles the site's components; it does no network I/O, so a bad
// scenario stops sitesim before anything listens.
func build(cfg config, logger *slog.Logger) ([]component, error) {
	scenario := modbussim.DefaultScenario()
	if cfg.scenario != "" {
		b, err := os.ReadFile(cfg.scenario)
		if err != nil {
			return nil, fmt.Errorf("read scenario: %w", err)
		}
		scenario = b
	}
	// Each simulator reads its own section; the problems of both are told.
	sim := modbussim.New(modbussim.Options{Logger: logger.With("component", "modbus")})
	errModbus := sim.LoadScenario(bytes.NewReader(scenario))
	script, errMQTT := mqttsim.ParseScript(scenario)
	if err := errors.Join(errModbus, errMQTT); err != nil {
		return nil, fmt.Errorf("%s: %w", scenarioName(cfg.scenario), err)
	}
	cfg.mqtt.Script = script
	comps := []component{&modbusSite{sim: sim, tcp: cfg.modbusListen, rtu: cfg.rtu}}
	var tl *timeline
	if cfg.timeline != "" {
		var err error
		if tl, err = openTimeline(cfg.timeline, time.Now()); err != nil {
			return nil, err
		}
		comps = append(comps, timelineCloser{tl})
		cfg.mqtt.Note = func(what string) {
			source, rest, _ := strings.Cut(what, " ")
			tl.note(source, rest)
		}
	}

	api := http.NewServeMux()
	api.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	api.Handle("/api/", sim.Handler())

	// The site's other simulators join here, each a component (and, if it
	// has one, a control API mounted under its own /api/<name>/ prefix):
	//   - MQTT devices: fire-detection cameras and forest checkpoints;
	//   - the duty desk receiving the gateway's webhooks.
	if cfg.mqtt.Enabled() {
		site, err := mqttsim.NewSite(cfg.mqtt, logger.With("component", "mqtt"))
		if err != nil {
			return nil, err
		}
		comps = append(comps, site)
		api.Handle("/api/mqtt/", site.Handler())
	}
	if cfg.deskListen != "" {
		desk, err := dutydesk.New(dutydesk.Options{Secret: cfg.deskSecret, LogFile: cfg.deskLog,
			GatewayAPI: cfg.gatewayAPI, GatewayToken: cfg.gatewayToken, Logger: logger.With("component", "dutydesk")})
		if err != nil {
			return nil, fmt.Errorf("duty desk: %w", err)
		}
		comps = append(comps, deskSite{desk, cfg.deskListen})
		if tl != nil {
			comps = append(comps, deskTimeline{desk, tl})
		}
		api.Handle("/api/dutydesk/", desk.ControlHandler())
	}

	if cfg.httpListen != "" {
		comps = append(comps, &httpAPI{addr: cfg.httpListen, handler: api, log: logger.With("component", "http")})
	}
	return comps, nil
}

func scenarioName(path string) string {
	if path == "" {
		return "embedded scenario"
	}
	return path
}

// modbusSite serves the simulated Modbus devices and runs their timeline.
type modbusSite struct {
	sim      *modbussim.Server
	tcp, rtu string
}

func (m *modbusSite) Run(ctx context.Context) error {
	defer m.sim.Close()
	if m.tcp != "" {
		if _, err := m.sim.ListenTCP(m.tcp); err != nil {
			return err
		}
	}
	if m.rtu != "" {
		if err := m.sim.ServeRTU(m.rtu); err != nil {
			return err
		}
	}
	return m.sim.RunScenario(ctx)
}

// deskSite serves the duty desk.
type deskSite struct {
	desk *dutydesk.Server
	addr string
}

func (d deskSite) Run(ctx context.Context) error { return d.desk.Run(ctx, d.addr) }

// httpAPI serves the control API.
type httpAPI struct {
	addr    string
	handler http.Handler
	log     *slog.Logger
}

func (h *httpAPI) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		return fmt.Errorf("listen control api: %w", err)
	}
	srv := &http.Server{Handler: h.handler, ReadHeaderTimeout: 5 * time.Second}
	h.log.Info("control api listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve control api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc // Serve has returned ErrServerClosed
	if err != nil {
		return fmt.Errorf("shut down control api: %w", err)
	}
	return nil
}
