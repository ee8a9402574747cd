package mqtt

import (
	"strconv"
	"testing"

	"github.com/hazardgw/hazardgw/gateway"
)

// TestMarkOutOfService: the point gets quality uncertain and reason
// maintenance once each, replacing fields of those names, and the
// worker's arena (the fields after the point's) is left alone.
func TestMarkOutOfService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []gateway.Field
		want   string
	}{
		{"event", []gateway.Field{gateway.Float("confidence", 0.9)}, `confidence=0.9 quality="uncertain" reason="maintenance"`},
		{"mapped quality", []gateway.Field{gateway.String("quality", "A"), gateway.Float("v", 1), gateway.String("reason", "")},
			`v=1 quality="uncertain" reason="maintenance"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arena := append(append([]gateway.Field(nil), tc.fields...), gateway.Float("next", 7))
			p := gateway.Point{Measurement: "m", Fields: arena[:len(tc.fields):len(tc.fields)]}
			markOutOfService(&p)
			var got string
			for i, f := range p.Fields {
				if i > 0 {
					got += " "
				}
				switch f.Kind {
				case gateway.KindString:
					got += f.Key + `="` + f.S + `"`
				default:
					got += f.Key + "=" + strconv.FormatFloat(f.F, 'g', -1, 64)
				}
			}
			if got != tc.want {
				t.Errorf("fields %s, want %s", got, tc.want)
			}
			if last := arena[len(arena)-1]; last.Key != "next" || last.F != 7 {
				t.Errorf("arena overwritten: %+v", last)
			}
			for i, f := range tc.fields {
				if arena[i] != f {
					t.Errorf("the message's own fields changed: %+v", arena[i])
				}
			}
		})
	}
}
