package testenv

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestInfluxDB(t *testing.T) {
	db := InfluxDB(t)
	if !strings.HasPrefix(db.URL(), "http://127.0.0.1:") || strings.HasSuffix(db.URL(), ":8086") {
		t.Errorf("URL() = %q, want http://127.0.0.1 on a free port", db.URL())
	}
	db.CreateDB("hazard")

	var lines strings.Builder
	for i := range 10 {
		// Two devices; plate only in some points, as sparse fields are in the schema.
		fmt.Fprintf(&lines, "checkpoint_passage,site=qz,checkpoint=KK-0%d people=%di,vehicles=1i%s %d\n",
			i%2, i, map[bool]string{true: `,plate="闽C12345"`}[i%3 == 0], 1_700_000_000_000_000_000+int64(i))
	}
	if err := db.Write("hazard", lines.String()); err != nil {
		t.Fatal(err)
	}
	if n := db.Count("hazard", "checkpoint_passage", ""); n != 10 {
		t.Errorf("Count() = %d, want 10", n)
	}
	if n := db.Count("hazard", "checkpoint_passage", `"checkpoint"='KK-01'`); n != 5 {
		t.Errorf("Count(KK-01) = %d, want 5", n)
	}
	if n := db.Count("hazard", "gas_detector", ""); n != 0 {
		t.Errorf("Count(no such measurement) = %d, want 0", n)
	}

	res, err := db.Query("hazard", `SELECT "people", "plate" FROM "checkpoint_passage" WHERE "checkpoint"='KK-00' ORDER BY time LIMIT 1`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 1 || len(res.Series[0].Values) != 1 {
		t.Fatalf("query result = %+v, want one row", res)
	}
	s := res.Series[0]
	if s.Name != "checkpoint_passage" || strings.Join(s.Columns, ",") != "time,people,plate" {
		t.Errorf("series %q columns %v", s.Name, s.Columns)
	}
	if row := s.Values[0]; row[0] != "2023-11-14T22:13:20Z" || row[1] != 0.0 || row[2] != "闽C12345" {
		t.Errorf("row = %v", row)
	}

	if _, err := db.Query("nosuchdb", `SELECT * FROM "x"`); err == nil || !strings.Contains(err.Error(), "database not found") {
		t.Errorf("query of a missing database: error %v, want database not found", err)
	}
	if err := db.Write("hazard", "bad line protocol"); err == nil {
		t.Error("writing bad line protocol succeeded")
	}
}

// The gateway writes through the v2 API, which InfluxDB 1.8 serves with
// "database/retention-policy" as the bucket.
func TestInfluxDBV2WriteAPI(t *testing.T) {
	db := InfluxDB(t)
	db.CreateDB("hazard")
	req, err := http.NewRequest(http.MethodPost, db.URL()+"/api/v2/write?bucket=hazard/autogen&precision=s",
		strings.NewReader("gas_detector,site=qz,device=GD-101 ch4=57.3 1700000000\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /api/v2/write: %s %s", resp.Status, body)
	}
	if n := db.Count("hazard", "gas_detector", `"device"='GD-101'`); n != 1 {
		t.Errorf("Count() = %d, want 1", n)
	}
}

// Stop and Start keep the data and the address; in between, requests fail and
// Count reports -1.
func TestInfluxDBStopStartKeepsData(t *testing.T) {
	db := InfluxDB(t)
	db.CreateDB("hazard")
	if err := db.Write("hazard", "tank,site=qz,device=T-1 level_mm=1200 1700000000000000000\n"); err != nil {
		t.Fatal(err)
	}
	url := db.URL()
	db.Stop()
	if err := db.Write("hazard", "tank,site=qz,device=T-1 level_mm=1210 1700000001000000000\n"); err == nil {
		t.Error("write to a stopped server succeeded")
	}
	if n := db.Count("hazard", "tank", ""); n != -1 {
		t.Errorf("Count() on a stopped server = %d, want -1", n)
	}
	db.Start()
	if db.URL() != url {
		t.Fatalf("restarted at %s, want %s", db.URL(), url)
	}
	if n := db.Count("hazard", "tank", ""); n != 1 {
		t.Errorf("Count() after restart = %d, want 1", n)
	}
	if err := db.Write("hazard", "tank,site=qz,device=T-1 level_mm=1210 1700000001000000000\n"); err != nil {
		t.Fatal(err)
	}
	if n := db.Count("hazard", "tank", ""); n != 2 {
		t.Errorf("Count() = %d, want 2", n)
	}
}

func TestInfluxDBAuth(t *testing.T) {
	db := InfluxDB(t, WithInfluxAuth("admin", "pa'ss"))
	db.CreateDB("hazard") // the helpers authenticate themselves
	resp, err := http.Get(db.URL() + "/query?q=SHOW+DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated query: %s, want 401", resp.Status)
	}
	// The v2 API's token for InfluxDB 1.8 is "user:password".
	req, _ := http.NewRequest(http.MethodPost, db.URL()+"/api/v2/write?bucket=hazard/autogen",
		strings.NewReader("weather_station,site=qz wind=3.5\n"))
	req.Header.Set("Authorization", "Token admin:pa'ss")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("v2 write with user:password token: %s, want 204", resp.Status)
	}
	db.Restart() // the user is kept
	if n := db.Count("hazard", "weather_station", ""); n != 1 {
		t.Errorf("Count() = %d, want 1", n)
	}
}
