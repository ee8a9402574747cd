// Package conf is the configuration machinery every hazardgw package shares:
// a strict YAML decoder that reports problems with file lines, ${VAR}
// expansion, the Problems list that Validate methods fill, shared checks,
// and scalar types with units (ByteSize).
//
// # Adding a Config to a package
//
// A package owns its section of the file. It declares a Config struct whose
// yaml tags give the keys, where the zero value of every field means "the
// default" (so an omitted key and a constructor called with Config{} agree),
// and a pointer marks presence when zero is a meaningful value:
//
//	// Config is the `widget` section.
//	type Config struct {
//		URL     string        `yaml:"url"`     // required
//		Timeout time.Duration `yaml:"timeout"` // default 5s
//		Scale   *float64      `yaml:"scale"`   // default 1; 0 is an error, not "unset"
//		Token   string        `yaml:"token"`   // secret: never printed
//	}
//
// and a Validate method that never does I/O and reports every problem, not
// only the first, each under the dotted path of its field:
//
//	func (c *Config) Validate(path string, p *conf.Problems) {
//		if u := conf.CheckURL(p, conf.Join(path, "url"), c.URL, "http", "https"); u != nil {
//			conf.CheckHost(p, conf.Join(path, "url"), u, false)
//		}
//		conf.NotNegative(p, conf.Join(path, "timeout"), c.Timeout)
//		if c.Scale != nil && *c.Scale == 0 {
//			p.Addf(conf.Join(path, "scale"), "must not be 0")
//		}
//	}
//
// Elements of lists are conf.Index(path, i), map entries conf.Join(path, key).
// Messages are lower-case, say what is wrong and what is wanted, and never
// include the value of a secret (a key named token, password or secret).
// Finally cmd/hazardgw adds the section to its File struct and calls
// Validate from File.Validate.
//
// # Loading
//
// Load decodes and validates in one go and returns an *Error whose text is
// one line per problem, sorted by line:
//
//	config.yaml:12: modbus.links[0].devices[1].interval: invalid duration "1x"
//	config.yaml:40: alerting.rules[2].thresholds[0]: set exactly one of above and below
//
// The decoder records the line of every path it decodes, so a problem that
// Validate reports by path alone gets the line of that path, or of its
// nearest parent present in the file when the key is missing. Unknown keys,
// duplicate keys, type errors and unset variables are all collected; decoding
// never stops at the first one. Every scalar value is expanded with Expand
// before it is decoded.
//
// A file that is not YAML has one problem, on the line of the text at fault
// (yaml.v3 names the 0-based line of the enclosing mapping or list, so the
// line is found by parsing prefixes of the file), with a hint when it is the
// usual mistake of an unquoted ${NAME} inside {…} or […]:
//
//	config.yaml:7: invalid YAML: did not find expected ',' or '}' (inside {…} or […] an unquoted ${…} ends at its "{"; quote it: "${HAZARDGW_API_TOKEN}")
//
// Everything here is safe for concurrent use; Problems and Result are not
// (one goroutine fills them).
package conf
