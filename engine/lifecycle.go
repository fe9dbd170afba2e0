package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// Branch and pull-request pipelines come and go with git events (webhooks or polling, see
// trigger/): the route's pipelines section says which branches get one and what a pull request's
// runs. The methods here are what those triggers call; each is idempotent, so a trigger may
// tell the same thing twice (a webhook and the poller both seeing a push).

// Triggered is what a git event did: the pipeline it concerns (nil: none, the branch or pull
// request gets no pipeline) and the execution it started, or found (Existing) for a revision
// that had run there already.
type Triggered struct {
	Pipeline  *sluice.Pipeline
	Execution *sluice.Execution
	Existing  bool
}

// pipelineRoute returns the route pipeline pl runs: a branch pipeline deploys only to the
// environments of the first branch rule its branch matches (all of them when none does, as
// for an explicit RunBranch), a pull request's to its ephemeral environment and those
// pull_requests names.
func pipelineRoute(route *spec.Route, pl *sluice.Pipeline) *spec.Route {
	switch pl.Kind {
	case sluice.KindBranch:
		return route.ForBranch(pl.Branch)
	case sluice.KindPullRequest:
		return route.ForPullRequest(pl.PullRequest)
	}
	return route
}

// planOf compiles route as pipeline (an ID) runs it. A pipeline the store does not know (the
// main pipeline before its first run) runs the route as it is.
func (e *Engine) planOf(ctx context.Context, route *spec.Route, pipeline string) (*plan.Plan, error) {
	pl, err := e.store.Pipeline(ctx, pipeline)
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		return plan.Compile(route), nil
	case err != nil:
		return nil, fmt.Errorf("read pipeline %s: %w", pipeline, err)
	}
	return plan.Compile(pipelineRoute(route, pl)), nil
}

// currentPlanOf compiles the route file as it is now, as pipeline runs it ("" is the main
// pipeline), for what works on a pipeline's environments outside an execution.
func (e *Engine) currentPlanOf(ctx context.Context, pipeline string) (*plan.Plan, error) {
	route, _, err := e.loadRoute()
	if err != nil {
		return nil, err
	}
	if pipeline == "" {
		return plan.Compile(route), nil
	}
	return e.planOf(ctx, route, pipeline)
}

// BranchPushed tells the engine that branch's head is now rev (a push, or a branch created):
// source.branch runs its main pipeline; a branch a rule of the pipelines section matches gets
// its pipeline, created if new, and an execution of rev; a revision that has an execution in
// that pipeline already is not run again (its execution is returned). Any other branch is
// left alone: nil pipeline, nil error.
func (e *Engine) BranchPushed(ctx context.Context, branch, rev string) (Triggered, error) {
	here, _, err := e.loadRoute()
	if err != nil {
		return Triggered{}, err
	}
	var pl sluice.Pipeline
	switch {
	case branch == here.Source.Branch:
		pl = MainPipeline(here)
	case here.Pipelines.MatchBranch(branch) != nil:
		pl = sluice.BranchPipeline(here.Name, branch)
	default:
		return Triggered{}, nil
	}
	return e.runIn(ctx, &pl, here, rev, branch)
}

// BranchDeleted removes the pipeline of branch, if it has one that is active (see
// RemovePipeline). The main pipeline is never removed: nil pipeline, nil error.
func (e *Engine) BranchDeleted(ctx context.Context, branch string) (*sluice.Pipeline, error) {
	here, _, err := e.loadRoute()
	if err != nil {
		return nil, err
	}
	if branch == here.Source.Branch {
		return nil, nil
	}
	pl, err := e.store.Pipeline(ctx, sluice.PipelineID(here.Name, sluice.KindBranch, branch, 0))
	if sluice.ErrorCode(err) == sluice.ENOTFOUND || (err == nil && pl.State.Removed()) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.RemovePipeline(ctx, pl.ID, "branch "+branch+" was deleted")
}

// PullRequestUpdated tells the engine that pull request number (head branch branch, which may
// be empty) was opened, reopened or pushed to, and its head is rev: its pipeline is created if
// new, its time to live starts again, and rev runs unless it ran there already. A route
// without pull_requests leaves pull requests alone: nil pipeline, nil error.
func (e *Engine) PullRequestUpdated(ctx context.Context, number int, branch, rev string) (Triggered, error) {
	if number <= 0 {
		return Triggered{}, sluice.Errorf(sluice.EINVALID, "pull request number %d; it must be positive", number)
	}
	here, _, err := e.loadRoute()
	if err != nil {
		return Triggered{}, err
	}
	prs := here.Pipelines.PullRequests
	if !prs.Enabled {
		return Triggered{}, nil
	}
	pl := sluice.PullRequestPipeline(here.Name, number, branch)
	if prs.Ephemeral.From != "" {
		pl.ExpiresAt = e.now().UTC().Add(prs.Ephemeral.TTL)
	}
	return e.runIn(ctx, &pl, here, rev, branch)
}

// PullRequestClosed removes the pipeline of pull request number (closed or merged), if it has
// an active one.
func (e *Engine) PullRequestClosed(ctx context.Context, number int, why string) (*sluice.Pipeline, error) {
	here, _, err := e.loadRoute()
	if err != nil {
		return nil, err
	}
	pl, err := e.store.Pipeline(ctx, sluice.PipelineID(here.Name, sluice.KindPullRequest, "", number))
	if sluice.ErrorCode(err) == sluice.ENOTFOUND || (err == nil && pl.State.Removed()) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.RemovePipeline(ctx, pl.ID, fmt.Sprintf("pull request #%d was %s", number, why))
}

// runIn records pl (active; with pl.ExpiresAt as its new expiry) and runs rev in it, unless
// rev has an execution there already. A revision the repository does not have is looked
// for as fallback (the branch's head) before giving up.
func (e *Engine) runIn(ctx context.Context, pl *sluice.Pipeline, here *spec.Route, rev, fallback string) (Triggered, error) {
	t := Triggered{Pipeline: pl}
	if rev == "" {
		rev = fallback
	}
	sha, err := e.resolveRev(ctx, here, rev)
	if err != nil && fallback != "" && fallback != rev {
		sha, err = e.resolveRev(ctx, here, fallback)
	}
	if err != nil {
		return t, err
	}
	route, text, err := e.routeAt(ctx, here, sha)
	if err != nil {
		return t, err
	}
	if err := e.ensurePipeline(ctx, *pl); err != nil {
		return t, err
	}
	stored, err := e.store.Pipeline(ctx, pl.ID)
	if err != nil {
		return t, fmt.Errorf("read pipeline %s: %w", pl.ID, err)
	}
	if !pl.ExpiresAt.Equal(stored.ExpiresAt) {
		stored.ExpiresAt = pl.ExpiresAt
		if err := e.store.SavePipeline(ctx, stored); err != nil {
			return t, fmt.Errorf("record the expiry of pipeline %s: %w", pl.ID, err)
		}
	}
	*pl = *stored
	t.Execution, t.Existing, err = e.startIn(ctx, *stored, route, text, sha, false)
	return t, err
}

// RemovePipeline removes a branch or pull-request pipeline, for the reason because: it is
// recorded removed first (so a restart finishes the job), then its executions that have not
// ended are stopped (which discards the change sets they prepared and did not apply), then its
// environments are torn down by their providers (processes stopped and addresses freed
// locally; stacks deleted on AWS). Its history stays, marked removed. Nothing of another
// pipeline is touched. Removing a removed pipeline again finishes what a crash may have left
// undone and changes nothing else. The main pipeline cannot be removed (EINVALID).
func (e *Engine) RemovePipeline(ctx context.Context, id, because string) (*sluice.Pipeline, error) {
	pl, err := e.store.Pipeline(ctx, id)
	if err != nil {
		return nil, err
	}
	if pl.Kind == sluice.KindMain {
		return nil, sluice.Errorf(sluice.EINVALID, "%s is a main pipeline, which follows source.branch; change source.branch in sluice.yaml instead of removing it", id)
	}
	if !pl.State.Removed() {
		pl.State, pl.RemovedAt, pl.RemovedBecause = sluice.PipelineRemoved, e.now().UTC(), because
		ev := sluice.PipelineRemovedEvent(pl, e.now())
		if err := e.store.SavePipeline(ctx, pl, ev); err != nil {
			return nil, fmt.Errorf("record pipeline %s removed: %w", id, err)
		}
		e.bus.publish(ev)
		e.log.Info("pipeline removed", "pipeline", id, "because", because)
	}
	var errs []error
	active, err := e.store.ListExecutions(ctx, id, true, 0)
	if err != nil {
		return pl, fmt.Errorf("list executions of %s: %w", id, err)
	}
	for _, ex := range active {
		if _, err := e.Stop(ctx, ex.ID, "sluice"); err != nil && sluice.ErrorCode(err) != sluice.ECONFLICT {
			errs = append(errs, fmt.Errorf("stop execution %s: %w", ex.ID, err))
		}
	}
	errs = append(errs, e.teardown(ctx, pl))
	return pl, errors.Join(errs...)
}

// teardown asks the providers to tear down every environment pl has a state of, each as the
// route that deployed what it runs describes it (see livePlan).
func (e *Engine) teardown(ctx context.Context, pl *sluice.Pipeline) error {
	states, err := e.store.ListEnvironments(ctx, pl.ID)
	if err != nil {
		return fmt.Errorf("list environments of %s: %w", pl.ID, err)
	}
	var errs []error
	for i := range states {
		state := &states[i]
		p, err := e.livePlan(ctx, state)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		envSpec := p.Environment(state.Name)
		if envSpec == nil {
			e.log.Warn("environment of a removed pipeline is no longer in the route; not torn down", "pipeline", pl.ID, "environment", state.Name)
			continue
		}
		provider, err := e.provider(envSpec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		where := target(p, pl.ID, envSpec, state)
		if err := provider.Teardown(ctx, where); err != nil {
			errs = append(errs, fmt.Errorf("tear down %s: %w", where.Name, err))
			continue
		}
		e.problems.Delete(where.Name)
		e.log.Info("environment torn down", "pipeline", pl.ID, "environment", state.Name)
	}
	return errors.Join(errs...)
}

// ExpirePipelines removes every active pipeline whose time to live has run out, and returns
// them.
func (e *Engine) ExpirePipelines(ctx context.Context) ([]sluice.Pipeline, error) {
	list, err := e.store.ListPipelines(ctx)
	if err != nil {
		return nil, err
	}
	now := e.now()
	var removed []sluice.Pipeline
	var errs []error
	for _, pl := range list {
		if !pl.Expired(now) {
			continue
		}
		got, err := e.RemovePipeline(ctx, pl.ID, fmt.Sprintf("its time to live ran out at %s (no push since)", pl.ExpiresAt.Format(time.RFC3339)))
		if err != nil {
			errs = append(errs, err)
		}
		if got != nil {
			removed = append(removed, *got)
		}
	}
	return removed, errors.Join(errs...)
}

// SyncBranches brings the branch pipelines in line with heads, every branch of the source
// repository and its commit (as a poller lists them): each branch is told pushed (see
// BranchPushed; a head that ran already runs nothing, and is returned Existing), and each
// active branch pipeline whose branch is gone is removed. It returns what each pushed branch
// with a pipeline did, and the pipelines it removed.
func (e *Engine) SyncBranches(ctx context.Context, heads map[string]string) (triggered []Triggered, removed []sluice.Pipeline, err error) {
	var errs []error
	for branch, sha := range heads {
		t, err := e.BranchPushed(ctx, branch, sha)
		if err != nil {
			errs = append(errs, fmt.Errorf("branch %s: %w", branch, err))
			continue
		}
		if t.Execution != nil {
			triggered = append(triggered, t)
		}
	}
	list, err := e.store.ListPipelines(ctx)
	if err != nil {
		return triggered, nil, err
	}
	here, _, err := e.loadRoute()
	if err != nil {
		return triggered, nil, err
	}
	for _, pl := range list {
		if pl.Kind != sluice.KindBranch || pl.Route != here.Name || pl.State.Removed() {
			continue
		}
		if _, ok := heads[pl.Branch]; ok {
			continue
		}
		got, err := e.RemovePipeline(ctx, pl.ID, "branch "+pl.Branch+" is gone from the repository")
		if err != nil {
			errs = append(errs, err)
		}
		if got != nil {
			removed = append(removed, *got)
		}
	}
	return triggered, removed, errors.Join(errs...)
}

// Branches returns the branches of the source repository with their heads, for polling.
func (e *Engine) Branches(ctx context.Context) (map[string]string, error) {
	here, _, err := e.loadRoute()
	if err != nil {
		return nil, err
	}
	return e.cfg.Source.Branches(ctx, RepoPath(e.cfg.RouteFile, here.Source.Repo))
}

// stopRemoved stops the executions of active whose pipeline was removed (an engine stopped
// between recording a removal and stopping them), finishes the removal's teardown, and returns
// the others.
func (e *Engine) stopRemoved(ctx context.Context, active []sluice.Execution) []sluice.Execution {
	out := active[:0]
	removed := map[string]bool{}
	for _, ex := range active {
		pl, err := e.store.Pipeline(ctx, ex.Pipeline)
		if err != nil || !pl.State.Removed() {
			out = append(out, ex)
			continue
		}
		if _, err := Stop(ctx, e.store, ex.ID, "sluice", e.now(), nil); err != nil {
			e.log.Warn("stop an execution of a removed pipeline", "execution", ex.ID, "err", err)
		}
		if !removed[pl.ID] {
			removed[pl.ID] = true
			if err := e.teardown(ctx, pl); err != nil {
				e.log.Warn("tear down a removed pipeline's environments", "pipeline", pl.ID, "err", err)
			}
		}
	}
	return out
}

// RunIn starts a new execution of rev in the pipeline people call name (see ResolvePipeline),
// even if the revision ran there before; an empty rev is the head of the pipeline's branch. A
// removed pipeline is refused: its branch or pull request is gone.
func (e *Engine) RunIn(ctx context.Context, name, rev string) (*sluice.Execution, error) {
	id, err := e.ResolvePipeline(ctx, name)
	if err != nil {
		return nil, err
	}
	pl, err := e.store.Pipeline(ctx, id)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return e.Run(ctx, rev) // the main pipeline before its first execution
	}
	if err != nil {
		return nil, err
	}
	if pl.State.Removed() {
		return nil, sluice.Errorf(sluice.ECONFLICT, "pipeline %s was removed (%s); it runs again when its branch or pull request comes back", id, pl.RemovedBecause)
	}
	here, _, err := e.loadRoute()
	if err != nil {
		return nil, err
	}
	if rev == "" {
		rev = pl.Branch
	}
	sha, err := e.resolveRev(ctx, here, rev)
	if err != nil {
		return nil, err
	}
	route, text, err := e.routeAt(ctx, here, sha)
	if err != nil {
		return nil, err
	}
	ex, _, err := e.startIn(ctx, *pl, route, text, sha, true)
	return ex, err
}
