//go:build race

package router

// raceDetector reports whether the tests run under the race detector, which changes what
// allocation counts mean.
const raceDetector = true
