package conf

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type tItem struct {
	Name string `yaml:"name"`
	N    int    `yaml:"n"`
}

// tLevel is a TextUnmarshaler like alerting.StaleAfter.
type tLevel struct{ V int }

func (l *tLevel) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		l.V = 1
	case "high":
		l.V = 2
	default:
		return fmt.Errorf("invalid level %q", b)
	}
	return nil
}

type tConf struct {
	S      string            `yaml:"s"`
	B      bool              `yaml:"b"`
	I      int               `yaml:"i"`
	I8     int8              `yaml:"i8"`
	I64    int64             `yaml:"i64"`
	U16    uint16            `yaml:"u16"`
	F      float64           `yaml:"f"`
	F32    float32           `yaml:"f32"`
	D      time.Duration     `yaml:"d"`
	Size   ByteSize          `yaml:"size"`
	Level  tLevel            `yaml:"level"`
	PF     *float64          `yaml:"pf"`
	PI     *int              `yaml:"pi"`
	PItem  *tItem            `yaml:"pitem"`
	List   []tItem           `yaml:"list"`
	Strs   []string          `yaml:"strs"`
	Tags   map[string]string `yaml:"tags"`
	Items  map[string]tItem  `yaml:"items"`
	Months map[int]int       `yaml:"months"`
	Token  string            `yaml:"token"`
	Nested struct {
		Deep struct {
			X int `yaml:"x"`
		} `yaml:"deep"`
	} `yaml:"nested"`
}

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		lookup  func(string) (string, bool)
		check   func(c *tConf) bool // nil: no check of values
		wantErr string              // exact error text; "" = no error
	}{
		{name: "empty document", src: "", check: func(c *tConf) bool { return reflect.DeepEqual(*c, tConf{}) }},
		{name: "only comments", src: "# nothing\n", check: func(c *tConf) bool { return c.S == "" }},
		{name: "scalars", src: "s: hello\nb: true\ni: -42\ni8: 127\ni64: 0x7fffffffffffffff\nu16: 65535\nf: 1.5e3\nf32: 0.25\n",
			check: func(c *tConf) bool {
				return c.S == "hello" && c.B && c.I == -42 && c.I8 == 127 && c.I64 == 1<<63-1 && c.U16 == 65535 && c.F == 1500 && c.F32 == 0.25
			}},
		{name: "number into string", src: "s: 101\n", check: func(c *tConf) bool { return c.S == "101" }},
		{name: "leading zero is decimal", src: "i: 010\n", check: func(c *tConf) bool { return c.I == 10 }},
		{name: "hex and binary", src: "i: 0x10\nu16: 0b101\n", check: func(c *tConf) bool { return c.I == 16 && c.U16 == 5 }},
		{name: "duration", src: "d: 1m30s\n", check: func(c *tConf) bool { return c.D == 90*time.Second }},
		{name: "size", src: "size: 1GiB\n", check: func(c *tConf) bool { return c.Size == 1<<30 }},
		{name: "text unmarshaler", src: "level: high\n", check: func(c *tConf) bool { return c.Level.V == 2 }},
		{name: "pointers mark presence", src: "pf: 0\npi: 3\npitem: {name: a}\n",
			check: func(c *tConf) bool { return *c.PF == 0 && *c.PI == 3 && c.PItem.Name == "a" }},
		{name: "absent and null pointers stay nil", src: "pf: null\npitem: ~\n",
			check: func(c *tConf) bool { return c.PF == nil && c.PI == nil && c.PItem == nil }},
		{name: "lists and maps", src: "list:\n  - name: a\n    n: 1\n  - {name: b, n: 2}\nstrs: [x, y]\ntags: {area: A, zone: \"1\"}\nitems:\n  t1: {name: one}\n",
			check: func(c *tConf) bool {
				return reflect.DeepEqual(c.List, []tItem{{"a", 1}, {"b", 2}}) && reflect.DeepEqual(c.Strs, []string{"x", "y"}) &&
					reflect.DeepEqual(c.Tags, map[string]string{"area": "A", "zone": "1"}) && c.Items["t1"].Name == "one"
			}},
		{name: "whole-number keys", src: "months: {1: 0, 3: 5, 12: -2}\n",
			check: func(c *tConf) bool { return reflect.DeepEqual(c.Months, map[int]int{1: 0, 3: 5, 12: -2}) }},
		{name: "nested struct", src: "nested:\n  deep:\n    x: 7\n", check: func(c *tConf) bool { return c.Nested.Deep.X == 7 }},
		{name: "anchors and merge keys", src: "list:\n  - &base {name: a, n: 1}\n  - <<: *base\n    n: 2\n",
			check: func(c *tConf) bool { return reflect.DeepEqual(c.List, []tItem{{"a", 1}, {"a", 2}}) }},
		{name: "utf-8", src: "s: 某石化储罐区\n", check: func(c *tConf) bool { return c.S == "某石化储罐区" }},

		{name: "key not a number", src: "months:\n  1: 0\n  march: 5\n", wantErr: `f.yaml:3: months.march: want a whole number as key, got "march"`},
		{name: "unknown key", src: "s: a\nintervall: 1s\n", wantErr: "f.yaml:2: intervall: unknown key"},
		{name: "unknown key with suggestion", src: "nested:\n  deep:\n    xx: 1\n", wantErr: `f.yaml:3: nested.deep.xx: unknown key (did you mean "x"?)`},
		{name: "duplicate key", src: "s: a\nb: true\ns: b\n", wantErr: "f.yaml:3: s: duplicate key (first at line 1)"},
		{name: "duplicate map key", src: "tags:\n  a: 1\n  a: 2\n", wantErr: "f.yaml:3: tags.a: duplicate key (first at line 2)"},
		{name: "bad duration", src: "list:\n  - {name: a}\n  - name: b\nd: 1x\n", wantErr: `f.yaml:4: d: invalid duration "1x"`},
		{name: "duration without unit", src: "d: 5\n", wantErr: `f.yaml:1: d: invalid duration "5": missing unit (e.g. 5s)`},
		{name: "int overflow", src: "i8: 128\n", wantErr: `f.yaml:1: i8: "128" is out of range (-128..127)`},
		{name: "int64 overflow", src: "i: 99999999999999999999\n", wantErr: `f.yaml:1: i: "99999999999999999999" is out of range (-9223372036854775808..9223372036854775807)`},
		{name: "uint negative", src: "u16: -1\n", wantErr: `f.yaml:1: u16: invalid unsigned integer "-1"`},
		{name: "uint overflow", src: "u16: 65536\n", wantErr: `f.yaml:1: u16: "65536" is out of range (0..65535)`},
		{name: "float for int", src: "i: 1.5\n", wantErr: `f.yaml:1: i: invalid integer "1.5"`},
		{name: "float32 overflow", src: "f32: 1e39\n", wantErr: `f.yaml:1: f32: "1e39" is out of range`},
		{name: "nan", src: "f: NaN\n", wantErr: `f.yaml:1: f: must be a finite number`},
		{name: "yaml inf", src: "f: .inf\n", wantErr: `f.yaml:1: f: invalid number ".inf"`},
		{name: "bad bool", src: "b: yes\n", wantErr: `f.yaml:1: b: invalid boolean "yes" (want true or false)`},
		{name: "bad size", src: "size: 1 furlong\n", wantErr: `f.yaml:1: size: invalid size "1 furlong" (want e.g. 512MiB, 1GiB)`},
		{name: "bad text", src: "level: medium\n", wantErr: `f.yaml:1: level: invalid level "medium"`},
		{name: "list for string", src: "s: [a, b]\n", wantErr: `f.yaml:1: s: want a string, got a list`},
		{name: "mapping for list", src: "strs: {a: b}\n", wantErr: `f.yaml:1: strs: want a list, got a mapping`},
		{name: "string for struct", src: "pitem: hello\n", wantErr: `f.yaml:1: pitem: want a mapping, got a string`},
		{name: "mapping for duration", src: "d: {a: 1}\n", wantErr: `f.yaml:1: d: want a duration (e.g. 500ms, 5s, 1m), got a mapping`},
		{name: "top level not a mapping", src: "- a\n- b\n", wantErr: `f.yaml:1: the top level must be a mapping of sections (site:, gateway:, ...), got a list`},
		{name: "syntax error", src: "s: a\nb: [1,\n", wantErr: `f.yaml:2: invalid YAML: did not find expected node content`},
		{name: "tab indentation", src: "nested:\n\tdeep: 1\n", wantErr: `f.yaml:2: invalid YAML: found character that cannot start any token`},
		{name: "two documents", src: "s: a\n---\ns: b\n", wantErr: `f.yaml:2: only one YAML document is allowed (remove the second ---)`},
		{name: "unknown anchor", src: "s: a\nd: *nope\n", wantErr: `f.yaml:2: invalid YAML: unknown anchor 'nope' referenced`},
		// yaml.v3 puts parser errors on the 0-based line of the enclosing
		// construct; the problem is on the line of the text at fault.
		{name: "key out of line", src: "s: a\nnested:\n  deep: {}\n x: 1\n", wantErr: `f.yaml:4: invalid YAML: did not find expected key`},
		{name: "key out of line deep", src: "s: a\nnested:\n  deep:\n    x: 1\n    y: 2\n   z: 3\ni: 1\n", wantErr: `f.yaml:6: invalid YAML: did not find expected key`},
		{name: "key out of line first", src: "nested:\n  deep: 1\n x: 2\n", wantErr: `f.yaml:3: invalid YAML: did not find expected key`},
		{name: "flow mapping", src: "s: a\n\npitem: {name: a n: 1}}\n", wantErr: `f.yaml:3: invalid YAML: did not find expected ',' or '}'`},
		{name: "no newline at the end", src: "s: a\nlist: [a, b}", wantErr: `f.yaml:2: invalid YAML: did not find expected ',' or ']'`},
		{name: "unquoted var in flow mapping", src: "s: a\ngateway_like:\n  pitem: {name: x, token: ${API_TOKEN}}\n",
			wantErr: `f.yaml:3: invalid YAML: did not find expected ',' or '}' (inside {…} or […] an unquoted ${…} ends at its "{"; quote it: "${API_TOKEN}")`},
		{name: "unquoted var with default in flow list", src: "strs: [a, ${T:-s3cret-default}]\n",
			wantErr: `f.yaml:1: invalid YAML: did not find expected ',' or ']' (inside {…} or […] an unquoted ${…} ends at its "{"; quote it: "${T:-…}")`},
		{name: "unquoted var in multi-line flow mapping", src: "s: a\npitem: {\n  name: a,\n  n: ${N}\n}\n",
			wantErr: `f.yaml:4: invalid YAML: did not find expected ',' or '}' (inside {…} or […] an unquoted ${…} ends at its "{"; quote it: "${N}")`},
		{name: "quoted var in flow mapping", src: "pitem: {name: \"${A}\", n: '${N}'}\n", lookup: env("A", "x", "N", "2"),
			check: func(c *tConf) bool { return c.PItem.Name == "x" && c.PItem.N == 2 }},
		{name: "unquoted var in block mapping", src: "pitem:\n  name: ${A}\n", lookup: env("A", "x"),
			check: func(c *tConf) bool { return c.PItem.Name == "x" }},
		{name: "merge into itself", src: "pitem: &a\n  <<: *a\n", wantErr: `f.yaml:2: pitem: << merges a mapping into itself`},
		{name: "all errors collected, sorted by line", src: "d: 1x\nzz: 1\ni8: 300\nlist:\n  - {name: a, n: x}\n  - {name: b, m: 1}\ns: a\ns: b\n",
			wantErr: strings.Join([]string{
				`f.yaml:1: d: invalid duration "1x"`,
				`f.yaml:2: zz: unknown key`,
				`f.yaml:3: i8: "300" is out of range (-128..127)`,
				`f.yaml:5: list[0].n: invalid integer "x"`,
				`f.yaml:6: list[1].m: unknown key (did you mean "n"?)`,
				`f.yaml:8: s: duplicate key (first at line 7)`,
			}, "\n")},

		// ${VAR} expansion.
		{name: "env", src: "s: ${A}\ni: ${N}\nd: ${D}\n", lookup: env("A", "alpha", "N", "12", "D", "2s"),
			check: func(c *tConf) bool { return c.S == "alpha" && c.I == 12 && c.D == 2*time.Second }},
		{name: "env inside text", src: "s: http://${HOST}:${PORT}/x\n", lookup: env("HOST", "h", "PORT", "1"),
			check: func(c *tConf) bool { return c.S == "http://h:1/x" }},
		{name: "env default when unset", src: "s: ${A:-fallback}\n", check: func(c *tConf) bool { return c.S == "fallback" }},
		{name: "env default when empty", src: "s: ${A:-fallback}\n", lookup: env("A", ""), check: func(c *tConf) bool { return c.S == "fallback" }},
		{name: "env set wins over default", src: "s: ${A:-fallback}\n", lookup: env("A", "set"), check: func(c *tConf) bool { return c.S == "set" }},
		{name: "env empty default", src: "s: ${A:-}\npf: ${B:-}\nd: ${C:-}\n",
			check: func(c *tConf) bool { return c.S == "" && c.PF == nil && c.D == 0 }},
		{name: "env escape", src: "s: $${A} costs $$5 and $x\n", lookup: env("A", "no"),
			check: func(c *tConf) bool { return c.S == "${A} costs $5 and $x" }},
		{name: "env value is not re-parsed", src: "s: ${A}\n", lookup: env("A", "x\ny: ${B}"),
			check: func(c *tConf) bool { return c.S == "x\ny: ${B}" }},
		{name: "env in list and map", src: "strs: [\"${A}\"]\ntags: {k: '${A}'}\n", lookup: env("A", "v"),
			check: func(c *tConf) bool { return c.Strs[0] == "v" && c.Tags["k"] == "v" }},
		{name: "env unset", src: "s: a\ntoken: ${INFLUX_TOKEN}\n",
			wantErr: `f.yaml:2: token: environment variable INFLUX_TOKEN is not set (write ${INFLUX_TOKEN:-default} to make it optional)`},
		{name: "env unterminated", src: "s: ${A\n", wantErr: `f.yaml:1: s: unterminated "${" (write $$ for a literal $)`},
		{name: "env bad name", src: "s: ${1A}\n", wantErr: `f.yaml:1: s: invalid variable reference: want ${NAME} or ${NAME:-default} with NAME made of letters, digits and _ (write $$ for a literal $)`},
		{name: "env bad value type", src: "i: ${N}\n", lookup: env("N", "many"), wantErr: `f.yaml:1: i: invalid integer "many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c tConf
			err := Load("f.yaml", []byte(tt.src), &c, Options{Lookup: tt.lookup}, nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("error:\n%s\nwant:\n%s", got, tt.wantErr)
			}
			if tt.check != nil && !tt.check(&c) {
				t.Errorf("decoded %+v", c)
			}
		})
	}
}

func TestDecodeLines(t *testing.T) {
	src := `site:
  id: a
modbus:
  links:
    - name: l1
      devices:
        - id: d1
          points:
            - {name: p0, address: 0}
            - name: p1
              address: 1
`
	type point struct {
		Name    string `yaml:"name"`
		Address int    `yaml:"address"`
	}
	type device struct {
		ID     string  `yaml:"id"`
		Points []point `yaml:"points"`
	}
	type link struct {
		Name    string   `yaml:"name"`
		Devices []device `yaml:"devices"`
	}
	var c struct {
		Site struct {
			ID string `yaml:"id"`
		} `yaml:"site"`
		Modbus struct {
			Links []link `yaml:"links"`
		} `yaml:"modbus"`
	}
	r := Decode([]byte(src), &c, Options{})
	if len(r.Problems) != 0 {
		t.Fatal(r.Problems)
	}
	for path, want := range map[string]int{
		"":                                     1,
		"site":                                 1,
		"site.id":                              2,
		"modbus.links":                         4,
		"modbus.links[0]":                      5,
		"modbus.links[0].devices[0].points[0]": 9,
		"modbus.links[0].devices[0].points[0].name":    9,
		"modbus.links[0].devices[0].points[1]":         10,
		"modbus.links[0].devices[0].points[1].address": 11,
		// Not in the file: the nearest parent's line.
		"modbus.links[0].devices[0].points[1].scale": 10,
		"modbus.links[0].url":                        5,
		"influxdb.url":                               1,
	} {
		if got := r.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestLoadValidateProblems(t *testing.T) {
	src := "s: a\nlist:\n  - name: x\n    n: bad\n  - name: y\n"
	var c tConf
	err := Load("f.yaml", []byte(src), &c, Options{}, func(p *Problems) {
		p.Addf("s", "too short")
		p.Addf("list[0].n", "must be positive") // dropped: the value failed to decode
		p.Addf("list[1].n", "must be positive") // missing key: line of list[1]
		p.Addf("token", "required")             // missing section: line of the root
		p.Addf("list[1].n", "must be positive") // duplicate: dropped
	})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	want := strings.Join([]string{
		`f.yaml:1: s: too short`,
		`f.yaml:1: token: required`,
		`f.yaml:4: list[0].n: invalid integer "bad"`,
		`f.yaml:5: list[1].n: must be positive`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("got:\n%s\nwant:\n%s", err, want)
	}
}

func TestAliasBomb(t *testing.T) {
	// Six levels of ten aliases each would decode a million items.
	type lvl map[string]map[string]map[string]map[string]map[string]map[string]tItem
	var c struct {
		L lvl `yaml:"l"` // x0..x5 are unknown keys, reported too
	}
	src := "x0: &x0 {a: {name: x}, b: {name: x}, c: {name: x}, d: {name: x}, e: {name: x}, f: {name: x}, g: {name: x}, h: {name: x}, i: {name: x}, j: {name: x}}\n"
	prev := "x0"
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("x%d", i)
		src += fmt.Sprintf("%s: &%s {", name, name)
		for j := range 10 {
			if j > 0 {
				src += ", "
			}
			src += fmt.Sprintf("k%d: *%s", j, prev)
		}
		src += "}\n"
		prev = name
	}
	src += "l: *" + prev + "\n"
	err := Load("f.yaml", []byte(src), &c, Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("err = %v", err)
	}
}

func TestExpand(t *testing.T) {
	lookup := env("A", "1", "EMPTY", "")
	tests := []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "$", want: "$"},
		{in: "a$", want: "a$"},
		{in: "$$", want: "$"},
		{in: "$$$$", want: "$$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$${A}", want: "$1"},
		{in: "${A}${A}", want: "11"},
		{in: "x${A:-y}z", want: "x1z"},
		{in: "${B:-a:-b}", want: "a:-b"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${B:-}", want: ""},
		{in: "${}", err: "invalid variable reference"},
		{in: "${A B}", err: "invalid variable reference"},
		{in: "${A", err: "unterminated"},
		{in: "${B}", err: "environment variable B is not set"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, lookup)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSecretsNeverShown puts secret values, from the environment and
// literal, into every kind of decoding error and checks that no message
// contains them.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "s3cr3t-VALUE-42"
	type sec struct {
		Token    string   `yaml:"token"`
		Password int      `yaml:"password"`
		Secret   ByteSize `yaml:"secret"`
		Other    tItem    `yaml:"other"`
	}
	srcs := []string{
		"password: ${S}\n",
		"password: " + secret + "\n",
		"secret: ${S}\n",
		"secret: " + secret + "\n",
		"token: ${S}\nother: {n: ${S}}\n", // the same value elsewhere is scrubbed too
		"token: ${S}\ntoken: ${S}\n",
		"token: [${S}]\n",
	}
	for _, src := range srcs {
		var c sec
		err := Load("f.yaml", []byte(src), &c, Options{Lookup: env("S", secret)}, func(p *Problems) {
			p.Addf("token", "bad token %s", c.Token) // a careless Validate
		})
		if err == nil {
			t.Errorf("%q: no error", src)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: secret in error:\n%s", src, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "s: a\n", "list:\n  - {name: a, n: 1}\n", "d: 1x\nzz: 1\n", "a: &a\n  <<: *a\n",
		"items: {a: {name: ${X:-y}}}\n", "tags: {a: 1, a: 2}\n", "pf: .nan\npi: 0x\n",
		"list: &l [*l]\n", "- a\n", "s: a\n---\nb: 1\n", "i8: -129\nsize: 9999999GiB\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var c tConf
		err := Load("f.yaml", src, &c, Options{Lookup: env("X", "1")}, nil)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("unexpected error %T %v", err, err)
			}
		}
	})
}

// TestSyntaxLineOfLargeFile: past maxBisect the line is yaml's, made
// 1-based for a parser error.
func TestSyntaxLineOfLargeFile(t *testing.T) {
	src := "nested:\n  deep: 1\n x: 2\n" + strings.Repeat("# padding\n", maxBisect/10+1)
	var c tConf
	err := Load("f.yaml", []byte(src), &c, Options{}, nil)
	if want := "f.yaml:3: invalid YAML: did not find expected key"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

// TestDecodeStrings: a Strings value may be one string or a list.
func TestDecodeStrings(t *testing.T) {
	type c struct {
		M map[string]Strings `yaml:"m"`
	}
	var got c
	r := Decode([]byte("m: {severity: [red, orange], area: \"tank-*\", n: 5}\n"), &got, Options{})
	if len(r.Problems) != 0 {
		t.Fatal(r.Problems)
	}
	want := map[string]Strings{"severity": {"red", "orange"}, "area": {"tank-*"}, "n": {"5"}}
	if !reflect.DeepEqual(got.M, want) {
		t.Fatalf("got %v", got.M)
	}
	r = Decode([]byte("m: {area: {x: 1}}\n"), &got, Options{})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Msg, "want a list") {
		t.Fatalf("a mapping as Strings: %v", r.Problems)
	}
}
