package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
	"github.com/hazardgw/hazardgw/simulators/dutydesk"
	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// newDesk starts a duty desk on a free loopback port that verifies
// signatures made with deskSecret; it closes when the test ends.
func newDesk(t testing.TB) *dutydesk.Server {
	t.Helper()
	return newDeskWith(t, dutydesk.Options{Secret: deskSecret})
}

// newDeskWith is newDesk with other options (a delivery log, say).
func newDeskWith(t testing.TB, o dutydesk.Options) *dutydesk.Server {
	t.Helper()
	d, err := dutydesk.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newInflux starts an InfluxDB 1.8 with database db.
func newInflux(t testing.TB, db string, opts ...testenv.InfluxOption) *testenv.Influx {
	t.Helper()
	influx := testenv.InfluxDB(t, opts...)
	influx.CreateDB(db)
	return influx
}

// newPublisher connects a simulated site's MQTT devices (cameras,
// checkpoints, stations) to broker; when the test ends it waits for the
// broker to acknowledge what was published, then disconnects.
func newPublisher(t testing.TB, ctx context.Context, broker *testenv.Broker, site, clientID string) *mqttsim.Publisher {
	t.Helper()
	pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: broker.URL(), Site: site, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(10 * time.Second) })
	return pub
}
