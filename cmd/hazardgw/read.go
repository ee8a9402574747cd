package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/hazardgw/hazardgw/adapters/modbus"
)

const readUsage = `usage: hazardgw read -config FILE [-device ID]

Polls each Modbus device of FILE once (or only device ID) and prints every
point with its value, unit and quality. Nothing is written anywhere. Exits 1
if any poll failed.
`

// cmdRead runs `hazardgw read`.
func cmdRead(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	fs := flag.NewFlagSet("hazardgw read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `FILE` (YAML)")
	device := fs.String("device", "", "poll only the device with this `ID`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), readUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintln(stderr, "hazardgw read: -config FILE is required")
		fs.Usage()
		return exitUsage
	}
	cfg, err := LoadFile(*path, lookup)
	if err != nil {
		printLoadError(stderr, err)
		return exitFailure
	}
	// What check would warn about, such as a register number copied as an
	// address, is what a commissioning read needs to see.
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, w)
	}
	if len(cfg.Modbus.Links) == 0 {
		fmt.Fprintf(stderr, "hazardgw read: %s has no Modbus devices\n", *path)
		return exitFailure
	}
	// Poll failures are printed below, with hints; the source's own
	// logging would only repeat them.
	src, err := modbus.New(cfg.Modbus, cfg.Site.ID, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "hazardgw read: %v\n", err)
		return exitFailure
	}
	res, err := src.PollOnce(ctx, *device)
	if err != nil {
		fmt.Fprintf(stderr, "hazardgw read: %v\n", err)
		return exitFailure
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "device\tpoint\tvalue\tunit\tquality")
	failed := 0
	for _, r := range res {
		for _, v := range r.Values {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Device, v.Name, formatValue(v.Value), v.Unit, v.Quality)
		}
		if r.Err != nil {
			failed++
		}
	}
	tw.Flush()
	hinted := map[string]bool{} // each hint once: a dead link fails all its devices alike
	for _, r := range res {
		if r.Err == nil {
			continue
		}
		fmt.Fprintf(stderr, "hazardgw read: %s (link %s, unit %d): %s\n", r.Device, r.Link, r.UnitID, r.Error)
		if h := modbus.Hint(r.Err); h != "" && !hinted[h] {
			hinted[h] = true
			fmt.Fprintf(stderr, "  hint: %s\n", h)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "hazardgw read: %d of %d polls failed\n", failed, len(res))
		return exitFailure
	}
	return exitOK
}
