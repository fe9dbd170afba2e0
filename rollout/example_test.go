package rollout_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rollout"
)

// Example walks a canary the way a driver does: set the weight, sleep until the next change.
func Example() {
	s := sluice.PredefinedStrategies["Canary10Percent5Minutes"]
	var elapsed time.Duration
	for {
		percent, done := rollout.WeightAt(s, elapsed)
		fmt.Printf("at %s: %d%%\n", elapsed, percent)
		if done {
			break
		}
		wait, _ := rollout.NextChange(s, elapsed)
		elapsed += wait // a real driver sleeps here, watching alarms
	}
	// Output:
	// at 0s: 10%
	// at 5m0s: 100%
}

func ExampleEvaluate() {
	alarm := sluice.Alarm{Name: "api-errors", Metric: sluice.MetricErrorRate, Threshold: 0.01, Window: 2 * time.Second}
	w := rollout.Window{Span: 2 * time.Second}
	for i := range 500 {
		status := 200
		if i < 210 {
			status = 500
		}
		w.Observe(status, 3*time.Millisecond)
	}
	fmt.Println(rollout.Evaluate(alarm, w).Reason)
	// Output: error_rate 0.42 > 0.01 over 2s (210 of 500 requests)
}
