package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/rollout"
)

// Traffic is what a provider moves during a deployment: the share of requests that reaches the
// new version, and what those requests measured. The local router is one implementation; a
// Lambda alias (RoutingConfig weights) or a load balancer's target-group weights are others.
//
// The Shift driver calls Traffic from one goroutine at a time.
type Traffic interface {
	// SetWeight sends percent (0..100) of requests to the new version and the rest to the old
	// one. SetWeight(0) puts everything back on the old version, or serves nothing when there
	// is no old version. Idempotent; it returns once the new weights are in force.
	SetWeight(ctx context.Context, percent int) error
	// Window returns what the new version's requests measured over the last d.
	Window(d time.Duration) rollout.Window
	// Changed receives when new measurements arrive, so alarms are judged at once rather than at
	// the next tick. Nil when the provider cannot tell (alarms are then judged every Tick).
	Changed() <-chan struct{}
}

// Watcher is a Traffic that also watches alarms of its own, judged by the platform rather than
// by Sluice (CloudWatch alarms by name). The driver asks Breach whenever it judges its alarms.
type Watcher interface {
	Traffic
	// Breach returns what an alarm of the platform's reports when one is breached, else nil.
	// It must not block: a provider polls the platform in the background and Breach reads the
	// last answer.
	Breach() *sluice.Rollback
}

// Clock is the time the Shift driver reads. Tests pass a clock they advance by hand.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from Now.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) NewTimer(d time.Duration) Timer {
	return systemTimer{time.NewTimer(d)}
}

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// DefaultTick bounds how long an alarm breach can go unnoticed when no measurement arrives to
// wake the driver (a window sliding past old successes can breach with no new request).
const DefaultTick = 20 * time.Millisecond

// Shift is one traffic shift: how to move from the old version to the new one and what to
// watch while doing it. The provider has already started the new version and found it healthy.
type Shift struct {
	Strategy sluice.Strategy
	Alarms   []sluice.Alarm
	// First is true when the environment served nothing before: all traffic goes to the new
	// version at once and there is nothing to bake against.
	First bool
	// Hook runs the "pre_traffic" (before any request reaches the new version) and
	// "post_traffic" (after all requests do) lifecycle hooks. Nil runs none. An error rolls back.
	Hook func(ctx context.Context, phase string) error
	// Progress is told of each step (may be nil). It must not block.
	Progress func(Progress)
	// Log receives the driver's narration (may be nil).
	Log func(format string, args ...any)
	// Bake is the least time alarms are watched with all traffic on the new version; the
	// longest alarm window is watched when longer. A provider whose Traffic is a Watcher sets
	// it so that the platform's alarms get to judge the new version under full traffic.
	Bake time.Duration
	// Clock is the time the driver reads. If nil, SystemClock is used.
	Clock Clock
	// Tick is how often alarms are judged when no measurement arrives. If zero, DefaultTick.
	Tick time.Duration
}

// Outcome is how a shift ended. A nil Rollback means all traffic is on the new version and the
// provider may retire the old one; otherwise the driver has already put all traffic back on the
// old version (Rollback.RestoredAt) and the provider retires the new one.
type Outcome struct {
	Rollback *sluice.Rollback
	// Reason is a sentence, when rolled back.
	Reason string
	// Err is set when putting traffic back failed too: the environment may serve a mix.
	Err error
}

// Run drives s over t: the pre-traffic hook, the strategy's steps with alarms judged after every
// measurement and every Tick, the post-traffic hook, and a bake of the longest alarm window with
// all traffic on the new version. A breach, a failing hook, a weight that cannot be set or a
// canceled ctx puts all traffic back on the old version at once.
func (s Shift) Run(ctx context.Context, t Traffic) Outcome {
	d := &driver{Shift: s, t: t}
	if d.Clock == nil {
		d.Clock = SystemClock
	}
	if d.Tick <= 0 {
		d.Tick = DefaultTick
	}
	if d.Progress == nil {
		d.Progress = func(Progress) {}
	}
	if d.Log == nil {
		d.Log = func(string, ...any) {}
	}
	if d.Hook == nil {
		d.Hook = func(context.Context, string) error { return nil }
	}
	return d.run(ctx)
}

type driver struct {
	Shift
	t Traffic
}

func (d *driver) run(ctx context.Context) Outcome {
	if err := d.Hook(ctx, "pre_traffic"); err != nil {
		return d.rollback(ctx, &sluice.Rollback{Cause: sluice.CauseHook, Detail: err.Error()}, err.Error())
	}
	if d.First {
		if err := d.t.SetWeight(ctx, 100); err != nil {
			return d.rollback(ctx, &sluice.Rollback{Cause: sluice.CauseTraffic, Detail: err.Error()}, err.Error())
		}
		d.Progress(Progress{Phase: "shifting", Weight: 100})
	} else if out, ended := d.shift(ctx); ended {
		return out
	}
	if err := d.Hook(ctx, "post_traffic"); err != nil {
		return d.rollback(ctx, &sluice.Rollback{Cause: sluice.CauseHook, Detail: err.Error()}, err.Error())
	}
	if out, ended := d.bake(ctx); ended {
		return out
	}
	return Outcome{}
}

// shift moves traffic step by step; ended is true when the shift was rolled back.
func (d *driver) shift(ctx context.Context) (Outcome, bool) {
	start := d.Clock.Now()
	for {
		weight, finished := rollout.WeightAt(d.Strategy, d.Clock.Now().Sub(start))
		if err := d.t.SetWeight(ctx, weight); err != nil {
			return d.rollback(ctx, &sluice.Rollback{Cause: sluice.CauseTraffic, Detail: err.Error()}, err.Error()), true
		}
		d.Log("%d%% of traffic on the new version", weight)
		d.Progress(Progress{Phase: "shifting", Weight: weight})
		if finished {
			return Outcome{}, false
		}
		wait, _ := rollout.NextChange(d.Strategy, d.Clock.Now().Sub(start))
		if out, ended := d.watch(ctx, wait); ended {
			return out, true
		}
	}
}

// bake watches alarms for the longest alarm window after all traffic reached the new version,
// so a version that fails under full traffic is still caught.
func (d *driver) bake(ctx context.Context) (Outcome, bool) {
	longest := d.Bake
	for _, a := range d.Alarms {
		longest = max(longest, a.Window)
	}
	if longest == 0 || d.First {
		return Outcome{}, false
	}
	d.Progress(Progress{Phase: "baking", Weight: 100})
	d.Log("watching alarms for %s with all traffic on the new version", longest)
	return d.watch(ctx, longest)
}

// watch judges the alarms for dur, after every measurement and at least every Tick, and rolls
// back at the first breach. Without alarms there is nothing to judge: it only waits.
func (d *driver) watch(ctx context.Context, dur time.Duration) (Outcome, bool) {
	timer := d.Clock.NewTimer(dur)
	defer timer.Stop()
	watcher, _ := d.t.(Watcher)
	if len(d.Alarms) == 0 && watcher == nil {
		select {
		case <-ctx.Done():
			return d.canceled(ctx), true
		case <-timer.C():
			return Outcome{}, false
		}
	}
	changed := d.t.Changed()
	tick := d.Clock.NewTimer(d.Tick)
	defer func() { tick.Stop() }()
	for {
		if watcher != nil {
			if rb := watcher.Breach(); rb != nil {
				if rb.BreachedAt.IsZero() {
					rb.BreachedAt = d.Clock.Now().UTC()
				}
				return d.rollback(ctx, rb, fmt.Sprintf("alarm %s breached: %s", rb.Alarm, rb.Detail)), true
			}
		}
		if alarm, v, breached := rollout.Check(d.Alarms, d.t.Window); breached {
			rb := &sluice.Rollback{Cause: sluice.CauseAlarm, Alarm: alarm.Name, Metric: alarm.Metric, Value: v.Value,
				Threshold: alarm.Threshold, Detail: v.Reason, BreachedAt: d.Clock.Now().UTC()}
			return d.rollback(ctx, rb, fmt.Sprintf("alarm %s breached: %s", alarm.Name, v.Reason)), true
		}
		select {
		case <-ctx.Done():
			return d.canceled(ctx), true
		case <-timer.C():
			return Outcome{}, false
		case <-changed:
		case <-tick.C():
			tick = d.Clock.NewTimer(d.Tick)
		}
	}
}

func (d *driver) canceled(ctx context.Context) Outcome {
	return d.rollback(context.WithoutCancel(ctx), &sluice.Rollback{Cause: sluice.CauseCanceled, Detail: context.Cause(ctx).Error()},
		"the deployment was canceled")
}

// rollback puts all traffic back on the old version and says how long that took.
func (d *driver) rollback(ctx context.Context, rb *sluice.Rollback, reason string) Outcome {
	err := d.t.SetWeight(ctx, 0)
	rb.RestoredAt = d.Clock.Now().UTC()
	if rb.BreachedAt.IsZero() {
		rb.BreachedAt = rb.RestoredAt
	}
	d.Progress(Progress{Phase: "rolling_back", Weight: 0})
	if err != nil {
		return Outcome{Rollback: rb, Reason: reason, Err: fmt.Errorf("put traffic back on the old version: %w", err)}
	}
	if d.First {
		d.Log("rolled back: %s", reason)
	} else {
		d.Log("rolled back: all traffic on the old version again, %s after the breach (%s)", rb.Reaction(), reason)
	}
	return Outcome{Rollback: rb, Reason: reason}
}
