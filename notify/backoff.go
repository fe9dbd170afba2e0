package notify

import "time"

// Backoff is how long to wait after the attempt-th failed attempt (from 1): first, doubled at
// each further attempt, at most maxWait, then spread by jitter (a number in [0, 1), drawn
// anew each time) over its upper half, so that receivers coming back up are not hit by every
// waiting notice at the same instant. Zero first or maxWait take DefaultRetryFirst and
// DefaultRetryMax.
func Backoff(attempt int, first, maxWait time.Duration, jitter float64) time.Duration {
	if first <= 0 {
		first = DefaultRetryFirst
	}
	if maxWait <= 0 {
		maxWait = DefaultRetryMax
	}
	d := first
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	jitter = min(max(jitter, 0), 1)
	return d/2 + time.Duration(jitter*float64(d/2))
}
