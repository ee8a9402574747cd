package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// TestTLSBroker: with an ssl:// URL, ca_file and a client certificate, the
// source connects to a Mosquitto listener that requires client
// certificates, and events flow into InfluxDB; a source that does not trust
// the broker's CA does not connect and says why.
func TestTLSBroker(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "hazardgw test CA")
	caFile := ca.writeCert(t, dir, "ca")
	srvCert, srvKey := ca.issue(t, dir, "server", true)
	cliCert, cliKey := ca.issue(t, dir, "client", false)

	// The broker's only TLS listener is the testenv one; device messages
	// come in on a second, plain listener.
	plain := testenv.FreePort(t)
	broker := testenv.Mosquitto(t, testenv.WithMosquittoConfig(
		"cafile "+caFile, "certfile "+srvCert, "keyfile "+srvKey,
		"require_certificate true", "tls_version tlsv1.2",
		fmt.Sprintf("listener %d 127.0.0.1", plain)))
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)

	cfg := brokerConfig("ssl://" + broker.Addr())
	cfg.TLS = TLSConfig{CAFile: caFile, CertFile: cliCert, KeyFile: cliKey}
	startStack(t, cfg, db.URL()) // waits until connected

	ctx := context.Background()
	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{
		URL: "tcp://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(plain)), Site: "qz", ClientID: "it-tls-pub"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range n {
		ev := mqttsim.CameraEvent{EventID: fmt.Sprintf("CAM-21-%d", i), CameraID: "CAM-21", Type: mqttsim.Smoke, Confidence: 0.4,
			TS: base.Add(time.Duration(i) * time.Millisecond)}
		if err := pub.PublishCamera(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(time.Minute); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() bool { return db.Count(testDB, measurementFire, `"camera" = 'CAM-21'`) == n },
		"%d events over TLS in InfluxDB", n)

	// A CA the broker's certificate does not chain to: no connection.
	other := newTestCA(t, "some other CA")
	bad := brokerConfig("ssl://" + broker.Addr())
	bad.ClientID = "hazardgw-it-badca"
	bad.TLS = TLSConfig{CAFile: other.writeCert(t, dir, "other-ca"), CertFile: cliCert, KeyFile: cliKey}
	logs := &testenv.Buffer{}
	src, err := New(bad, "qz", slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(sctx, &recorder{}) })
	defer func() { stop(); wg.Wait() }()
	testenv.Eventually(t, 30*time.Second, func() bool { return strings.Contains(logs.String(), "certificate signed by unknown authority") },
		"a log line about the untrusted certificate")
	if src.Connected() {
		t.Error("connected to a broker whose certificate it does not trust")
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, der: der}
}

func (ca *testCA) writeCert(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+".crt")
	writePEM(t, p, "CERTIFICATE", ca.der)
	return p
}

// issue writes a certificate signed by ca (for 127.0.0.1 if server, for
// client authentication otherwise) and its key; it returns their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
