package modbussim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"
)

// generator gives a point's engineering value at a time since the scenario
// started. Generators are pure: the same time gives the same value.
type generator func(at time.Duration) float64

// genSpec is one point's generator in a scenario file: at most one base
// (const, ramp, step, curve, sine) plus optional noise.
type genSpec struct {
	Const *float64   `yaml:"const"`
	Ramp  *rampSpec  `yaml:"ramp"`
	Step  []stepSpec `yaml:"step"`
	Curve []stepSpec `yaml:"curve"`
	Sine  *sineSpec  `yaml:"sine"`
	Noise *noiseSpec `yaml:"noise"`
}

// rampSpec goes linearly from From to To during Over, starting At, and
// holds To afterwards.
type rampSpec struct {
	From float64       `yaml:"from"`
	To   float64       `yaml:"to"`
	At   time.Duration `yaml:"at"`
	Over time.Duration `yaml:"over"`
}

// stepSpec is a point of a step (the value from At on, until the next
// step) or of a curve (a vertex of the piecewise-linear path).
type stepSpec struct {
	At    time.Duration `yaml:"at"`
	Value float64       `yaml:"value"`
}

// sineSpec oscillates around Base; Phase is in degrees.
type sineSpec struct {
	Base      float64       `yaml:"base"`
	Amplitude float64       `yaml:"amplitude"`
	Period    time.Duration `yaml:"period"`
	Phase     float64       `yaml:"phase"`
}

// noiseSpec adds uniform noise in [-Amplitude, +Amplitude]; Base is the
// centre when noise is the only generator.
type noiseSpec struct {
	Base      float64 `yaml:"base"`
	Amplitude float64 `yaml:"amplitude"`
}

// noiseKey identifies one noise stream, so that every point's noise is
// reproducible and independent of the others.
type noiseKey struct {
	seed    int64
	unit    uint8
	point   string
	quantum time.Duration // noise changes once per quantum (the tick)
}

// compile builds the generator; def is the value before the first step.
func (g genSpec) compile(def float64, nk noiseKey) (generator, error) {
	base, err := g.base(def)
	if err != nil {
		return nil, err
	}
	if g.Noise == nil {
		return base, nil
	}
	n := g.Noise
	if n.Amplitude < 0 || math.IsNaN(n.Amplitude) {
		return nil, fmt.Errorf("noise.amplitude must be >= 0, got %v", n.Amplitude)
	}
	if base == nil {
		c := n.Base
		base = func(time.Duration) float64 { return c }
	} else if n.Base != 0 {
		return nil, errors.New("noise.base is only for noise alone; the other generator is the base")
	}
	seed := nk.stream()
	q := max(nk.quantum, time.Millisecond)
	amp := n.Amplitude
	return func(at time.Duration) float64 {
		return base(at) + amp*uniform(seed, uint64(at/q))
	}, nil
}

// base compiles the base generator; nil (and no error) when there is only
// noise.
func (g genSpec) base(def float64) (generator, error) {
	var gens []generator
	if g.Const != nil {
		c := *g.Const
		gens = append(gens, func(time.Duration) float64 { return c })
	}
	if g.Ramp != nil {
		r, err := g.Ramp.compile()
		if err != nil {
			return nil, err
		}
		gens = append(gens, r)
	}
	if g.Step != nil {
		st, err := compileSteps(g.Step, def)
		if err != nil {
			return nil, err
		}
		gens = append(gens, st)
	}
	if g.Curve != nil {
		cv, err := compileCurve(g.Curve)
		if err != nil {
			return nil, err
		}
		gens = append(gens, cv)
	}
	if g.Sine != nil {
		sn, err := g.Sine.compile()
		if err != nil {
			return nil, err
		}
		gens = append(gens, sn)
	}
	switch {
	case len(gens) > 1:
		return nil, errors.New("give one of const, ramp, step, curve, sine (plus noise if wanted)")
	case len(gens) == 0 && g.Noise == nil:
		return nil, errors.New("no generator: give const, ramp, step, curve, sine or noise")
	case len(gens) == 0:
		return nil, nil
	}
	return gens[0], nil
}

func (r rampSpec) compile() (generator, error) {
	if r.Over <= 0 {
		return nil, fmt.Errorf("ramp.over must be > 0, got %v", r.Over)
	}
	if r.At < 0 {
		return nil, fmt.Errorf("ramp.at must be >= 0, got %v", r.At)
	}
	return func(at time.Duration) float64 {
		switch {
		case at <= r.At:
			return r.From
		case at >= r.At+r.Over:
			return r.To
		}
		frac := float64(at-r.At) / float64(r.Over)
		return r.From + (r.To-r.From)*frac
	}, nil
}

// checkSteps checks that a step or curve list is non-empty and increasing
// in time.
func checkSteps(kind string, steps []stepSpec) error {
	if len(steps) == 0 {
		return fmt.Errorf("%s needs at least one {at, value}", kind)
	}
	for i := 1; i < len(steps); i++ {
		if steps[i].At <= steps[i-1].At {
			return fmt.Errorf("%s[%d].at %v must be after %s[%d].at %v", kind, i, steps[i].At, kind, i-1, steps[i-1].At)
		}
	}
	return nil
}

func compileSteps(steps []stepSpec, def float64) (generator, error) {
	if err := checkSteps("step", steps); err != nil {
		return nil, err
	}
	steps = slices.Clone(steps)
	return func(at time.Duration) float64 {
		v := def
		for _, s := range steps {
			if s.At > at {
				break
			}
			v = s.Value
		}
		return v
	}, nil
}

// compileCurve interpolates linearly between the vertices, holding the
// first value before the first vertex and the last after the last.
func compileCurve(vs []stepSpec) (generator, error) {
	if err := checkSteps("curve", vs); err != nil {
		return nil, err
	}
	vs = slices.Clone(vs)
	return func(at time.Duration) float64 {
		if at <= vs[0].At {
			return vs[0].Value
		}
		for i := 1; i < len(vs); i++ {
			if at < vs[i].At {
				a, b := vs[i-1], vs[i]
				return a.Value + (b.Value-a.Value)*float64(at-a.At)/float64(b.At-a.At)
			}
		}
		return vs[len(vs)-1].Value
	}, nil
}

func (s sineSpec) compile() (generator, error) {
	if s.Period <= 0 {
		return nil, fmt.Errorf("sine.period must be > 0, got %v", s.Period)
	}
	phase := s.Phase * math.Pi / 180
	return func(at time.Duration) float64 {
		return s.Base + s.Amplitude*math.Sin(2*math.Pi*float64(at)/float64(s.Period)+phase)
	}, nil
}

// stream derives the 64-bit seed of one noise stream.
func (k noiseKey) stream() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s", k.seed, k.unit, k.point)
	return h.Sum64()
}

// uniform returns a value in [-1, 1) that depends only on seed and n
// (splitmix64), so noise is reproducible without shared random state.
func uniform(seed, n uint64) float64 {
	z := seed + (n+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11)/(1<<53)*2 - 1
}
