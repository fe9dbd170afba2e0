package rollout

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// window builds a Window of n responses, errors of them 5xx, each taking latency.
func window(t *testing.T, span time.Duration, n, errors int, latency time.Duration) Window {
	t.Helper()
	w := Window{Span: span}
	for i := range n {
		status := 200
		if i < errors {
			status = 503
		}
		w.Observe(status, latency)
	}
	return w
}

func TestEvaluate(t *testing.T) {
	errorRate := sluice.Alarm{Name: "api-errors", Metric: sluice.MetricErrorRate, Threshold: 0.01, Window: 2 * time.Second}
	errorCount := sluice.Alarm{Name: "errors", Metric: sluice.MetricErrors, Threshold: 5, Window: 10 * time.Second, MinRequests: 100}
	p99 := sluice.Alarm{Name: "slow", Metric: sluice.MetricLatencyP99, Threshold: 0.25, Window: time.Minute, MinRequests: 20}

	slowTail := window(t, time.Minute, 98, 0, 10*time.Millisecond)
	slowTail.Add(window(t, 0, 2, 0, 2*time.Second))

	tests := []struct {
		name         string
		alarm        sluice.Alarm
		window       Window
		wantBreached bool
		wantValue    float64
		wantReason   string
	}{
		{"error rate above threshold", errorRate, window(t, 2*time.Second, 500, 210, time.Millisecond),
			true, 0.42, "error_rate 0.42 > 0.01 over 2s (210 of 500 requests)"},
		{"error rate at threshold is not breached", errorRate, window(t, 2*time.Second, 100, 1, time.Millisecond),
			false, 0.01, "error_rate 0.01 <= 0.01 over 2s (1 of 100 requests)"},
		{"error rate rounds to four digits", errorRate, window(t, 2*time.Second, 3, 1, time.Millisecond),
			true, 1.0 / 3, "error_rate 0.3333 > 0.01 over 2s (1 of 3 requests)"},
		{"no requests is not judged", errorRate, Window{Span: 2 * time.Second},
			false, 0, "error_rate not judged: 0 of the 1 requests needed over 2s"},
		{"zero span reports the alarm window", errorRate, Window{},
			false, 0, "error_rate not judged: 0 of the 1 requests needed over 2s"},
		{"too few requests for min_requests", sluice.Alarm{Metric: sluice.MetricErrorRate, Threshold: 0.1, Window: 10 * time.Second, MinRequests: 50},
			window(t, 10*time.Second, 49, 49, time.Millisecond),
			false, 0, "error_rate not judged: 49 of the 50 requests needed over 10s"},
		{"enough requests for min_requests", sluice.Alarm{Metric: sluice.MetricErrorRate, Threshold: 0.1, Window: 10 * time.Second, MinRequests: 50},
			window(t, 10*time.Second, 50, 49, time.Millisecond),
			true, 0.98, "error_rate 0.98 > 0.1 over 10s (49 of 50 requests)"},
		{"error count above threshold ignores min_requests", errorCount, window(t, 10*time.Second, 6, 6, time.Millisecond),
			true, 6, "errors 6 > 5 over 10s (6 of 6 requests)"},
		{"error count at threshold", errorCount, window(t, 10*time.Second, 1000, 5, time.Millisecond),
			false, 5, "errors 5 <= 5 over 10s (5 of 1000 requests)"},
		{"p99 in the slow tail", p99, slowTail,
			true, 1.75, "latency_p99 1.75 > 0.25 over 1m0s (100 requests)"},
		{"p99 of fast responses", p99, window(t, time.Minute, 100, 0, 10*time.Millisecond),
			false, 0.009975, "latency_p99 0.009975 <= 0.25 over 1m0s (100 requests)"},
		{"p99 with too few requests", p99, window(t, time.Minute, 19, 0, 5*time.Second),
			false, 0, "latency_p99 not judged: 19 of the 20 requests needed over 1m0s"},
		{"p99 above the top bucket is bounded by the slowest", sluice.Alarm{Metric: sluice.MetricLatencyP99, Threshold: 60, Window: time.Minute},
			window(t, time.Minute, 10, 0, 90*time.Second),
			true, 89.7, "latency_p99 89.7 > 60 over 1m0s (10 requests)"},
		{"unknown metric", sluice.Alarm{Metric: "cpu", Threshold: 0.5, Window: time.Second}, window(t, time.Second, 10, 10, time.Second),
			false, 0, `unknown metric "cpu" is never breached`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(tt.alarm, tt.window)
			if v.Breached != tt.wantBreached || v.Reason != tt.wantReason {
				t.Errorf("Evaluate = %+v\nwant breached=%v reason %q", v, tt.wantBreached, tt.wantReason)
			}
			if diff := v.Value - tt.wantValue; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("Value = %v, want %v", v.Value, tt.wantValue)
			}
		})
	}
}

func TestCheckReportsTheFirstBreachInOrder(t *testing.T) {
	alarms := []sluice.Alarm{
		{Name: "slow", Metric: sluice.MetricLatencyP99, Threshold: 1, Window: time.Minute},
		{Name: "rate", Metric: sluice.MetricErrorRate, Threshold: 0.01, Window: 10 * time.Second},
		{Name: "count", Metric: sluice.MetricErrors, Threshold: 0, Window: 10 * time.Second},
	}
	var asked []time.Duration
	windowFor := func(d time.Duration) Window {
		asked = append(asked, d)
		w := window(t, d, 100, 50, 10*time.Millisecond)
		return w
	}
	a, v, ok := Check(alarms, windowFor)
	if !ok || a.Name != "rate" || !v.Breached {
		t.Fatalf("Check = %q, %+v, %v; want the rate alarm breached", a.Name, v, ok)
	}
	if len(asked) != 2 || asked[0] != time.Minute || asked[1] != 10*time.Second {
		t.Errorf("windows asked = %v, want [1m 10s]", asked)
	}
	if _, _, ok := Check(alarms[:1], windowFor); ok {
		t.Error("Check of a fast version reported a breach")
	}
	if _, _, ok := Check(nil, windowFor); ok {
		t.Error("Check of no alarms reported a breach")
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		w    Window
		q    float64
		want time.Duration
	}{
		{"empty", Window{}, 0.99, 0},
		{"single bucket bounded by the slowest", window(t, 0, 100, 0, 3*time.Millisecond), 0.99, 2990 * time.Microsecond},
		{"interpolates inside the bucket", func() Window {
			w := window(t, 0, 50, 0, 120*time.Millisecond)
			w.Add(window(t, 0, 50, 0, 150*time.Millisecond))
			return w
		}(), 0.5, 125 * time.Millisecond},
		{"NaN quantile", window(t, 0, 10, 0, time.Second), nanQ(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
}

func nanQ() float64 { var zero float64; return zero / zero }

func TestLatencyBucket(t *testing.T) {
	bounds := LatencyBounds()
	tests := []struct {
		name string
		d    time.Duration
		want int
	}{
		{"negative", -time.Second, 0},
		{"zero", 0, 0},
		{"on the first bound", bounds[0], 0},
		{"just above the first bound", bounds[0] + 1, 1},
		{"on 1s", time.Second, 20},
		{"on the last bound", bounds[len(bounds)-1], len(bounds) - 1},
		{"above every bound", time.Hour, LatencyBuckets - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LatencyBucket(tt.d); got != tt.want {
				t.Errorf("LatencyBucket(%s) = %d, want %d", tt.d, got, tt.want)
			}
		})
	}
}
