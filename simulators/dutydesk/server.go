package dutydesk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values mean defaults, except Secret.
type Options struct {
	// Secret is the Standard Webhooks secret shared with the gateway:
	// "whsec_" + base64 of the key. Required.
	Secret string
	// Path is where webhooks are posted. Default "/api/alerts".
	Path string
	// LogFile, if set, receives every accepted delivery as one JSON line.
	LogFile string
	// GatewayAPI is the gateway's base URL (http://host:port) and
	// GatewayToken its bearer token, used by the page's Acknowledge button.
	// The token stays on the server: the page posts to the simulator,
	// which calls the gateway.
	GatewayAPI, GatewayToken string
	// Tolerance is how far webhook-timestamp may be from now. Default 5m,
	// as the Standard Webhooks libraries use.
	Tolerance time.Duration
	// MaxKept bounds the deliveries kept in memory. Default 100000.
	MaxKept int
	Now     func() time.Time
	Logger  *slog.Logger
}

// Delivery is one accepted notification.
type Delivery struct {
	WebhookID  string          `json:"webhook_id"`
	Timestamp  int64           `json:"webhook_timestamp"`
	ReceivedAt time.Time       `json:"received_at"`
	Type       string          `json:"type"`
	Alert      AlertData       `json:"alert"`
	Body       json.RawMessage `json:"body"`
}

// AlertData is the `data` object of a notification, as a duty desk reads
// it (decoded here from the wire format, not from the gateway's types).
type AlertData struct {
	ID             string   `json:"id"`
	Rule           string   `json:"rule"`
	Status         string   `json:"status"`
	State          string   `json:"state"`
	Level          string   `json:"level"`
	Severity       string   `json:"severity"`
	Site           string   `json:"site"`
	Device         string   `json:"device"`
	Label          string   `json:"label"`
	Kind           string   `json:"kind"`
	Point          string   `json:"point"`
	Value          float64  `json:"value"`
	Unit           string   `json:"unit"`
	Threshold      *float64 `json:"threshold"`
	StartedAt      string   `json:"started_at"`
	Message        string   `json:"message"`
	Acknowledged   bool     `json:"acknowledged"`
	AcknowledgedBy string   `json:"acknowledged_by"`
}

// Fault makes the desk misbehave, for testing the gateway's retries.
type Fault struct {
	// FailFirst answers the next N webhook requests with Status.
	FailFirst int
	// Status of failed answers; default 503.
	Status int
	// RetryAfter, if set, is sent as the Retry-After header of failures.
	RetryAfter string
	// FailRatio fails this fraction of the other requests, at random.
	FailRatio float64
	// Latency delays every webhook answer.
	Latency time.Duration
}

// Stats count webhook requests since start.
type Stats struct {
	Requests     int `json:"requests"`      // every webhook request
	Delivered    int `json:"delivered"`     // accepted, first time seen
	Duplicates   int `json:"duplicates"`    // accepted again (same webhook-id): answered 2xx, not recorded
	BadSignature int `json:"bad_signature"` // refused with 401
	Faulted      int `json:"faulted"`       // failed on purpose
}

// Server is the duty desk. See the package documentation.
type Server struct {
	opts Options
	key  []byte
	log  *slog.Logger
	h    http.Handler

	wg      sync.WaitGroup
	closing chan struct{}

	mu         sync.Mutex
	addr       string
	srv        *http.Server
	file       *os.File
	fault      Fault
	seen       map[string]bool
	deliveries []Delivery
	changed    chan struct{} // closed and replaced on each delivery
	stats      Stats
	closed     bool
}

// New returns a duty desk. It checks the secret; it does no I/O.
func New(opts Options) (*Server, error) {
	key, err := decodeSecret(opts.Secret)
	if err != nil {
		return nil, err
	}
	if opts.Path == "" {
		opts.Path = "/api/alerts"
	}
	if opts.Tolerance <= 0 {
		opts.Tolerance = 5 * time.Minute
	}
	if opts.MaxKept <= 0 {
		opts.MaxKept = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: opts, key: key, log: opts.Logger, closing: make(chan struct{}),
		seen: map[string]bool{}, changed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+opts.Path, s.webhook)
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /deliveries.json", s.deliveriesJSON)
	mux.HandleFunc("POST /ack/{id}", s.ack)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.h = mux
	return s, nil
}

// decodeSecret is the desk's own reading of a Standard Webhooks secret.
func decodeSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New(`decode secret: want "whsec_" + base64`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New(`decode secret: want "whsec_" + base64`)
	}
	return key, nil
}

// Handler returns the desk's HTTP handler (for use without Listen).
func (s *Server) Handler() http.Handler { return s.h }

// Listen opens the delivery log (if any) and serves on addr
// ("127.0.0.1:0" for a free port). It returns the bound address.
func (s *Server) Listen(addr string) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.srv != nil {
		return nil, errors.New("listen: desk closed or already listening")
	}
	if s.opts.LogFile != "" && s.file == nil {
		f, err := os.OpenFile(s.opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open delivery log: %w", err)
		}
		s.file = f
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	s.serveLocked(ln)
	s.log.Info("duty desk listening", "addr", s.addr, "webhook", s.opts.Path, "page", "http://"+s.addr+"/")
	return ln.Addr(), nil
}

func (s *Server) serveLocked(ln net.Listener) {
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 5 * time.Second}
	s.srv = srv
	s.wg.Go(func() { _ = srv.Serve(ln) })
}

// URL is the webhook URL to configure in the gateway.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + s.opts.Path
}

// Addr is the address the desk listens on.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// SetFault replaces the fault in force (the zero Fault: none).
func (s *Server) SetFault(f Fault) {
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// RefuseFor closes the listener and every connection, so the gateway gets
// "connection refused", and listens again on the same address after d.
// It returns at once.
func (s *Server) RefuseFor(d time.Duration) error {
	s.mu.Lock()
	srv, addr := s.srv, s.addr
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return errors.New("refuse: not listening")
	}
	_ = srv.Close()
	s.wg.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
		// The port is ours to take back; retry briefly should the
		// kernel still hold it.
		for i := 0; ; i++ {
			ln, err := net.Listen("tcp", addr)
			if err == nil {
				s.mu.Lock()
				if s.closed {
					s.mu.Unlock()
					ln.Close()
					return
				}
				s.serveLocked(ln)
				s.mu.Unlock()
				return
			}
			if i == 100 {
				s.log.Error("listen again after refusing", "addr", addr, "err", err)
				return
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-s.closing:
				return
			}
		}
	})
	return nil
}

// Close stops serving and waits for the desk's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// Run serves on addr until ctx ends (for sitesim).
func (s *Server) Run(ctx context.Context, addr string) error {
	if _, err := s.Listen(addr); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Deliveries returns the accepted deliveries, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Wait blocks until cond holds for the deliveries so far, or ctx ends.
func (s *Server) Wait(ctx context.Context, cond func([]Delivery) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.deliveries)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for deliveries: %w", ctx.Err())
		}
	}
}

// Stats returns counters since start.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.stats.Requests++
	f := s.fault
	fail := false
	switch {
	case s.fault.FailFirst > 0:
		s.fault.FailFirst--
		fail = true
	case f.FailRatio > 0 && rand.Float64() < f.FailRatio:
		fail = true
	}
	if fail {
		s.stats.Faulted++
	}
	s.mu.Unlock()
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, "fault injected", f.Status)
		return
	}

	id := r.Header.Get("webhook-id")
	ts, err := s.verify(id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body)
	if err != nil {
		s.mu.Lock()
		s.stats.BadSignature++
		s.mu.Unlock()
		s.log.Warn("refused webhook", "webhook_id", id, "err", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p struct {
		Type string    `json:"type"`
		Data AlertData `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "body is not JSON", http.StatusBadRequest)
		return
	}
	d := Delivery{WebhookID: id, Timestamp: ts, ReceivedAt: s.opts.Now(), Type: p.Type, Alert: p.Data, Body: json.RawMessage(body)}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[id] {
		s.stats.Duplicates++
		w.WriteHeader(http.StatusOK)
		return
	}
	s.seen[id] = true
	s.stats.Delivered++
	if len(s.deliveries) >= s.opts.MaxKept {
		s.deliveries = s.deliveries[1:]
	}
	s.deliveries = append(s.deliveries, d)
	close(s.changed)
	s.changed = make(chan struct{})
	if s.file != nil {
		line, _ := json.Marshal(d)
		if _, err := s.file.Write(append(line, '\n')); err != nil {
			s.log.Error("write delivery log", "err", err)
		}
	}
	s.log.Info("alert received", "type", p.Type, "severity", p.Data.Severity, "device", p.Data.Device, "message", p.Data.Message)
	w.WriteHeader(http.StatusNoContent)
}

// verify checks a Standard Webhooks signature with the desk's own code:
// HMAC-SHA256 over "{id}.{timestamp}.{body}", any of the space-separated
// "v1,<base64>" signatures may match, and the timestamp must be within
// Tolerance of now.
func (s *Server) verify(id, tsHeader, sigHeader string, body []byte) (int64, error) {
	if id == "" || tsHeader == "" || sigHeader == "" {
		return 0, errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return 0, errors.New("bad webhook-timestamp")
	}
	if d := s.opts.Now().Sub(time.Unix(ts, 0)); d > s.opts.Tolerance || d < -s.opts.Tolerance {
		return 0, errors.New("webhook-timestamp outside tolerance")
	}
	mac := hmac.New(sha256.New, s.key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(sigHeader) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return ts, nil
		}
	}
	return 0, errors.New("no valid signature")
}

func (s *Server) deliveriesJSON(w http.ResponseWriter, r *http.Request) {
	list := s.Deliveries()
	// Newest first, as the page shows them.
	slices.Reverse(list)
	if len(list) > 500 {
		list = list[:500]
	}
	writeJSON(w, map[string]any{"deliveries": list, "can_ack": s.opts.GatewayAPI != ""})
}

// ack relays the page's Acknowledge button to the gateway's API.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	if s.opts.GatewayAPI == "" {
		http.Error(w, "no gateway API configured (-gateway-api)", http.StatusServiceUnavailable)
		return
	}
	var in struct {
		By      string `json:"by"`
		Comment string `json:"comment"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	body, _ := json.Marshal(in)
	u := strings.TrimRight(s.opts.GatewayAPI, "/") + "/api/v1/alerts/" + url.PathEscape(r.PathValue("id")) + "/ack"
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		http.Error(w, "bad gateway URL", http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.opts.GatewayToken)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		http.Error(w, "gateway unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}
