package local

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/rollout"
	"github.com/sluicehq/sluice/router"
)

// alarmTick bounds how long a breach can go unnoticed when no response arrives to wake the
// watcher (a window sliding past old successes can breach with no new request).
const alarmTick = 20 * time.Millisecond

// Deploy starts req.To, runs the pre-traffic hook against it alone, shifts traffic by its
// strategy while judging alarms on every response, runs the post-traffic hook, watches alarms for
// one more window, and then drains and stops the old version. A breach, a failing hook or a
// canceled ctx puts all traffic back on the old version at once.
func (p *Provider) Deploy(ctx context.Context, req deploy.Request) (deploy.Result, error) {
	env, err := p.environment(ctx, req.Environment, req.Listen)
	if err != nil {
		return deploy.Result{}, err
	}
	env.serve()
	env.deploying.Lock()
	defer env.deploying.Unlock()
	d := &deployment{p: p, env: env, req: req}
	if d.req.Log == nil {
		d.req.Log = func(string, ...any) {}
	}
	if d.req.Progress == nil {
		d.req.Progress = func(deploy.Progress) {}
	}
	if d.req.DrainTimeout <= 0 {
		d.req.DrainTimeout = 30 * time.Second
	}
	if d.req.Hook == nil {
		d.req.Hook = func(context.Context, string, string) error { return nil }
	}
	env.router.SetSticky(req.Sticky)
	return d.run(ctx)
}

type deployment struct {
	p        *Provider
	env      *environment
	req      deploy.Request
	old, new *version
}

func (d *deployment) run(ctx context.Context) (deploy.Result, error) {
	d.env.mu.Lock()
	d.old = d.env.live
	d.env.mu.Unlock()
	d.req.Progress(deploy.Progress{Phase: "starting"})
	nv, err := d.p.startVersion(ctx, d.env, d.req.To, d.req.Secrets, d.req.Log)
	if err != nil {
		if ctx.Err() != nil {
			return deploy.Result{}, ctx.Err()
		}
		return deploy.Result{Status: sluice.StatusFailed, Reason: err.Error() + "; the old version keeps all traffic"}, nil
	}
	d.new = nv
	d.req.Progress(deploy.Progress{Phase: "healthy"})
	if err := d.req.Hook(ctx, "pre_traffic", nv.url); err != nil {
		return d.rollback(ctx, &sluice.Rollback{Cause: "hook", Detail: err.Error()}, err.Error())
	}
	if d.old == nil {
		// The first deployment to an empty environment goes straight to all traffic.
		if err := d.route(100); err != nil {
			return d.rollback(ctx, &sluice.Rollback{Cause: "router", Detail: err.Error()}, err.Error())
		}
		d.req.Progress(deploy.Progress{Phase: "shifting", Weight: 100})
	} else if res, done := d.shift(ctx); done {
		return res, ctx.Err()
	}
	if err := d.req.Hook(ctx, "post_traffic", "http://"+d.env.addr); err != nil {
		return d.rollback(ctx, &sluice.Rollback{Cause: "hook", Detail: err.Error()}, err.Error())
	}
	if res, done := d.bake(ctx); done {
		return res, ctx.Err()
	}
	d.finishSwitch()
	d.req.Progress(deploy.Progress{Phase: "done", Weight: 100})
	return deploy.Result{Status: sluice.StatusSucceeded}, nil
}

// shift moves traffic step by step. It returns done when the deployment ended early (rolled
// back or canceled).
func (d *deployment) shift(ctx context.Context) (deploy.Result, bool) {
	s := d.req.To.Strategy
	start := time.Now()
	for {
		elapsed := time.Since(start)
		weight, finished := rollout.WeightAt(s, elapsed)
		if err := d.route(weight); err != nil {
			res, _ := d.rollback(ctx, &sluice.Rollback{Cause: "router", Detail: err.Error()}, err.Error())
			return res, true
		}
		d.req.Log("%d%% of traffic on %s", weight, d.new.id)
		d.req.Progress(deploy.Progress{Phase: "shifting", Weight: weight})
		if finished {
			return deploy.Result{}, false
		}
		wait, _ := rollout.NextChange(s, time.Since(start))
		if res, ended := d.watch(ctx, wait); ended {
			return res, true
		}
	}
}

// bake watches alarms for the longest alarm window after all traffic reached the new version,
// so a version that fails under full traffic is still caught.
func (d *deployment) bake(ctx context.Context) (deploy.Result, bool) {
	var longest time.Duration
	for _, a := range d.req.Alarms {
		longest = max(longest, a.Window)
	}
	if longest == 0 || d.old == nil {
		return deploy.Result{}, false
	}
	d.req.Progress(deploy.Progress{Phase: "baking", Weight: 100})
	d.req.Log("watching alarms for %s with all traffic on %s", longest, d.new.id)
	return d.watch(ctx, longest)
}

// watch judges the alarms on the new version's traffic for d, after every response and at
// least every alarmTick, and rolls back at the first breach.
func (d *deployment) watch(ctx context.Context, dur time.Duration) (deploy.Result, bool) {
	timer := time.NewTimer(dur)
	defer timer.Stop()
	// Without alarms there is nothing to judge: wait for the time to pass, not for responses.
	var tick <-chan time.Time
	var responses <-chan struct{}
	if len(d.req.Alarms) > 0 {
		ticker := time.NewTicker(alarmTick)
		defer ticker.Stop()
		tick, responses = ticker.C, d.env.notify
	}
	rt := d.env.router
	for {
		if len(d.req.Alarms) > 0 {
			if alarm, v, breached := rollout.Check(d.req.Alarms, func(w time.Duration) rollout.Window { return rt.Window(d.new.id, w) }); breached {
				rb := &sluice.Rollback{Cause: "alarm", Alarm: alarm.Name, Metric: alarm.Metric, Value: v.Value, Threshold: alarm.Threshold, Detail: v.Reason, BreachedAt: time.Now().UTC()}
				res, _ := d.rollback(ctx, rb, fmt.Sprintf("alarm %s breached: %s", alarm.Name, v.Reason))
				return res, true
			}
		}
		select {
		case <-ctx.Done():
			res, _ := d.rollback(context.WithoutCancel(ctx), &sluice.Rollback{Cause: "canceled", Detail: ctx.Err().Error()}, "the deployment was canceled")
			return res, true
		case <-timer.C:
			return deploy.Result{}, false
		case <-responses:
		case <-tick:
		}
	}
}

// route gives the new version weight percent of the traffic and the old one the rest.
func (d *deployment) route(weight int) error {
	routes := []router.Route{{Version: d.new.id, URL: d.new.url, Weight: weight}}
	if d.old != nil {
		routes = append(routes, router.Route{Version: d.old.id, URL: d.old.url, Weight: 100 - weight})
	}
	return d.env.router.SetRoutes(routes)
}

// rollback puts all traffic back on the old version (or none, when there was none), then drains
// and stops the new one.
func (d *deployment) rollback(ctx context.Context, rb *sluice.Rollback, reason string) (deploy.Result, error) {
	rt := d.env.router
	var routes []router.Route
	if d.old != nil {
		routes = []router.Route{{Version: d.old.id, URL: d.old.url, Weight: 100}}
	}
	err := rt.SetRoutes(routes)
	rb.RestoredAt = time.Now().UTC()
	if rb.BreachedAt.IsZero() {
		rb.BreachedAt = rb.RestoredAt
	}
	d.req.Progress(deploy.Progress{Phase: "rolling_back", Weight: 0})
	if d.old != nil {
		d.req.Log("rolled back: all traffic on %s again, %s after the breach (%s)", d.old.id, rb.Reaction(), reason)
	} else {
		d.req.Log("rolled back: %s", reason)
	}
	if d.new != nil {
		d.drainAndStop(ctx, d.new)
	}
	status := sluice.StatusRolledBack
	if d.old == nil {
		status = sluice.StatusFailed // nothing to roll back to: the environment serves nothing
	}
	if err != nil {
		return deploy.Result{Status: sluice.StatusFailed, Reason: fmt.Sprintf("%s; restoring the old version failed too: %v", reason, err), Rollback: rb}, nil
	}
	return deploy.Result{Status: status, Reason: reason, Rollback: rb}, nil
}

// finishSwitch makes the new version the only one and drains and stops the old.
func (d *deployment) finishSwitch() {
	_ = d.env.router.SetRoutes([]router.Route{{Version: d.new.id, URL: d.new.url, Weight: 100}})
	d.env.mu.Lock()
	d.env.live = d.new
	d.env.problem = ""
	d.env.mu.Unlock()
	go d.p.supervise(d.env, d.new)
	if d.old != nil {
		d.drainAndStop(context.Background(), d.old)
	}
}

func (d *deployment) drainAndStop(ctx context.Context, v *version) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.req.DrainTimeout)
	defer cancel()
	if err := d.env.router.Drain(ctx, v.id); err != nil {
		d.req.Log("version %s: %v; stopping it anyway", v.id, err)
	}
	v.stop()
	d.req.Log("stopped version %s", v.id)
}

// Restore makes the environment serve live: it starts live if it is not already what serves,
// and stops anything else.
func (p *Provider) Restore(ctx context.Context, name, listen string, live *sluice.Version, secrets map[string]string) error {
	env, err := p.environment(ctx, name, listen)
	if err != nil {
		return err
	}
	defer env.serve() // accept only once the live version is routed (or failed to start)
	env.deploying.Lock()
	defer env.deploying.Unlock()
	env.mu.Lock()
	current := env.live
	env.mu.Unlock()
	if live == nil {
		_ = env.router.SetRoutes(nil)
		current.stop()
		env.mu.Lock()
		env.live = nil
		env.mu.Unlock()
		return nil
	}
	if current != nil && current.spec.Artifact == live.Artifact && current.proc.ExitCode() < 0 {
		return nil
	}
	v, err := p.startVersion(ctx, env, *live, secrets, func(string, ...any) {})
	if err != nil {
		return fmt.Errorf("start the live version of %s: %w", name, err)
	}
	if err := env.router.SetRoutes([]router.Route{{Version: v.id, URL: v.url, Weight: 100}}); err != nil {
		v.stop()
		return err
	}
	env.mu.Lock()
	env.live = v
	env.problem = ""
	env.mu.Unlock()
	go p.supervise(env, v)
	current.stop()
	return nil
}
