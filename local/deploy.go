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

// Prepare returns the difference between what the environment runs and what it should run
// (deploy.Diff). A local change set holds nothing outside itself: it is the whole description
// of what Apply will start, so it survives a restart of the engine in the store alone.
func (p *Provider) Prepare(_ context.Context, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error) {
	cs := deploy.Diff(env.Name, live, to)
	return &cs, nil
}

// Discard has nothing to let go of: a local change set holds nothing until it is applied.
func (p *Provider) Discard(context.Context, deploy.Environment, *sluice.ChangeSet) error {
	return nil
}

// Apply starts the change set's new version, runs the pre-traffic hook against it alone, shifts
// traffic by its strategy while judging alarms on every response, runs the post-traffic hook,
// watches alarms for one more window, and then drains and stops the old version. A breach, a
// failing hook or a canceled ctx puts all traffic back on the old version at once. A change set
// that does not match its digest (changed after it was reviewed) is refused.
func (p *Provider) Apply(ctx context.Context, req deploy.Request) (deploy.Result, error) {
	if err := deploy.CheckSealed(req.ChangeSet); err != nil {
		return deploy.Result{}, err
	}
	env, err := p.environment(ctx, req.Environment)
	if err != nil {
		return deploy.Result{}, err
	}
	env.serve()
	env.deploying.Lock()
	defer env.deploying.Unlock()
	d := &deployment{p: p, env: env, req: req, to: req.ChangeSet.To}
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
		d.req.Hook = func(context.Context, string, string, map[string]string) error { return nil }
	}
	env.router.SetSticky(req.Sticky)
	return d.run(ctx)
}

type deployment struct {
	p        *Provider
	env      *environment
	req      deploy.Request
	to       sluice.Version // the change set's new version
	old, new *version
}

func (d *deployment) run(ctx context.Context) (deploy.Result, error) {
	d.env.mu.Lock()
	d.old = d.env.live
	d.env.mu.Unlock()
	d.req.Progress(deploy.Progress{Phase: "starting"})
	nv, err := d.p.startVersion(ctx, d.env, d.to, d.req.Secrets, d.req.Log)
	if err != nil {
		if ctx.Err() != nil {
			return deploy.Result{}, ctx.Err()
		}
		res := deploy.Result{Status: sluice.StatusFailed, Reason: err.Error()}
		if d.old != nil {
			// The new version never got traffic: the old one keeps serving, as after a rollback.
			now := time.Now().UTC()
			res.Reason += "; the old version keeps all traffic"
			res.Rollback = &sluice.Rollback{Cause: sluice.CauseHealth, Detail: err.Error(), BreachedAt: now, RestoredAt: now}
		}
		return res, nil
	}
	d.new = nv
	d.req.Progress(deploy.Progress{Phase: "healthy"})
	out := deploy.Shift{
		Strategy: d.to.Strategy,
		Alarms:   d.req.Alarms,
		First:    d.old == nil,
		Hook: func(ctx context.Context, phase string) error {
			endpoint := nv.url // before traffic: the new version alone
			if phase == "post_traffic" {
				endpoint = d.env.url()
			}
			return d.req.Hook(ctx, phase, endpoint, nil)
		},
		Progress: d.req.Progress,
		Log: func(format string, args ...any) {
			d.req.Log("%s: %s", nv.id, fmt.Sprintf(format, args...))
		},
	}.Run(ctx, d)
	if out.Rollback == nil {
		d.finishSwitch()
		d.req.Progress(deploy.Progress{Phase: "done", Weight: 100})
		return deploy.Result{Status: sluice.StatusSucceeded}, nil
	}
	d.drainAndStop(ctx, d.new)
	status := sluice.StatusRolledBack
	if d.old == nil {
		status = sluice.StatusFailed // nothing to roll back to: the environment serves nothing
	}
	res := deploy.Result{Status: status, Reason: out.Reason, Rollback: out.Rollback}
	if out.Err != nil {
		res.Status, res.Reason = sluice.StatusFailed, fmt.Sprintf("%s; %v", out.Reason, out.Err)
	}
	return res, ctx.Err()
}

// SetWeight gives the new version percent of the traffic and the old one the rest; 0 puts
// everything back on the old version (or serves nothing when there was none).
func (d *deployment) SetWeight(_ context.Context, percent int) error {
	var routes []router.Route
	if percent > 0 {
		routes = append(routes, router.Route{Version: d.new.id, URL: d.new.url, Weight: percent})
	}
	if d.old != nil && percent < 100 {
		routes = append(routes, router.Route{Version: d.old.id, URL: d.old.url, Weight: 100 - percent})
	}
	return d.env.router.SetRoutes(routes)
}

// Window is what the new version's requests measured over the last w.
func (d *deployment) Window(w time.Duration) rollout.Window { return d.env.router.Window(d.new.id, w) }

// Changed receives after responses, so alarms are judged as soon as there is something new.
func (d *deployment) Changed() <-chan struct{} { return d.env.notify }

var _ deploy.Traffic = (*deployment)(nil)

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
func (p *Provider) Restore(ctx context.Context, target deploy.Environment, live *sluice.Version, secrets map[string]string) error {
	name := target.Name
	env, err := p.environment(ctx, target)
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
