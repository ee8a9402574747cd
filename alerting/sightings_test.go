package alerting

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hazardgw/hazardgw/geo"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

// TestTriangulationAcrossRestart: a camera's last bearing is kept in
// alerts.db with its event time, so a second camera's bearing after a
// restart within the window still triangulates; one that comes later than
// the window does not pair with it; and a damaged record costs the
// triangulation, never the alarm.
func TestTriangulationAcrossRestart(t *testing.T) {
	fire := geo.Destination(towerA, 60, 4000)
	reopen := func(t *testing.T, path string, after time.Duration) *syncEngine {
		t.Helper()
		return openSync(t, path, testenv.NewClock(t0.Add(after)), Config{Rules: fireRules},
			Options{Site: "bs-forest-01", Devices: cameraDevices}, 0)
	}
	// firstSighting: tower A sees smoke at t0 (bearing only), and the
	// gateway stops.
	firstSighting := func(t *testing.T) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "alerts.db")
		s := newCameraEngine(t, path, "")
		s.event(ev{cam: "CAM-A", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerA, fire))})
		if ps := s.payloads(); len(ps) != 1 || ps[0].Data.Location != nil {
			t.Fatalf("first sighting: %+v", ps)
		}
		s.close()
		return path
	}
	locOfB := func(t *testing.T, s *syncEngine) *FireLocation {
		t.Helper()
		s.event(ev{cam: "CAM-B", typ: "smoke", conf: 0.8, bearing: ptr(geo.Bearing(towerB, fire))})
		ps := s.payloads()
		last := ps[len(ps)-1]
		if last.Type != TypeFiring || last.Data.Device != "CAM-B" {
			t.Fatalf("CAM-B's smoke: %v", s.notes())
		}
		return last.Data.Location
	}

	t.Run("within the window", func(t *testing.T) {
		s := reopen(t, firstSighting(t), 3*time.Minute)
		l := locOfB(t, s)
		if l == nil || l.Method != MethodTriangulated {
			t.Fatalf("after a restart within the window: location %+v, want triangulated", l)
		}
		if d := geo.Distance(geo.Point{Lat: l.Lat, Lon: l.Lon}, fire); d > 10 {
			t.Errorf("triangulated %.1f m from the fire", d)
		}
		// Tower B's bearing is stored too: tower A's next bearing, after
		// another restart, pairs with it.
		s.close()
		s = reopen(t, s.path, 4*time.Minute)
		s.event(ev{cam: "CAM-A", typ: "fire", conf: 0.9, bearing: ptr(geo.Bearing(towerA, fire)), id: "CAM-A-fire"})
		ps := s.payloads()
		if last := ps[len(ps)-1]; last.Type != TypeChanged || last.Data.Location == nil || last.Data.Location.Method != MethodTriangulated {
			t.Errorf("CAM-A fire after a second restart: %s %s %+v %v", last.Type, last.Data.Device, last.Data.Location, s.notes())
		}
	})
	t.Run("past the window", func(t *testing.T) {
		s := reopen(t, firstSighting(t), DefaultTriangulateWindow+time.Minute)
		if l := locOfB(t, s); l != nil {
			t.Errorf("a bearing older than the window paired: %+v", l)
		}
	})
	t.Run("damaged record", func(t *testing.T) {
		path := firstSighting(t)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySights, []byte("{not json")) })
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		s := reopen(t, path, time.Minute)
		if l := locOfB(t, s); l != nil {
			t.Errorf("located from a damaged record: %+v", l)
		}
	})
}
