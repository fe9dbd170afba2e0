package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// One engine serves every pipeline of its route: the main pipeline (source.branch) and copies of
// the route for other branches. Everything it keeps is keyed by the pipeline (see store), and a
// pipeline's environment is known to providers by its instance name, so a branch's dev never
// replaces the main pipeline's dev. What takes no pipeline works on the main one.

// MainPipeline returns the main pipeline of route: the one that follows source.branch.
func MainPipeline(route *spec.Route) sluice.Pipeline {
	return sluice.MainPipeline(route.Name, route.Source.Branch)
}

// mainOf returns the main pipeline of the route p was compiled from.
func mainOf(p *plan.Plan) sluice.Pipeline {
	return sluice.MainPipeline(p.Name, p.Source.Branch)
}

// pipelineFor returns route's pipeline for branch: the main pipeline for source.branch (or an
// empty branch), a branch pipeline for any other.
func pipelineFor(route *spec.Route, branch string) sluice.Pipeline {
	if branch == "" || branch == route.Source.Branch {
		return MainPipeline(route)
	}
	return sluice.Pipeline{
		ID: sluice.PipelineID(route.Name, sluice.KindBranch, branch, 0), Route: route.Name,
		Kind: sluice.KindBranch, Branch: branch, State: sluice.PipelineActive,
	}
}

// mainPipeline returns the ID of the main pipeline of the route file as it is now.
func (e *Engine) mainPipeline() (string, error) {
	p, err := e.currentPlan()
	if err != nil {
		return "", err
	}
	return mainOf(p).ID, nil
}

// orMain returns pipeline, or when it is empty the main pipeline's ID: the route file's, or
// while the file cannot be read the one the store knows (see mainOrStored).
func (e *Engine) orMain(ctx context.Context, pipeline string) (string, error) {
	if pipeline != "" {
		return pipeline, nil
	}
	if id := e.mainOrStored(ctx); id != "" {
		return id, nil
	}
	return e.mainPipeline() // nothing stored either: say why the file cannot be read
}

// instanceName is the name providers know pipeline's environment env by: the environment's own
// name in the main pipeline of route (so what served before pipelines existed keeps serving),
// "<env>@<branch slug>" in any other. Environment names cannot hold '@', so no two collide.
func instanceName(p *plan.Plan, pipeline, env string) string {
	return instanceIn(mainOf(p).ID, pipeline, env)
}

// instanceIn is instanceName for the route whose main pipeline is main.
func instanceIn(main, pipeline, env string) string {
	if pipeline == "" || pipeline == main {
		return env
	}
	_, ref, _ := strings.Cut(pipeline, "@")
	return env + "@" + ref
}

// instanceOf is instanceName the other way: the pipeline and environment a provider's instance
// name stands for. The main pipeline is the one the store knows, so that an event told while
// the route file is being edited still names it.
func (e *Engine) instanceOf(ctx context.Context, instance string) (pipeline, env string) {
	main := e.mainOrStored(ctx)
	env, ref, branch := strings.Cut(instance, "@")
	if !branch {
		return main, env
	}
	route, _, _ := strings.Cut(main, "@")
	return route + "@" + ref, env
}

// ensurePipeline records p unless the store has it; a removed pipeline that runs again is
// active again.
func (e *Engine) ensurePipeline(ctx context.Context, p sluice.Pipeline) error {
	stored, err := e.store.Pipeline(ctx, p.ID)
	switch {
	case err == nil && !stored.State.Removed():
		return nil
	case err == nil:
		stored.State, stored.RemovedAt = sluice.PipelineActive, time.Time{}
		p = *stored
	case sluice.ErrorCode(err) != sluice.ENOTFOUND:
		return fmt.Errorf("read pipeline %s: %w", p.ID, err)
	default:
		p.CreatedAt = e.now().UTC()
	}
	if err := e.store.SavePipeline(ctx, &p); err != nil {
		return fmt.Errorf("record pipeline %s: %w", p.ID, err)
	}
	return nil
}

// RunBranch starts a new execution of the route's pipeline for branch, for rev (empty: the
// head of branch), like Run. An empty branch, or source.branch, is the main pipeline; another
// branch gets a pipeline of its own on its first run, with environments of its own.
func (e *Engine) RunBranch(ctx context.Context, branch, rev string) (*sluice.Execution, error) {
	if rev == "" {
		rev = branch // and when both are empty, resolve takes source.branch
	}
	route, text, sha, err := e.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	ex, _, err := e.startIn(ctx, pipelineFor(route, branch), route, text, sha, true)
	return ex, err
}

// Pipelines returns every pipeline of the store, main pipelines first.
func (e *Engine) Pipelines(ctx context.Context) ([]sluice.Pipeline, error) {
	return e.store.ListPipelines(ctx)
}
