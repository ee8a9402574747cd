package influx

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/testenv"
)

const testDB = "hz"

// appendLines commits lines to sp as one append.
func appendLines(t *testing.T, sp *spool.Spool, lines []string) {
	t.Helper()
	raw := make([][]byte, len(lines))
	for i, l := range lines {
		raw[i] = []byte(l)
	}
	if _, err := sp.Append(raw, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// newTestWriter is a Writer to db's testDB, closed when the test ends.
func newTestWriter(t *testing.T, db *testenv.Influx) *Writer {
	t.Helper()
	w, err := New(Config{URL: db.URL(), Bucket: testDB + "/autogen"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// drain spools lines and forwards them all to a real InfluxDB through a
// Writer, returning the forwarder's and the spool's counters.
func drain(t *testing.T, db *testenv.Influx, lines []string) (gateway.ForwarderStats, spool.Stats, []string) {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	appendLines(t, sp, lines)
	w := newTestWriter(t, db)
	f := gateway.NewForwarder(sp, w, nil, gateway.ForwarderOptions{BatchSize: 5000}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	dead, err := sp.ReadDead(100)
	if err != nil {
		t.Fatal(err)
	}
	var deadText []string
	for _, e := range dead {
		deadText = append(deadText, string(e.Line))
	}
	return f.Stats(), sp.Stats(), deadText
}

func points(measurement string, n int) []string {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s,device=CAM-%03d,site=qz value=%d.5,status=\"ok\" %d", measurement, i%7, i, base+int64(i))
	}
	return out
}

// An InfluxDB refusing large bodies (413) gets the backlog in smaller
// batches; only a point too large on its own is dead-lettered.
func TestWriter413SplitsBatches(t *testing.T) {
	db := testenv.InfluxDB(t, testenv.WithMaxBodySize(8<<10))
	db.CreateDB(testDB)
	lines := points("cam", 866) // about 60 kB
	huge := fmt.Sprintf(`cam,device=HUGE value=1,blob="%s" 1`, strings.Repeat("x", 10<<10))
	lines = append(lines[:400], append([]string{huge}, lines[400:]...)...)

	fs, ss, dead := drain(t, db, lines)
	if got := db.Count(testDB, "cam", ""); got != 866 {
		t.Fatalf("InfluxDB holds %d points, want 866", got)
	}
	if fs.Written != 866 || fs.DeadLettered != 1 || ss.Count != 0 || ss.DeadCount != 1 {
		t.Fatalf("written %d, dead-lettered %d, spool %d queued / %d dead; want 866, 1, 0 / 1",
			fs.Written, fs.DeadLettered, ss.Count, ss.DeadCount)
	}
	if len(dead) != 1 || dead[0] != huge {
		t.Fatalf("dead letters %.80q, want only the huge point", dead)
	}
}

// A partial write (InfluxDB stored some points and refused others) counts
// only the refused points as dead-lettered, and the stored ones are neither
// lost nor written again.
func TestWriterPartialWrite(t *testing.T) {
	db := testenv.InfluxDB(t)
	db.CreateDB(testDB)
	if err := db.Write(testDB, "cam value=1.5 1"); err != nil { // value is a float from now on
		t.Fatal(err)
	}
	lines := points("cam", 20)
	// Three points whose value is an integer: a field type conflict, which
	// InfluxDB 1.8 drops while storing the rest ("partial write: ... dropped=3").
	for _, i := range []int{3, 9, 15} {
		lines[i] = strings.Replace(lines[i], ".5,", "i,", 1)
	}
	// Two lines InfluxDB cannot parse: identified by text ("unable to parse").
	parseLines := append(points("gd", 10), "gd,device=X value= 5", "gd value=1,,x=2 6")

	t.Run("type conflict", func(t *testing.T) {
		fs, ss, _ := drain(t, db, lines)
		if got := db.Count(testDB, "cam", ""); got != 1+17 {
			t.Fatalf("InfluxDB holds %d points, want 18", got)
		}
		if fs.Written != 17 || fs.DeadLettered != 3 || ss.Count != 0 {
			t.Fatalf("written %d, dead-lettered %d, %d left in the spool; want 17, 3, 0", fs.Written, fs.DeadLettered, ss.Count)
		}
	})
	t.Run("unparseable lines", func(t *testing.T) {
		fs, ss, dead := drain(t, db, parseLines)
		if got := db.Count(testDB, "gd", ""); got != 10 {
			t.Fatalf("InfluxDB holds %d points, want 10", got)
		}
		if fs.Written != 10 || fs.DeadLettered != 2 || ss.Count != 0 || ss.DeadCount != 2 {
			t.Fatalf("written %d, dead-lettered %d, spool %d queued / %d dead; want 10, 2, 0 / 2",
				fs.Written, fs.DeadLettered, ss.Count, ss.DeadCount)
		}
		if want := parseLines[10:]; strings.Join(dead, "\n") != strings.Join(want, "\n") {
			t.Fatalf("dead letters %q, want %q", dead, want)
		}
	})
}
