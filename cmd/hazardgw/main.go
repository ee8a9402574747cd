// Command hazardgw is the hazardgw edge gateway: it polls Modbus devices,
// subscribes to MQTT feeds, writes everything to InfluxDB through a durable
// spool and pushes alarms to the duty desk (see README.md).
//
//	hazardgw run   -config FILE   # run until SIGINT/SIGTERM; SIGHUP reloads FILE
//	hazardgw check -config FILE   # validate only; exit 0 = valid, 1 = invalid
//	hazardgw probe -url URL ...   # read registers once, in every type and byte order
//	hazardgw read  -config FILE   # poll each Modbus device once and print the values
//	hazardgw version              # also --version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	_ "time/tzdata" // site.timezone on boxes without a zoneinfo database

	"github.com/hazardgw/hazardgw/internal/conf"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // invalid configuration, or the gateway stopped with an error
	exitUsage   = 2
)

func main() {
	os.Exit(cli(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, runGateway))
}

// runFunc runs the gateway until ctx ends (runGateway in production).
type runFunc func(ctx context.Context, cfg *File, logger *slog.Logger) error

const usageText = `usage:
  hazardgw run   -config FILE   run until SIGINT/SIGTERM; exit 0 after a clean drain
                                (SIGHUP: check FILE again and, if it changed, reload it)
  hazardgw check -config FILE   validate FILE; exit 0 = valid, 1 = invalid
  hazardgw probe -url URL [-unit N] [-area A] [-address A] [-count C] [-serial 9600,8,E,1]
                                read registers once; print them in every type and byte order
  hazardgw read  -config FILE [-device ID]
                                poll each Modbus device once; exit 1 if any poll failed
  hazardgw version              print the version (also --version)
`

// cli runs one command and returns the exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool), run runFunc) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		path, code := configFlag(cmd, rest, stdout, stderr)
		if path == "" {
			return code
		}
		return cmdRun(ctx, path, stderr, lookup, run)
	case "check":
		path, code := configFlag(cmd, rest, stdout, stderr)
		if path == "" {
			return code
		}
		return cmdCheck(path, stdout, stderr, lookup)
	case "probe":
		return cmdProbe(ctx, rest, stdout, stderr)
	case "read":
		return cmdRead(ctx, rest, stdout, stderr, lookup)
	case "version", "--version", "-version":
		if len(rest) > 0 {
			fmt.Fprintf(stderr, "hazardgw %s: unexpected argument %q\n%s", cmd, rest[0], usageText)
			return exitUsage
		}
		fmt.Fprintln(stdout, versionLine())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(stderr, "hazardgw: unknown command %q\n%s", cmd, usageText)
		return exitUsage
	}
}

// configFlag parses the flags of run and check. It returns the config path,
// or "" and the exit code to return.
func configFlag(cmd string, args []string, stdout, stderr io.Writer) (string, int) {
	fs := flag.NewFlagSet("hazardgw "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `FILE` (YAML)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hazardgw %s -config FILE\n", cmd)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return "", exitOK
		}
		return "", exitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "hazardgw %s: unexpected argument %q\n", cmd, fs.Arg(0))
	case *path == "":
		fmt.Fprintf(stderr, "hazardgw %s: -config FILE is required\n", cmd)
	default:
		return *path, exitOK
	}
	fs.Usage()
	return "", exitUsage
}

// printLoadError prints a configuration error: the problem lines as they
// are (FILE:LINE: ...), anything else prefixed with the program name.
func printLoadError(stderr io.Writer, err error) {
	if ce := (*conf.Error)(nil); errors.As(err, &ce) {
		fmt.Fprintln(stderr, err)
		return
	}
	fmt.Fprintf(stderr, "hazardgw: %v\n", err)
}

func cmdCheck(path string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cfg, err := LoadFile(path, lookup)
	if err != nil {
		printLoadError(stderr, err)
		return exitFailure
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintf(stdout, "%s: OK: %s\n", path, cfg.Summary())
	return exitOK
}

func cmdRun(ctx context.Context, path string, stderr io.Writer, lookup func(string) (string, bool), run runFunc) int {
	cfg, err := LoadFile(path, lookup)
	if err != nil {
		// Nothing has been started: an invalid file never runs half-configured.
		printLoadError(stderr, err)
		return exitFailure
	}
	logger := newLogger(stderr, cfg)
	slog.SetDefault(logger) // libraries logging through log/slog's default get the same handler

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the gateway drains; restoring the default
	// handling lets a second signal end the process at once.
	context.AfterFunc(ctx, stop)

	// SIGHUP checks the file again (reload.go): a valid, changed file is
	// applied by draining the gateway and starting it again on the new
	// configuration, in this process; spool, alert store and outbox are on
	// disk and carry over. It never stops the gateway, during a drain either.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var mu sync.Mutex
	var pending *File
	var restart context.CancelFunc = func() {}
	running := cfg
	reloadCtx, stopReload := context.WithCancel(context.Background())
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		watchReload(reloadCtx, hup, path,
			func() *File { mu.Lock(); defer mu.Unlock(); return firstFile(pending, running) },
			func(next *File) { mu.Lock(); pending = next; r := restart; mu.Unlock(); r() },
			lookup, logger)
	}()
	defer func() {
		stopReload()
		<-reloadDone
	}()

	logger.Info("starting", "version", version, "commit", buildCommit(), "site", cfg.Site.ID, "config", path)
	defer startProfiles(lookup, logger)()
	applyMemoryLimit(lookup, logger)
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration", "warning", w)
	}
	previous := (*File)(nil) // the configuration to fall back to if a reloaded one cannot start
	for {
		runCtx, cancel := context.WithCancel(ctx)
		mu.Lock()
		restart = cancel
		if pending != nil { // a SIGHUP while the previous run was starting
			cancel()
		}
		mu.Unlock()
		err := run(runCtx, running, logger)
		cancel()
		mu.Lock()
		next := pending
		pending, restart = nil, func() {}
		mu.Unlock()
		se := (*startError)(nil)
		switch {
		case ctx.Err() != nil || err == nil && next == nil:
			if err != nil {
				logger.Error("stopped", "err", err)
				return exitFailure
			}
			logger.Info("stopped")
			return exitOK
		case errors.As(err, &se) && previous != nil:
			logger.Error("reloaded configuration cannot start; going back to the previous one", "err", se.err)
			running, previous = previous, nil
			continue
		case err != nil && next == nil:
			if errors.As(err, &se) {
				logger.Error("cannot start", "err", se.err)
			} else {
				logger.Error("stopped", "err", err)
			}
			return exitFailure
		}
		if err != nil {
			logger.Warn("stopped while reloading", "err", err)
		}
		logger.Info("restarting on the reloaded configuration", "config", path, "site", next.Site.ID)
		previous, running = running, next
		logger = newLogger(stderr, running)
		slog.SetDefault(logger)
	}
}

func firstFile(fs ...*File) *File {
	for _, f := range fs {
		if f != nil {
			return f
		}
	}
	return nil
}

// startError is an error of the gateway before it started: nothing ran.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// newLogger builds the process logger from gateway.log. Its handler
// redacts the configuration's secrets from everything logged, whoever logs
// it: the last line of defence for the rule that secrets never appear in logs.
func newLogger(w io.Writer, cfg *File) *slog.Logger {
	var level slog.Level // info
	if cfg.Gateway.Log.Level != "" {
		// Validate has checked the name.
		_ = level.UnmarshalText([]byte(cfg.Gateway.Log.Level))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Gateway.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(newRedactor(h, cfg.Secrets()))
}
