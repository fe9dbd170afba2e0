package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/spec"
)

// Stop ends an execution, killing its running actions. A stopped execution can be retried.
func (e *Engine) Stop(ctx context.Context, id string) error {
	e.mu.Lock()
	r := e.running[id]
	e.mu.Unlock()
	if r != nil {
		r.stopOnce.Do(func() { close(r.stop) })
		r.cancel()
		<-r.done
		return nil
	}
	ex, err := e.store.Execution(ctx, id)
	if err != nil {
		return err
	}
	if ex.Status.Done() {
		return sluice.Errorf(sluice.ECONFLICT, "execution %s already ended %s", id, ex.Status)
	}
	e.finish(ctx, ex, sluice.StatusStopped, "stopped by request")
	return nil
}

// Retry re-runs the failed stage's unsuccessful actions of an execution that ended without
// succeeding, then goes on from there.
func (e *Engine) Retry(ctx context.Context, id string) (*sluice.Execution, error) {
	e.mu.Lock()
	_, busy := e.running[id]
	e.mu.Unlock()
	if busy {
		return nil, sluice.Errorf(sluice.ECONFLICT, "execution %s is still running; stop it first or wait for it", id)
	}
	ex, err := e.store.Execution(ctx, id)
	if err != nil {
		return nil, err
	}
	switch ex.Status {
	case sluice.StatusFailed, sluice.StatusRejected, sluice.StatusRolledBack, sluice.StatusStopped:
	default:
		return nil, sluice.Errorf(sluice.ECONFLICT, "execution %s is %s; only a failed, rejected, rolled back or stopped execution can be retried", id, ex.Status)
	}
	stages, err := e.store.Stages(ctx, id)
	if err != nil {
		return nil, err
	}
	actions, err := e.store.Actions(ctx, id)
	if err != nil {
		return nil, err
	}
	for i := range stages {
		st := &stages[i]
		if st.Status.OK() {
			continue
		}
		if st.Status != sluice.StatusPending {
			for j := range actions {
				a := &actions[j]
				if a.Stage == st.Stage && !a.Status.OK() && a.Status != sluice.StatusPending {
					a.Status = sluice.StatusPending
					if err := e.store.SaveAction(ctx, a); err != nil {
						return nil, err
					}
				}
			}
			st.Status = sluice.StatusPending
			if err := e.store.SaveStage(ctx, st); err != nil {
				return nil, err
			}
		}
		break
	}
	ex.Status, ex.Error, ex.EndedAt = sluice.StatusInProgress, "", time.Time{}
	if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveExecution(ctx, ex, ev...) }, e.event("execution.retried", ex.ID, map[string]any{"execution": ex.ID})) {
		return nil, errors.New("could not record the retry")
	}
	e.spawn(e.track(ex), ex.ID)
	return ex, nil
}

// Freeze disables (frozen) or enables the transition into an environment's stage: executions
// wait before it until it is unfrozen. It works with or without a running engine, and returns
// the event it stored.
func Freeze(ctx context.Context, st interface {
	Environment(context.Context, string) (*sluice.EnvironmentState, error)
	SaveEnvironment(context.Context, *sluice.EnvironmentState, ...sluice.Event) error
}, env string, frozen bool, reason string, now time.Time) (sluice.Event, error) {
	typ := "environment.frozen"
	if !frozen {
		typ = "environment.unfrozen"
	}
	ev := NewEvent(typ, "env/"+env, map[string]any{"environment": env, "reason": reason}, now)
	state, err := st.Environment(ctx, env)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		state, err = &sluice.EnvironmentState{Name: env}, nil
	}
	if err != nil {
		return ev, err
	}
	state.Frozen, state.FrozenReason, state.UpdatedAt = frozen, reason, now.UTC()
	return ev, st.SaveEnvironment(ctx, state, ev)
}

// Freeze disables (or, with frozen false, enables) the transition into env's stage.
func (e *Engine) Freeze(ctx context.Context, env string, frozen bool, reason string) error {
	ev, err := Freeze(ctx, e.store, env, frozen, reason, e.now())
	if err != nil {
		return err
	}
	e.bus.publish(ev)
	e.mu.Lock()
	e.broadcastLocked()
	e.mu.Unlock()
	return nil
}

// Rollback puts the environment's previous good version back, all at once.
func (e *Engine) Rollback(ctx context.Context, env string) (*sluice.Deployment, error) {
	route, err := e.currentRoute()
	if err != nil {
		return nil, err
	}
	envSpec := route.Environment(env)
	if envSpec == nil {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "environment %q is not in %s", env, e.cfg.RouteFile)
	}
	p, err := e.provider(envSpec)
	if err != nil {
		return nil, err
	}
	lock := e.environmentLock(env)
	lock.Lock()
	defer lock.Unlock()
	state, err := e.environmentState(ctx, env)
	if err != nil {
		return nil, err
	}
	if state.Previous == nil {
		return nil, sluice.Errorf(sluice.ECONFLICT, "%s has no earlier good version to roll back to", env)
	}
	if _, err := e.endpoint(ctx, route, env); err != nil {
		return nil, err
	}
	to := *state.Previous
	to.Strategy = sluice.PredefinedStrategies["AllAtOnce"]
	d := &sluice.Deployment{Environment: env, To: to.Artifact, Revision: to.Revision, Strategy: to.Strategy.String(),
		Status: sluice.StatusInProgress, StartedAt: e.now().UTC(), Reason: "rollback requested"}
	if state.Live != nil {
		d.From = state.Live.Artifact
	}
	result, err := e.deploy(ctx, p, state, to, d, envSpec, nil, logWriter{e.log, env})
	if err != nil {
		return d, err
	}
	if result.Status != sluice.StatusSucceeded {
		return d, fmt.Errorf("rollback of %s did not complete: %s", env, result.Reason)
	}
	e.problems.Delete(env)
	return d, nil
}

// restoreEnvironments makes every environment serve its live version again, and records any
// deployment the last engine left half done as rolled back. An environment that cannot be
// restored is reported and left aside: the others serve, and executions can still deploy to it.
func (e *Engine) restoreEnvironments(ctx context.Context) error {
	states, err := e.store.ListEnvironments(ctx)
	if err != nil {
		return fmt.Errorf("list environments: %w", err)
	}
	route, err := e.currentRoute()
	if err != nil {
		return err
	}
	for i := range states {
		state := &states[i]
		envSpec := route.Environment(state.Name)
		if envSpec == nil {
			e.log.Warn("environment no longer in the route; not restored", "environment", state.Name)
			continue
		}
		p, err := e.provider(envSpec)
		if err != nil {
			e.log.Warn("environment not restored", "environment", state.Name, "err", err)
			continue
		}
		if state.Live != nil || state.Deploying != nil {
			if err := p.Restore(ctx, state.Name, listenAddress(envSpec, state), state.Live, e.secretMap(route.Secrets)); err != nil {
				e.restoreFailed(ctx, state, err) // the other environments are restored all the same
			}
		}
		if state.Deploying != nil {
			e.recordRestartRollback(ctx, state)
		}
	}
	return nil
}

func (e *Engine) recordRestartRollback(ctx context.Context, state *sluice.EnvironmentState) {
	if state.DeploymentID != 0 {
		list, err := e.store.ListDeployments(ctx, state.Name, 20)
		if err == nil {
			for i := range list {
				d := &list[i]
				if d.ID == state.DeploymentID && d.Status == sluice.StatusInProgress {
					now := e.now().UTC()
					d.Status, d.EndedAt = sluice.StatusRolledBack, now
					d.Reason = "the engine stopped during this deployment; the last good version was restored when it started again"
					d.Rollback = &sluice.Rollback{Cause: "restart", Detail: d.Reason, RestoredAt: now}
					e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveDeployment(ctx, d, ev...) }, e.event("deployment.rolled_back", "env/"+state.Name, d))
				}
			}
		}
	}
	state.Deploying, state.DeploymentID, state.UpdatedAt = nil, 0, e.now().UTC()
	if err := e.store.SaveEnvironment(ctx, state); err != nil {
		e.log.Error("record restored environment", "environment", state.Name, "err", err)
	}
}

func (e *Engine) currentRoute() (*spec.Route, error) {
	route, _, err := e.loadRoute()
	return route, err
}

func (e *Engine) setProgress(env string, p deploy.Progress) { e.progress.Store(env, p) }
func (e *Engine) clearProgress(env string)                  { e.progress.Delete(env) }

// Progress returns the progress of the deployment in flight in env, if any.
func (e *Engine) Progress(env string) (deploy.Progress, bool) {
	v, ok := e.progress.Load(env)
	if !ok {
		return deploy.Progress{}, false
	}
	return v.(deploy.Progress), true
}

// logWriter turns a deployment's narration into the engine's log, for deployments that no
// action's log holds (a rollback on demand).
type logWriter struct {
	log *slog.Logger
	env string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)), "environment", w.env)
	return len(p), nil
}

// Repo returns the source repository of the route file as it is now.
func (e *Engine) Repo() (string, error) {
	route, err := e.currentRoute()
	if err != nil {
		return "", err
	}
	return RepoPath(e.cfg.RouteFile, route), nil
}

// Endpoint returns an environment's address, starting its entry point if needed.
func (e *Engine) Endpoint(ctx context.Context, env string) (string, error) {
	route, err := e.currentRoute()
	if err != nil {
		return "", err
	}
	return e.endpoint(ctx, route, env)
}
