package rollout

import (
	"math"
	"time"
)

// latencyBounds are the upper bounds of the latency histogram buckets. They are round numbers
// about 1.5× apart so that common thresholds (0.1s, 0.2s, 0.5s, 1s) fall on a bound and a
// percentile interpolated inside one bucket is off by at most a third.
var latencyBounds = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 1500 * time.Microsecond, 2 * time.Millisecond, 3 * time.Millisecond,
	5 * time.Millisecond, 7500 * time.Microsecond,
	10 * time.Millisecond, 15 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond,
	50 * time.Millisecond, 75 * time.Millisecond,
	100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond,
	500 * time.Millisecond, 750 * time.Millisecond,
	1 * time.Second, 1500 * time.Millisecond, 2 * time.Second, 3 * time.Second,
	5 * time.Second, 7500 * time.Millisecond,
	10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second, 60 * time.Second,
}

// LatencyBuckets is the number of latency histogram buckets: one per bound of LatencyBounds,
// plus one for everything above the last bound.
const LatencyBuckets = len(latencyBounds) + 1

// LatencyBounds returns the upper bounds (inclusive) of the latency histogram buckets, in
// increasing order. Bucket i holds durations in (bound[i-1], bound[i]]; the last bucket,
// index len(bounds), holds everything above the last bound.
func LatencyBounds() []time.Duration { return latencyBounds[:] }

// LatencyBucket returns the histogram bucket index of d, in 0..LatencyBuckets-1. Negative
// durations fall into the first bucket.
func LatencyBucket(d time.Duration) int {
	// A binary search over 31 bounds: five comparisons, no allocation; this runs per request.
	lo, hi := 0, len(latencyBounds)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if latencyBounds[mid] < d {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Window is what the new version did over a span of time: the input of an alarm. The zero
// Window holds no requests, and no alarm is breached by it.
type Window struct {
	// Span is the length of time the window covers. If zero, Evaluate reports the alarm's Window.
	Span time.Duration
	// Requests is how many responses the version gave in the window.
	Requests int64
	// Errors is how many of them were 5xx (including the router's own 502 when it could not
	// reach the version).
	Errors int64
	// Latency counts the responses per LatencyBounds bucket.
	Latency [LatencyBuckets]int64
	// MaxLatency is the slowest response, used to bound the top bucket's percentile.
	MaxLatency time.Duration
	// P99 is the 99th percentile latency as measured by a source that computes percentiles
	// itself (CloudWatch's p99 statistic), with Latency left empty. When set, alarms on
	// latency_p99 judge it instead of an estimate from Latency.
	P99 time.Duration
}

// Observe adds one response to w. It is how tests and simple callers build a Window.
func (w *Window) Observe(status int, d time.Duration) {
	w.Requests++
	if status >= 500 && status <= 599 {
		w.Errors++
	}
	w.Latency[LatencyBucket(d)]++
	w.MaxLatency = max(w.MaxLatency, d)
}

// Add merges o into w. Spans are not added: w keeps its own.
func (w *Window) Add(o Window) {
	w.Requests += o.Requests
	w.Errors += o.Errors
	for i := range w.Latency {
		w.Latency[i] += o.Latency[i]
	}
	w.MaxLatency = max(w.MaxLatency, o.MaxLatency)
}

// ErrorRate returns Errors/Requests, or 0 for an empty window.
func (w Window) ErrorRate() float64 {
	if w.Requests <= 0 {
		return 0
	}
	return float64(w.Errors) / float64(w.Requests)
}

// Quantile returns an estimate of the q-quantile (0 < q ≤ 1) of the latencies, interpolated
// linearly inside the bucket that holds it, as Prometheus' histogram_quantile does; inside the
// top bucket it interpolates up to MaxLatency. It returns 0 for an empty histogram.
func (w Window) Quantile(q float64) time.Duration {
	var total int64
	for _, n := range w.Latency {
		total += n
	}
	if total == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(total)
	var seen int64
	for i, n := range w.Latency {
		if n == 0 || float64(seen+n) < rank {
			seen += n
			continue
		}
		lower, upper := time.Duration(0), w.MaxLatency
		if i > 0 {
			lower = latencyBounds[i-1]
		}
		if i < len(latencyBounds) {
			upper = latencyBounds[i]
		}
		if w.MaxLatency > 0 {
			// No response was slower than the slowest one seen: tighten the top of the bucket.
			upper = min(upper, max(w.MaxLatency, lower))
		}
		if upper < lower {
			upper = lower
		}
		frac := (rank - float64(seen)) / float64(n)
		return lower + time.Duration(frac*float64(upper-lower))
	}
	return w.MaxLatency
}
