package rollout

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Verdict is the judgement of one alarm over one window. The zero Verdict is "not breached".
type Verdict struct {
	// Breached is true when the metric is above the alarm's threshold.
	Breached bool
	// Value is the metric's value over the window: a rate in 0..1, a count, or seconds. It is 0
	// when the window held too few requests to judge.
	Value float64
	// Reason is a sentence for people, such as
	// "error_rate 0.42 > 0.01 over 2s (210 of 500 requests)".
	Reason string
}

// Evaluate judges alarm a over w, the new version's metrics over the alarm's window.
//
// The alarm is breached when its metric is strictly above Threshold. A rate (error_rate) or a
// percentile (latency_p99) is judged only once the window holds at least MinRequests requests
// (1 if zero or negative): with fewer, one unlucky request would roll a deployment back. A
// count (errors) needs no minimum. An unknown metric is never breached; spec rejects it earlier.
func Evaluate(a sluice.Alarm, w Window) Verdict {
	span := w.Span
	if span <= 0 {
		span = a.Window
	}
	minRequests := int64(max(a.MinRequests, 1))
	threshold := formatFloat(a.Threshold)
	switch a.Metric {
	case sluice.MetricErrors:
		v := float64(w.Errors)
		return verdict(v > a.Threshold, v, "errors %d %s %s over %s (%d of %d requests)",
			w.Errors, cmp(v > a.Threshold), threshold, span, w.Errors, w.Requests)
	case sluice.MetricErrorRate, sluice.MetricLatencyP99:
		if w.Requests < minRequests {
			return Verdict{Reason: fmt.Sprintf("%s not judged: %d of the %d requests needed over %s",
				a.Metric, w.Requests, minRequests, span)}
		}
	default:
		return Verdict{Reason: fmt.Sprintf("unknown metric %q is never breached", a.Metric)}
	}
	if a.Metric == sluice.MetricErrorRate {
		v := w.ErrorRate()
		return verdict(v > a.Threshold, v, "error_rate %s %s %s over %s (%d of %d requests)",
			formatFloat(v), cmp(v > a.Threshold), threshold, span, w.Errors, w.Requests)
	}
	p99 := w.P99
	if p99 == 0 {
		p99 = w.Quantile(0.99)
	}
	v := p99.Seconds()
	return verdict(v > a.Threshold, v, "latency_p99 %s %s %s over %s (%d requests)",
		formatFloat(v), cmp(v > a.Threshold), threshold, span, w.Requests)
}

// Check evaluates every alarm over the window that window returns for the alarm's Window, and
// returns the first breached alarm and its verdict; ok is false when none is breached. Alarms
// are judged in order, so the one a person listed first is the one reported.
func Check(alarms []sluice.Alarm, window func(d time.Duration) Window) (alarm sluice.Alarm, v Verdict, ok bool) {
	for _, a := range alarms {
		if v := Evaluate(a, window(a.Window)); v.Breached {
			return a, v, true
		}
	}
	return sluice.Alarm{}, Verdict{}, false
}

func verdict(breached bool, value float64, format string, args ...any) Verdict {
	return Verdict{Breached: breached, Value: value, Reason: fmt.Sprintf(format, args...)}
}

func cmp(above bool) string {
	if above {
		return ">"
	}
	return "<="
}

// formatFloat prints f rounded to four significant digits in its shortest plain form: 0.01,
// 0.3333, 1500; never 0.010000 or 1.5e+03.
func formatFloat(f float64) string {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	scale := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(f))))
	return strconv.FormatFloat(math.Round(f*scale)/scale, 'f', -1, 64)
}
