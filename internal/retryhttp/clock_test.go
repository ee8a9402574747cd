package retryhttp

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func answerAt(date string) *http.Response {
	h := http.Header{}
	if date != "" {
		h.Set("Date", date)
	}
	return &http.Response{StatusCode: 200, Header: h}
}

// TestSkewLearn: the offset is learnt from a Date header a minute or more
// from the offset known; smaller differences (the header's second, the
// answer's travel) and answers without a usable Date teach nothing.
func TestSkewLearn(t *testing.T) {
	local := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC) // a box whose RTC lost three years
	real := local.Add(3*365*24*time.Hour + 20*time.Second)
	var s Skew
	for _, tc := range []struct {
		name    string
		resp    *http.Response
		changed bool
		want    time.Duration
	}{
		{"no answer", nil, false, 0},
		{"no Date", answerAt(""), false, 0},
		{"bad Date", answerAt("yesterday"), false, 0},
		{"59s off", answerAt(local.Add(59 * time.Second).Format(http.TimeFormat)), false, 0},
		{"3 years off", answerAt(real.Format(http.TimeFormat)), true, real.Sub(local)},
		{"the same again, 30s later", answerAt(real.Add(30 * time.Second).Format(http.TimeFormat)), false, real.Sub(local)},
		{"clock set right", answerAt(local.Format(http.TimeFormat)), true, 0},
	} {
		off, changed := s.Learn(tc.resp, local)
		if changed != tc.changed || off != tc.want || s.Offset() != tc.want {
			t.Errorf("%s: Learn = %v, %v (Offset %v); want %v, %v", tc.name, off, changed, s.Offset(), tc.want, tc.changed)
		}
	}
	s.Learn(answerAt(real.Format(http.TimeFormat)), local)
	if got := s.Now(local); !got.Equal(real) {
		t.Errorf("Now = %v, want %v", got, real)
	}
}

type fixedOffset time.Duration

func (f fixedOffset) ClockOffset() time.Duration { return time.Duration(f) }

func TestClockCollector(t *testing.T) {
	c := ClockCollector(map[string]ClockReporter{"duty-desk": fixedOffset(0), "duty-group": fixedOffset(-90 * time.Minute)})
	want := `# HELP hazardgw_clock_offset_seconds How far a receiver's clock (its HTTP Date header) is ahead of the gateway's; negative: behind. 0 until a difference of a minute or more was seen.
# TYPE hazardgw_clock_offset_seconds gauge
hazardgw_clock_offset_seconds{receiver="duty-desk"} 0
hazardgw_clock_offset_seconds{receiver="duty-group"} -5400
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
