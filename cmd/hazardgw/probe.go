package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/hazardgw/hazardgw/adapters/modbus"
)

const probeUsage = `usage: hazardgw probe -url URL [-unit N] [-area AREA] [-address A] [-count C] [-serial 9600,8,E,1] [-timeout D]

Reads registers or bits once and prints the raw words and, for every address,
what each type would read there in each byte order. Nothing is written.
`

// cmdProbe runs `hazardgw probe`.
func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hazardgw probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "`tcp://HOST[:PORT]` or rtu:///dev/ttyX")
	unit := fs.Int("unit", 1, "unit id")
	area := fs.String("area", "holding", "holding, input, coil or discrete")
	address := fs.Int("address", 0, "first address, zero-based (holding 0 is register 40001)")
	count := fs.Int("count", 8, "registers (1..125) or bits (1..2000)")
	serial := fs.String("serial", "", "serial line of an rtu:// URL: `BAUD,DATABITS,PARITY,STOPBITS` (default 9600,8,E,1)")
	timeout := fs.Duration("timeout", time.Second, "for the connection and the request")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), probeUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	req := modbus.ProbeRequest{URL: *url, UnitID: *unit, Area: *area, Address: *address, Count: *count, Timeout: *timeout}
	switch {
	case *url == "":
		fmt.Fprintln(stderr, "hazardgw probe: -url is required")
		fs.Usage()
		return exitUsage
	case *serial != "":
		s, err := parseSerial(*serial)
		if err != nil {
			fmt.Fprintf(stderr, "hazardgw probe: -serial: %v\n", err)
			return exitUsage
		}
		req.Serial = s
	}
	res, err := modbus.Probe(ctx, req)
	if err != nil {
		printModbusError(stderr, "hazardgw probe: ", err.Error(), err)
		return exitFailure
	}
	printProbe(stdout, req, res)
	return exitOK
}

// parseFlags parses args into fs; ok is false when the command should
// return code at once (help, or a usage error).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// parseSerial parses BAUD,DATABITS,PARITY,STOPBITS, e.g. 9600,8,E,1.
// Probe checks the values.
func parseSerial(s string) (*modbus.SerialConfig, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("%q: want BAUD,DATABITS,PARITY,STOPBITS, e.g. 9600,8,E,1", s)
	}
	var nums [3]int
	for i, p := range []string{parts[0], parts[1], parts[3]} {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a number; want BAUD,DATABITS,PARITY,STOPBITS, e.g. 9600,8,E,1", s, p)
		}
		nums[i] = n
	}
	return &modbus.SerialConfig{Baud: nums[0], DataBits: nums[1], Parity: strings.ToUpper(strings.TrimSpace(parts[2])), StopBits: nums[2]}, nil
}

// printModbusError prints a poll or probe error as text and, when there
// is one, the hint of what to check.
func printModbusError(w io.Writer, prefix, text string, err error) {
	fmt.Fprintf(w, "%s%s\n", prefix, text)
	if h := modbus.Hint(err); h != "" {
		fmt.Fprintf(w, "  hint: %s\n", h)
	}
}

func printProbe(w io.Writer, req modbus.ProbeRequest, res *modbus.ProbeResult) {
	last := res.Address + res.Count - 1
	fmt.Fprintf(w, "%s unit %d, %s %d..%d: read in %v\n", req.URL, req.UnitID, res.Area(), res.Address, last, res.RTT.Round(10*time.Microsecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if bits := res.Bits(); bits != nil {
		fmt.Fprintln(tw, "\naddr\tvalue")
		for i, b := range bits {
			v := 0
			if b {
				v = 1
			}
			fmt.Fprintf(tw, "%d\t%d\n", res.Address+i, v)
		}
		return
	}
	fmt.Fprintln(tw, "\naddr\thex\tuint16\tint16\tascii")
	for i, word := range res.Words() {
		fmt.Fprintf(tw, "%d\t%04X\t%d\t%d\t%s\n", res.Address+i, word, word, int16(word), asciiOf(word))
	}
	// One table per width: rows are (address, order), columns the types
	// of that width, in the order the interpretations come.
	type row struct {
		addr  int
		order string
		vals  map[string]string
	}
	type table struct {
		types []string
		rows  []*row
	}
	var tables [3]table // 16-, 32- and 64-bit
	var strs []modbus.Interpretation
	for _, in := range res.Interpretations() {
		if in.Type == "string" {
			strs = append(strs, in)
			continue
		}
		tb := &tables[map[int]int{2: 0, 4: 1, 8: 2}[len(in.Order)]]
		if !slices.Contains(tb.types, in.Type) {
			tb.types = append(tb.types, in.Type)
		}
		var r *row
		for _, x := range tb.rows {
			if x.addr == in.Address && x.order == in.Order {
				r = x
			}
		}
		if r == nil {
			r = &row{addr: in.Address, order: in.Order, vals: map[string]string{}}
			tb.rows = append(tb.rows, r)
		}
		r.vals[in.Type] = formatValue(in.Value)
	}
	for i, tb := range tables {
		if len(tb.rows) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%d-bit\torder\t%s\n", 16<<i, strings.Join(tb.types, "\t"))
		for _, r := range tb.rows {
			fmt.Fprintf(tw, "%d\t%s", r.addr, r.order)
			for _, t := range tb.types {
				fmt.Fprintf(tw, "\t%s", r.vals[t])
			}
			fmt.Fprintln(tw)
		}
	}
	if len(strs) > 0 {
		fmt.Fprintln(tw)
	}
	for _, s := range strs {
		fmt.Fprintf(tw, "string %s\t%s\n", s.Order, formatValue(s.Value))
	}
}

// asciiOf shows the two bytes of a register as characters, '.' for bytes
// that are not printable ASCII.
func asciiOf(word uint16) string {
	b := []byte{byte(word >> 8), byte(word)}
	for i, c := range b {
		if c > unicode.MaxASCII || !unicode.IsPrint(rune(c)) {
			b[i] = '.'
		}
	}
	return string(b)
}

// formatValue prints a decoded value: integers in full, other floats in
// the shortest form that reads back exactly, strings quoted.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e21 {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprint(v)
}
