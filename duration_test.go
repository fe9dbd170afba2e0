package sluice_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// TestStrategyAndAlarmRoundTrip: the API and the store read back what they write.
func TestStrategyAndAlarmRoundTrip(t *testing.T) {
	in := sluice.Version{
		Strategy:    sluice.Strategy{Type: sluice.Linear, Percent: 20, Interval: 2 * time.Second},
		HealthEvery: sluice.Duration(200 * time.Millisecond),
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out sluice.Version
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("read back %s: %v", b, err)
	}
	if out.Strategy != in.Strategy || out.HealthEvery != in.HealthEvery {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	alarm := sluice.Alarm{Name: "a", Metric: sluice.MetricErrorRate, Threshold: 0.5, Window: 10 * time.Second, MinRequests: 3}
	b, _ = json.Marshal(alarm)
	var back sluice.Alarm
	if err := json.Unmarshal(b, &back); err != nil || back != alarm {
		t.Fatalf("alarm round trip: %+v, %v (from %s)", back, err, b)
	}
	if err := json.Unmarshal([]byte(`{"type":"linear","interval":"soon"}`), new(sluice.Strategy)); err == nil {
		t.Fatal("a bad interval must be refused")
	}
}

func TestStatusDone(t *testing.T) {
	for s, done := range map[sluice.Status]bool{
		sluice.StatusPending: false, sluice.StatusInProgress: false, sluice.StatusWaiting: false,
		sluice.StatusSucceeded: true, sluice.StatusFailed: true, sluice.StatusRolledBack: true, sluice.StatusSuperseded: true,
	} {
		if s.Done() != done {
			t.Errorf("%s.Done() = %v, want %v", s, s.Done(), done)
		}
	}
}

// TestStrategyIntervalReadsBothWays: stored state written before intervals were duration
// strings (encoding/json writes a time.Duration as nanoseconds) still reads back.
func TestStrategyIntervalReadsBothWays(t *testing.T) {
	cases := []struct {
		name, json string
		want       time.Duration
	}{
		{"duration string", `{"type":"linear","percent":10,"interval":"1m30s"}`, 90 * time.Second},
		{"nanoseconds", `{"type":"linear","percent":10,"interval":1500000000}`, 1500 * time.Millisecond},
		{"absent", `{"type":"all-at-once"}`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s sluice.Strategy
			if err := json.Unmarshal([]byte(c.json), &s); err != nil {
				t.Fatal(err)
			}
			if s.Interval != c.want {
				t.Errorf("interval = %s, want %s", s.Interval, c.want)
			}
		})
	}
}
