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
	"github.com/sluicehq/sluice/plan"
)

// Stop records that an execution is stopped, by who, and then acts on it: the engine driving
// it kills its running actions (this one at once; another within its poll), its waiting
// approval is rejected, and the stage it held is released. It returns the execution as stopped.
// A stopped execution can be retried.
func (e *Engine) Stop(ctx context.Context, id, who string) (*sluice.Execution, error) {
	return Stop(ctx, e.store, id, who, e.now(), func(ex *sluice.Execution, ev sluice.Event) {
		e.bus.publish(ev)
		e.mu.Lock()
		r := e.running[id]
		e.mu.Unlock()
		if r != nil {
			r.stopOnce.Do(func() { close(r.stop) })
			r.cancel(errStopped)
			<-r.done
		}
	})
}

// Stop records that an execution is stopped, with or without a running engine (an engine that
// drives it notices within its poll). stopped, if not nil, runs once the stop is recorded.
func Stop(ctx context.Context, st interface {
	Execution(context.Context, string) (*sluice.Execution, error)
	StopExecution(context.Context, string, string, string, time.Time, ...sluice.Event) (*sluice.Execution, error)
}, id, who string, now time.Time, stopped func(*sluice.Execution, sluice.Event)) (*sluice.Execution, error) {
	if who == "" {
		who = "someone"
	}
	// The event is stored with the stop, so it is built before it, from the execution as it
	// is: its pipeline and revision never change.
	ex, err := st.Execution(ctx, id)
	if err != nil {
		return nil, err
	}
	reason := "stopped by " + who
	ev := sluice.ExecutionStopped(ex, who, reason, now)
	ex, err = st.StopExecution(ctx, id, who, reason, now.UTC(), ev)
	if err != nil {
		return nil, err
	}
	if stopped != nil {
		stopped(ex, ev)
	}
	return ex, nil
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
	var resetStages []sluice.StageExecution
	var resetActions []sluice.ActionExecution
	for i := range stages {
		st := &stages[i]
		if st.Status.OK() {
			continue
		}
		if st.Status != sluice.StatusPending {
			for j := range actions {
				a := &actions[j]
				// A change set the failed stage prepared was applied or discarded when the stage
				// ended: the retry prepares it again (the same content gets the same digest).
				prepared := a.Outputs[outChangeSet] != ""
				if a.Stage == st.Stage && ((!a.Status.OK() && a.Status != sluice.StatusPending) || prepared) {
					a.Status, a.Outputs = sluice.StatusPending, nil
					resetActions = append(resetActions, *a)
				}
			}
			st.Status = sluice.StatusPending
			resetStages = append(resetStages, *st)
		}
		break
	}
	ex.Status, ex.Error, ex.Waiting, ex.EndedAt = sluice.StatusInProgress, "", "", time.Time{}
	if !e.save(ctx, func(ev ...sluice.Event) error {
		return e.store.RetryExecution(ctx, ex, resetStages, resetActions, ev...)
	},
		sluice.ExecutionRetried(ex, e.now())) {
		return nil, errors.New("could not record the retry")
	}
	if err := e.spawn(ex); err != nil {
		return nil, err
	}
	return ex, nil
}

// Freeze disables (frozen) or enables the transition into an environment's stage: executions
// wait before it until it is unfrozen. It works with or without a running engine, and returns
// the event it stored.
func Freeze(ctx context.Context, st interface {
	Environment(context.Context, string, string) (*sluice.EnvironmentState, error)
	SaveEnvironment(context.Context, *sluice.EnvironmentState, ...sluice.Event) error
}, pipeline, env string, frozen bool, reason string, now time.Time) (sluice.Event, error) {
	ev := sluice.EnvironmentFrozen(pipeline, env, frozen, reason, now)
	state, err := st.Environment(ctx, pipeline, env)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		state, err = &sluice.EnvironmentState{Pipeline: pipeline, Name: env}, nil
	}
	if err != nil {
		return ev, err
	}
	state.Frozen, state.FrozenReason, state.UpdatedAt = frozen, reason, now.UTC()
	return ev, st.SaveEnvironment(ctx, state, ev)
}

// Freeze disables (or, with frozen false, enables) the transition into env's stage in pipeline
// (the main pipeline if "").
func (e *Engine) Freeze(ctx context.Context, pipeline, env string, frozen bool, reason string) error {
	pipeline, err := e.orMain(ctx, pipeline)
	if err != nil {
		return err
	}
	ev, err := Freeze(ctx, e.store, pipeline, env, frozen, reason, e.now())
	if err != nil {
		return err
	}
	e.bus.publish(ev)
	e.mu.Lock()
	e.broadcastLocked()
	e.mu.Unlock()
	return nil
}

// Rollback puts the previous good version of pipeline's environment (the main pipeline if "")
// back, all at once.
//
// user is who asked and comment why; both are recorded with the deployment (cause manual).
func (e *Engine) Rollback(ctx context.Context, pipeline, env, user, comment string) (*sluice.Deployment, error) {
	if pipeline == "" {
		pipeline = e.mainOrStored(ctx)
	}
	release, err := e.holdEnvironment(ctx, pipeline, env, nil)
	if err != nil {
		return nil, err
	}
	defer release()
	state, err := e.environmentState(ctx, pipeline, env)
	if err != nil {
		return nil, err
	}
	// The environment is as its live revision's route says (its target, where it listens, its
	// alarms), whatever the working tree's route file says now.
	route, err := e.livePlan(ctx, state)
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
	if state.Previous == nil {
		return nil, sluice.Errorf(sluice.ECONFLICT, "%s has no earlier good version to roll back to", env)
	}
	if _, err := e.endpoint(ctx, route, pipeline, env); err != nil {
		return nil, err
	}
	to := *state.Previous
	to.Strategy = sluice.PredefinedStrategies["AllAtOnce"]
	// A rollback is a change set like any other, prepared by the provider, recorded so that the
	// deployment's digest can be looked up, and applied at once: asking for it is the approval.
	where := target(route, pipeline, envSpec, state)
	cs, err := e.prepare(ctx, p, where, state.Live, to)
	if err != nil {
		return nil, err
	}
	if err := e.store.SaveChangeSet(ctx, cs); err != nil {
		e.discard(ctx, p, where, cs)
		return nil, fmt.Errorf("record the rollback's change set: %w", err)
	}
	d := &sluice.Deployment{Pipeline: pipeline, Environment: env, ChangeSetDigest: cs.Digest, To: to.Artifact, Revision: to.Revision, Strategy: to.Strategy.String(),
		Status: sluice.StatusInProgress, StartedAt: e.now().UTC(), Reason: "rollback requested by " + orSomeone(user),
		Rollback: &sluice.Rollback{Cause: sluice.CauseManual, By: user, Detail: comment}}
	if state.Live != nil {
		d.From = state.Live.Artifact
	}
	result, err := e.deploy(ctx, p, route, state, cs, d, envSpec, nil, logWriter{e.log, env})
	if err != nil {
		return d, err
	}
	if result.Status != sluice.StatusSucceeded {
		return d, fmt.Errorf("rollback of %s did not complete: %s", env, result.Reason)
	}
	e.problems.Delete(instanceName(route, pipeline, env))
	return d, nil
}

// restoreEnvironments makes every environment serve its live version again, and records any
// deployment the last engine left half done as rolled back. An environment that cannot be
// restored is reported and left aside: the others serve, and executions can still deploy to it.
func (e *Engine) restoreEnvironments(ctx context.Context) error {
	main := e.mainOrStored(ctx)
	if main == "" {
		return nil // nothing ran yet, and the route file does not say which route this is
	}
	name, _, _ := strings.Cut(main, "@")
	pipelines, err := e.store.ListPipelines(ctx)
	if err != nil {
		return fmt.Errorf("list pipelines: %w", err)
	}
	ids := []string{main}
	for _, p := range pipelines {
		if p.Route == name && !p.State.Removed() && p.ID != ids[0] {
			ids = append(ids, p.ID)
		}
	}
	var states []sluice.EnvironmentState
	for _, id := range ids {
		list, err := e.store.ListEnvironments(ctx, id)
		if err != nil {
			return fmt.Errorf("list environments of %s: %w", id, err)
		}
		states = append(states, list...)
	}
	for i := range states {
		state := &states[i]
		// What serves is restored as its revision's route deployed it, not as the working
		// tree's route file says now.
		route, err := e.livePlan(ctx, state)
		if err != nil {
			e.log.Warn("environment not restored: no route to restore it by", "environment", state.Name, "err", err)
			continue
		}
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
		interrupted := state.Deploying != nil
		e.repairDeployments(ctx, state)
		if state.Live != nil || interrupted {
			if err := p.Restore(ctx, target(route, state.Pipeline, envSpec, state), state.Live, e.secretMap(route.SecretNames())); err != nil {
				e.restoreFailed(ctx, route, state, err) // the other environments are restored all the same
			}
		}
	}
	return nil
}

// repairDeployments makes an environment's history agree with what it runs after an engine
// stopped in the middle of a deployment (stores written by earlier versions could be left
// between two writes): a deployment recorded Succeeded whose version was not yet recorded live
// is made live; the deployment in flight is recorded rolled back, since the last good version is
// what the restart restores; and a deployment the environment never heard of is recorded failed.
func (e *Engine) repairDeployments(ctx context.Context, state *sluice.EnvironmentState) {
	list, err := e.store.ListDeployments(ctx, state.Pipeline, state.Name, 20)
	if err != nil {
		e.log.Error("read deployments to repair", "environment", state.Name, "err", err)
		return
	}
	now := e.now().UTC()
	for i := range list {
		d := &list[i]
		current := state.Deploying != nil && d.ID == state.DeploymentID
		switch {
		case current && d.Status == sluice.StatusSucceeded:
			state.Previous, state.Live = state.Live, state.Deploying
			state.Deploying, state.DeploymentID, state.UpdatedAt = nil, 0, now
			if err := e.store.SaveEnvironment(ctx, state); err != nil {
				e.log.Error("record repaired environment", "environment", state.Name, "err", err)
			}
		case current && d.Status == sluice.StatusInProgress:
			d.Status, d.EndedAt = sluice.StatusRolledBack, now
			d.Reason = "the engine stopped during this deployment; the last good version was restored when it started again"
			d.Rollback = &sluice.Rollback{Cause: sluice.CauseRestart, Detail: d.Reason, RestoredAt: now}
			state.Deploying, state.DeploymentID, state.UpdatedAt = nil, 0, now
			ev := sluice.DeploymentEnded(d, e.now())
			if err := e.store.EndDeployment(ctx, d, state, ev); err != nil {
				e.log.Error("record interrupted deployment", "environment", state.Name, "err", err)
			} else {
				e.bus.publish(ev)
			}
		case d.Status == sluice.StatusInProgress:
			d.Status, d.EndedAt = sluice.StatusFailed, now
			d.Reason = "the engine stopped before this deployment moved any traffic"
			e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveDeployment(ctx, d, ev...) }, sluice.DeploymentEnded(d, e.now()))
		}
	}
	if state.Deploying != nil { // its deployment record is gone or ended otherwise
		state.Deploying, state.DeploymentID, state.UpdatedAt = nil, 0, now
		if err := e.store.SaveEnvironment(ctx, state); err != nil {
			e.log.Error("record restored environment", "environment", state.Name, "err", err)
		}
	}
}

// currentPlan compiles the route file as it is now: which route this engine serves and its
// environments in order, for what nothing live says (the first run, names in status).
func (e *Engine) currentPlan() (*plan.Plan, error) {
	route, _, err := e.loadRoute()
	if err != nil {
		return nil, err
	}
	return plan.Compile(route), nil
}

// livePlan is the plan an environment runs by: the route of the execution that deployed its
// live version, which is the route file as that revision holds it (see routeAt). So restoring,
// rolling back and showing an environment use the target, listen address, alarms and secrets it
// was deployed with, not edits of the working tree that no execution ran yet. An environment
// with nothing live, or whose version no recorded execution deployed, gets the route file as it
// is now. state may be nil.
func (e *Engine) livePlan(ctx context.Context, state *sluice.EnvironmentState) (*plan.Plan, error) {
	if state != nil && state.Live != nil {
		if text, file := e.liveRoute(ctx, state); text != "" {
			if route, err := parseRoute(file, []byte(text)); err == nil {
				return e.planOf(ctx, route, state.Pipeline)
			}
		}
	}
	if state == nil {
		return e.currentPlan()
	}
	return e.currentPlanOf(ctx, state.Pipeline)
}

// liveRoute is the route text (and its file's name) of the execution that deployed state's live
// version: the newest deployment of it that an execution made, else the newest execution of its
// revision in the pipeline; "" when the store has neither.
func (e *Engine) liveRoute(ctx context.Context, state *sluice.EnvironmentState) (text, file string) {
	live := state.Live
	if ds, err := e.store.ListDeployments(ctx, state.Pipeline, state.Name, 0); err == nil {
		for _, d := range ds {
			if d.ExecutionID == "" || d.Status != sluice.StatusSucceeded || d.To != live.Artifact || d.Revision != live.Revision {
				continue // a manual rollback has no route of its own: the one that first deployed it does
			}
			if ex, err := e.store.Execution(ctx, d.ExecutionID); err == nil && ex.Route != "" {
				return ex.Route, ex.RouteFile
			}
		}
	}
	if exs, err := e.store.ListExecutions(ctx, state.Pipeline, false, 0); err == nil {
		for _, ex := range exs {
			if ex.Revision == live.Revision && ex.Route != "" {
				return ex.Route, ex.RouteFile
			}
		}
	}
	return "", ""
}

func (e *Engine) setProgress(env string, p deploy.Progress) { e.progress.Store(env, p) }
func (e *Engine) clearProgress(env string)                  { e.progress.Delete(env) }

// Progress returns the progress of the deployment in flight in the environment known to
// providers as instance (see instanceName; an environment's name in the main pipeline), if any.
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

// Endpoint returns the address of pipeline's environment (the main pipeline if ""), starting
// its entry point if needed.
func (e *Engine) Endpoint(ctx context.Context, pipeline, env string) (string, error) {
	if pipeline == "" {
		pipeline = e.mainOrStored(ctx)
	}
	state, err := e.environmentState(ctx, pipeline, env)
	if err != nil {
		return "", err
	}
	route, err := e.livePlan(ctx, state)
	if err != nil {
		return "", err
	}
	return e.endpoint(ctx, route, pipeline, env)
}

func orSomeone(user string) string {
	if user == "" {
		return "someone unnamed"
	}
	return user
}
