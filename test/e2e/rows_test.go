package e2e

import (
	"time"

	"github.com/hazardgw/hazardgw/internal/testenv"
)

// row is one InfluxDB result row with its series tags folded in.
type row struct {
	at   time.Time
	vals map[string]any
}

func (r row) Time() time.Time      { return r.at }
func (r row) Value(col string) any { return r.vals[col] }

// rowsOf flattens every series of res into rows. InfluxDB 1.8 returns time
// as an RFC 3339 string with nanoseconds; a row without one has zero time.
func rowsOf(res *testenv.Result) []row {
	var out []row
	for _, s := range res.Series {
		for _, vals := range s.Values {
			r := row{vals: map[string]any{}}
			for k, v := range s.Tags {
				r.vals[k] = v
			}
			for i, c := range s.Columns {
				if i >= len(vals) {
					break
				}
				if c == "time" {
					if ts, ok := vals[i].(string); ok {
						r.at, _ = time.Parse(time.RFC3339Nano, ts)
					}
					continue
				}
				r.vals[c] = vals[i]
			}
			out = append(out, r)
		}
	}
	return out
}
