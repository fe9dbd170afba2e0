package rollout

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestSteps(t *testing.T) {
	const i = 30 * time.Second
	tests := []struct {
		name     string
		strategy sluice.Strategy
		want     []Step
	}{
		{"zero strategy shifts at once", sluice.Strategy{}, []Step{{100, 0}}},
		{"all at once", sluice.PredefinedStrategies["AllAtOnce"], []Step{{100, 0}}},
		{"blue green", sluice.PredefinedStrategies["BlueGreen"], []Step{{100, 0}}},
		{"canary 10% 5 minutes", sluice.PredefinedStrategies["Canary10Percent5Minutes"],
			[]Step{{10, 0}, {100, 5 * time.Minute}}},
		{"custom canary", sluice.Strategy{Type: sluice.Canary, Percent: 25, Interval: i},
			[]Step{{25, 0}, {100, i}}},
		{"linear 10% every minute", sluice.PredefinedStrategies["Linear10PercentEvery1Minute"],
			[]Step{{10, 0}, {20, time.Minute}, {30, 2 * time.Minute}, {40, 3 * time.Minute},
				{50, 4 * time.Minute}, {60, 5 * time.Minute}, {70, 6 * time.Minute},
				{80, 7 * time.Minute}, {90, 8 * time.Minute}, {100, 9 * time.Minute}}},
		{"linear 30% caps the last step at 100", sluice.Strategy{Type: sluice.Linear, Percent: 30, Interval: i},
			[]Step{{30, 0}, {60, i}, {90, 2 * i}, {100, 3 * i}}},
		{"linear 50%", sluice.Strategy{Type: sluice.Linear, Percent: 50, Interval: i},
			[]Step{{50, 0}, {100, i}}},
		{"canary 100% is all at once", sluice.Strategy{Type: sluice.Canary, Percent: 100, Interval: i},
			[]Step{{100, 0}}},
		{"percent above 100 is clamped", sluice.Strategy{Type: sluice.Linear, Percent: 250, Interval: i},
			[]Step{{100, 0}}},
		{"percent 0 is clamped to 1", sluice.Strategy{Type: sluice.Canary, Percent: 0, Interval: i},
			[]Step{{1, 0}, {100, i}}},
		{"zero interval is all at once", sluice.Strategy{Type: sluice.Linear, Percent: 10},
			[]Step{{100, 0}}},
		{"negative interval is all at once", sluice.Strategy{Type: sluice.Canary, Percent: 10, Interval: -i},
			[]Step{{100, 0}}},
		{"unknown type is all at once", sluice.Strategy{Type: "sideways", Percent: 10, Interval: i},
			[]Step{{100, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Steps(tt.strategy)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Steps(%v) = %v, want %v", tt.strategy, got, tt.want)
			}
		})
	}
}

func TestStepsOfEveryPredefinedStrategyEndAt100(t *testing.T) {
	for _, name := range sluice.StrategyNames() {
		t.Run(name, func(t *testing.T) {
			steps := Steps(sluice.PredefinedStrategies[name])
			if steps[0].After != 0 {
				t.Errorf("first step at %s, want 0", steps[0].After)
			}
			if last := steps[len(steps)-1]; last.Percent != 100 {
				t.Errorf("last step %d%%, want 100%%", last.Percent)
			}
			for k := 1; k < len(steps); k++ {
				if steps[k].Percent <= steps[k-1].Percent || steps[k].After <= steps[k-1].After {
					t.Errorf("steps not increasing at %d: %v", k, steps)
				}
			}
		})
	}
}

func TestWeightAtAndNextChange(t *testing.T) {
	canary := sluice.Strategy{Type: sluice.Canary, Percent: 10, Interval: 5 * time.Minute}
	linear := sluice.Strategy{Type: sluice.Linear, Percent: 10, Interval: time.Minute}
	tests := []struct {
		name        string
		strategy    sluice.Strategy
		elapsed     time.Duration
		wantPercent int
		wantDone    bool
		wantWait    time.Duration
		wantNext    bool
	}{
		{"all at once at start", sluice.Strategy{Type: sluice.AllAtOnce}, 0, 100, true, 0, false},
		{"before the start", canary, -time.Second, 0, false, time.Second, true},
		{"canary at start", canary, 0, 10, false, 5 * time.Minute, true},
		{"canary just before the switch", canary, 5*time.Minute - time.Nanosecond, 10, false, time.Nanosecond, true},
		{"canary exactly at the switch", canary, 5 * time.Minute, 100, true, 0, false},
		{"canary long after", canary, time.Hour, 100, true, 0, false},
		{"linear between steps", linear, 90 * time.Second, 20, false, 30 * time.Second, true},
		{"linear at the ninth step", linear, 8 * time.Minute, 90, false, time.Minute, true},
		{"linear done", linear, 9 * time.Minute, 100, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			percent, done := WeightAt(tt.strategy, tt.elapsed)
			if percent != tt.wantPercent || done != tt.wantDone {
				t.Errorf("WeightAt(%v, %s) = %d, %v; want %d, %v", tt.strategy, tt.elapsed, percent, done, tt.wantPercent, tt.wantDone)
			}
			wait, ok := NextChange(tt.strategy, tt.elapsed)
			if wait != tt.wantWait || ok != tt.wantNext {
				t.Errorf("NextChange(%v, %s) = %s, %v; want %s, %v", tt.strategy, tt.elapsed, wait, ok, tt.wantWait, tt.wantNext)
			}
		})
	}
}

// TestDriverLoop walks a frozen clock the way the deploy provider does: sleep NextChange, read
// WeightAt. It must visit every step exactly once and stop.
func TestDriverLoop(t *testing.T) {
	s := sluice.PredefinedStrategies["Linear10PercentEvery3Minutes"]
	var elapsed time.Duration
	var seen []int
	for range 100 { // bounded: a bug must fail, not hang
		p, done := WeightAt(s, elapsed)
		seen = append(seen, p)
		if done {
			break
		}
		wait, ok := NextChange(s, elapsed)
		if !ok {
			t.Fatalf("NextChange says no more steps at %s but WeightAt says not done", elapsed)
		}
		elapsed += wait
	}
	want := []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("percents = %v, want %v", seen, want)
	}
	if elapsed != Total(s) || Total(s) != 27*time.Minute {
		t.Errorf("ended at %s, Total %s; want 27m", elapsed, Total(s))
	}
}
