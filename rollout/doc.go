// Package rollout decides, as pure functions of time and metrics, how much traffic a new version
// gets and whether a deployment must roll back. It starts no goroutines and reads no clock: the
// caller passes the time elapsed and the metrics it measured, so every decision is a table test.
//
// The map of decisions:
//
//	Steps        a strategy → the traffic steps: {Percent, After} from the start of shifting
//	             (AllAtOnce, BlueGreen: 100 at 0; Canary p/i: p at 0, 100 at i;
//	             Linear p/i: p, 2p, … capped at 100, one step every i)
//	WeightAt     elapsed → the new version's percent now, and whether shifting is done
//	NextChange   elapsed → how long until the percent changes, so a driver sleeps exactly that
//	Total        the time from the first step to the last
//	Evaluate     an alarm and the new version's metrics over the alarm's window → a Verdict
//	             (error_rate, errors, latency_p99; rates and percentiles are judged only once
//	             the window holds MinRequests requests)
//	Check        every alarm of a deployment → the first breach, if any
//
// One driver, deploy.Shift, uses these for every provider: it sets the weights to WeightAt,
// Checks the alarms over the provider's windows, rolls back on a breach, and otherwise waits for
// NextChange or the next measurement, whichever comes first.
package rollout
