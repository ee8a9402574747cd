package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// An Influx is an InfluxDB 1.8 started by InfluxDB. Its ports and data stay
// the same across Stop and Start.
type Influx struct {
	t        testing.TB
	cfg      influxConfig
	dir      string
	httpPort int
	rpcPort  int // the backup/restore service, which influxd always opens
	proc     proc
	client   *http.Client

	mu        sync.Mutex
	lastCount string // the last Count error logged, so a polled outage logs once
}

type influxConfig struct {
	user, password string
	flux           bool
	maxBodySize    int
}

// An InfluxOption changes the database's configuration.
type InfluxOption func(*influxConfig)

// WithInfluxAuth turns authentication on and creates an admin user with this
// name and password. Clients then authenticate as InfluxDB 1.8 expects (for
// the v2 API, the token "name:password"); the helpers here do so themselves.
func WithInfluxAuth(name, password string) InfluxOption {
	return func(c *influxConfig) { c.user, c.password = name, password }
}

// WithFlux turns on the Flux query endpoint (/api/v2/query), off by default.
func WithFlux() InfluxOption {
	return func(c *influxConfig) { c.flux = true }
}

// WithMaxBodySize sets the largest write request body the server accepts,
// in bytes ([http] max-body-size); a larger one is answered 413. The
// default is InfluxDB's own (25 MB).
func WithMaxBodySize(n int) InfluxOption {
	return func(c *influxConfig) { c.maxBodySize = n }
}

// InfluxDB starts an InfluxDB 1.8 on a free 127.0.0.1 port with its own
// temporary directory, waits until /ping answers 204, and stops it when the
// test ends. Usage reporting is off, only the HTTP API listens (on loopback),
// and the server's log goes to a file that is printed if the test fails.
// Databases are not created on write: use CreateDB.
func InfluxDB(t testing.TB, opts ...InfluxOption) *Influx {
	t.Helper()
	return newInflux(t, freePort, opts...)
}

func newInflux(t testing.TB, ports func() (int, error), opts ...InfluxOption) *Influx {
	t.Helper()
	bin, err := influxdBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var cfg influxConfig
	for _, o := range opts {
		o(&cfg)
	}
	db := &Influx{
		t:      t,
		cfg:    cfg,
		dir:    t.TempDir(),
		client: &http.Client{Timeout: 30 * time.Second},
	}
	db.proc = proc{name: "influxd", bin: bin, logPath: filepath.Join(db.dir, "influxd.log")}
	newPorts := func() error {
		var err error
		if db.httpPort, err = ports(); err != nil {
			return err
		}
		db.rpcPort, err = ports()
		return err
	}
	if err := newPorts(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		db.client.CloseIdleConnections()
		if err := db.proc.stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	db.proc.dumpOnFailure(t)
	if err := db.proc.startRetrying(db.args, db.ready, newPorts); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if cfg.user != "" {
		// Allowed without credentials while there is no admin user yet.
		q := fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES",
			quoteIdent(cfg.user), strings.ReplaceAll(cfg.password, `'`, `\'`))
		if _, err := db.Query("", q); err != nil {
			t.Fatalf("testenv: create influxdb user: %v", err)
		}
	}
	return db
}

// URL returns the HTTP API's base URL: "http://127.0.0.1:PORT".
func (db *Influx) URL() string { return "http://" + db.Addr() }

// Addr returns the HTTP API's address: "127.0.0.1:PORT".
func (db *Influx) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(db.httpPort)) }

// Stop stops the server cleanly, keeping its data; requests are refused until
// Start. Stopping a stopped server does nothing.
func (db *Influx) Stop() {
	db.t.Helper()
	err := db.proc.stop()
	// Kept-alive connections to the stopped server are dead now.
	db.client.CloseIdleConnections()
	if err != nil {
		db.t.Fatalf("testenv: %v", err)
	}
}

// Start starts a stopped server again on the same port with the same data and
// waits until it is ready.
func (db *Influx) Start() {
	db.t.Helper()
	if err := db.proc.startRetrying(db.args, db.ready, nil); err != nil {
		db.t.Fatalf("testenv: %v", err)
	}
}

// Restart stops the server and starts it again.
func (db *Influx) Restart() {
	db.t.Helper()
	db.Stop()
	db.Start()
}

// Log returns everything the server has logged so far.
func (db *Influx) Log() string { return db.proc.log() }

// CreateDB creates a database (with its default retention policy "autogen"),
// failing the test if that does not work. Creating an existing one is fine.
func (db *Influx) CreateDB(name string) {
	db.t.Helper()
	if _, err := db.Query("", "CREATE DATABASE "+quoteIdent(name)); err != nil {
		db.t.Fatalf("testenv: create database %s: %v", name, err)
	}
}

// Write writes points in line protocol with nanosecond timestamps to database
// name, as a client of the 1.x write API would.
func (db *Influx) Write(name, lines string) error {
	v := url.Values{"db": {name}, "precision": {"ns"}}
	req, err := http.NewRequest(http.MethodPost, db.URL()+"/write?"+v.Encode(), strings.NewReader(lines))
	if err != nil {
		return fmt.Errorf("write to %s: %w", name, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := db.do(req)
	if err != nil {
		return fmt.Errorf("write to %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("write to %s: %s: %s", name, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// A Result is what an InfluxQL query returned: the series of every statement
// in order. JSON numbers are float64, times are RFC 3339 strings.
type Result struct {
	Series []Series
}

// A Series is one series of a query result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL against database name (empty for statements that name
// none, such as CREATE DATABASE). An error of any statement is an error.
func (db *Influx) Query(name, influxql string) (*Result, error) {
	v := url.Values{"q": {influxql}}
	if name != "" {
		v.Set("db", name)
	}
	req, err := http.NewRequest(http.MethodPost, db.URL()+"/query", strings.NewReader(v.Encode()))
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", influxql, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := db.do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", influxql, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", influxql, err)
	}
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("query %q: %s: %.200s", influxql, resp.Status, body)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("query %q: %s", influxql, out.Error)
	}
	res := &Result{}
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("query %q: %s", influxql, r.Error)
		}
		res.Series = append(res.Series, r.Series...)
	}
	return res, nil
}

// Count returns how many points of measurement in database name match where,
// an InfluxQL condition such as `"device"='GD-101' AND time > now() - 1h`
// (empty for all). A point counts once however many fields it has, provided
// some field is present in every point of its series, as in hazardgw's schema.
//
// Count returns -1 when the query fails, for example while the server is
// stopped, so that it can be polled by Eventually; it logs the error when it
// differs from the last one. Use Query to handle errors.
func (db *Influx) Count(name, measurement, where string) int {
	q := "SELECT COUNT(*) FROM " + quoteIdent(measurement)
	if where != "" {
		q += " WHERE " + where
	}
	q += " GROUP BY *"
	res, err := db.Query(name, q)
	db.mu.Lock()
	defer db.mu.Unlock()
	if err != nil {
		if msg := err.Error(); msg != db.lastCount {
			db.lastCount = msg
			db.t.Logf("testenv: count: %v", err)
		}
		return -1
	}
	db.lastCount = ""
	total := 0
	for _, s := range res.Series {
		// One row per series, one count_<field> column per field.
		for _, row := range s.Values {
			most := 0
			for i, v := range row {
				if n, ok := v.(float64); ok && i < len(s.Columns) && s.Columns[i] != "time" {
					most = max(most, int(n))
				}
			}
			total += most
		}
	}
	return total
}

func (db *Influx) do(req *http.Request) (*http.Response, error) {
	if db.cfg.user != "" {
		req.SetBasicAuth(db.cfg.user, db.cfg.password)
	}
	return db.client.Do(req)
}

func (db *Influx) args() ([]string, error) {
	conf := filepath.Join(db.dir, "influxdb.conf")
	if err := os.WriteFile(conf, []byte(db.config()), 0o600); err != nil {
		return nil, fmt.Errorf("write influxdb config: %w", err)
	}
	return []string{"run", "-config", conf}, nil
}

func (db *Influx) config() string {
	q := strconv.Quote
	dir := func(name string) string { return q(filepath.Join(db.dir, name)) }
	return fmt.Sprintf(`# written by hazardgw internal/testenv
reporting-disabled = true
bind-address = %s

[meta]
  dir = %s
  logging-enabled = false

[data]
  dir = %s
  wal-dir = %s
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  log-enabled = false

[http]
  enabled = true
  bind-address = %s
  auth-enabled = %t
  log-enabled = false
  pprof-enabled = false
  flux-enabled = %t
  max-body-size = %d

[logging]
  level = "info"
  suppress-logo = true
`, q(net.JoinHostPort("127.0.0.1", strconv.Itoa(db.rpcPort))),
		dir("meta"), dir("data"), dir("wal"),
		q(db.Addr()), db.cfg.user != "", db.cfg.flux, db.maxBodySize())
}

func (db *Influx) maxBodySize() int {
	if db.cfg.maxBodySize > 0 {
		return db.cfg.maxBodySize
	}
	return 25_000_000 // influxd's default
}

// ready: influxd logs "Listening on HTTP" with the address once it has bound
// the port, which proves the port is ours; /ping then tells it serves.
func (db *Influx) ready() readiness {
	marker := "addr=" + db.Addr() + " "
	return func(logSince string) error {
		if !strings.Contains(logSince, `msg="Listening on HTTP"`) || !strings.Contains(logSince, marker) {
			return fmt.Errorf("no \"Listening on HTTP\" line in its log yet")
		}
		req, err := http.NewRequest(http.MethodGet, db.URL()+"/ping", nil)
		if err != nil {
			return err
		}
		resp, err := db.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("GET /ping: %s", resp.Status)
		}
		return nil
	}
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
