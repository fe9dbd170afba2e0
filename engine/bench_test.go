package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// BenchmarkSequentialChecks runs executions of a route with n no-op checks one after another
// (run orders 1..n); ns/action is the time of an execution divided by n, so the execution's
// fixed cost (checkout, stages, change set) weighs less as n grows. bench/engine.sh measures
// the same through the CLI.
func BenchmarkSequentialChecks(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("checks=%d", n), func(b *testing.B) {
			var route strings.Builder
			route.WriteString(routeHead + devOnly + "checks:\n")
			for i := 1; i <= n; i++ {
				fmt.Fprintf(&route, "  - name: c%d\n    run: \"true\"\n    run_order: %d\n", i, i)
			}
			f := newFixture(b, route.String())
			f.start()
			if ex := f.wait(f.run().ID); ex.Status != sluice.StatusSucceeded { // builds the artifact
				b.Fatalf("warm-up: %s (%s)", ex.Status, ex.Error)
			}
			b.ResetTimer()
			for b.Loop() {
				if ex := f.wait(f.run().ID); ex.Status != sluice.StatusSucceeded {
					b.Fatalf("%s (%s)", ex.Status, ex.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/action")
		})
	}
}
