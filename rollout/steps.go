package rollout

import (
	"time"

	"github.com/sluicehq/sluice"
)

// Step is one traffic level of a strategy: from After (an offset from the start of shifting) on,
// the new version gets Percent of the traffic, until the next step.
type Step struct {
	Percent int
	After   time.Duration
}

// Steps returns the traffic steps of s, in order: the first is at offset 0 and the last has
// Percent 100. It never returns an empty slice.
//
// AllAtOnce, BlueGreen, the zero Strategy and unknown types shift everything at once. Canary
// and Linear clamp Percent into 1..100 and treat a negative Interval as zero; a zero Interval,
// or a Percent of 100, also shifts everything at once, since the steps would all coincide.
func Steps(s sluice.Strategy) []Step {
	percent := min(max(s.Percent, 1), 100)
	interval := max(s.Interval, 0)
	if percent == 100 || interval == 0 {
		return []Step{{Percent: 100}}
	}
	switch s.Type {
	case sluice.Canary:
		return []Step{{Percent: percent}, {Percent: 100, After: interval}}
	case sluice.Linear:
		n := (100 + percent - 1) / percent
		steps := make([]Step, n)
		for i := range steps {
			steps[i] = Step{Percent: min((i+1)*percent, 100), After: time.Duration(i) * interval}
		}
		return steps
	}
	return []Step{{Percent: 100}}
}

// WeightAt returns the percent of traffic the new version gets elapsed after shifting started,
// and done once it has reached 100. Before the start (a negative elapsed) it gets 0.
func WeightAt(s sluice.Strategy, elapsed time.Duration) (percent int, done bool) {
	if elapsed < 0 {
		return 0, false
	}
	steps := Steps(s)
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].After <= elapsed {
			return steps[i].Percent, i == len(steps)-1
		}
	}
	return 0, false // unreachable: the first step is at 0
}

// NextChange returns how long after elapsed the new version's percent changes next, so a driver
// can sleep exactly that long; ok is false once the last step has been reached. Before the start
// (a negative elapsed) the next change is the first step, -elapsed away.
func NextChange(s sluice.Strategy, elapsed time.Duration) (wait time.Duration, ok bool) {
	for _, step := range Steps(s) {
		if step.After > elapsed {
			return step.After - elapsed, true
		}
	}
	return 0, false
}

// Total returns how long shifting takes from the first step to the last: 0 for AllAtOnce,
// Interval for Canary, (steps-1)×Interval for Linear.
func Total(s sluice.Strategy) time.Duration {
	steps := Steps(s)
	return steps[len(steps)-1].After
}
