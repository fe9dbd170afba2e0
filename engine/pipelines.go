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

// ensurePipeline records p unless the store has it active; a removed pipeline that runs again
// (its branch was created again) is active again. Either is told as sluice.pipeline.created.
func (e *Engine) ensurePipeline(ctx context.Context, p sluice.Pipeline) error {
	stored, err := e.store.Pipeline(ctx, p.ID)
	switch {
	case err == nil && !stored.State.Removed():
		return nil
	case err == nil:
		stored.State, stored.RemovedAt, stored.RemovedBecause = sluice.PipelineActive, time.Time{}, ""
		p = *stored
	case sluice.ErrorCode(err) != sluice.ENOTFOUND:
		return fmt.Errorf("read pipeline %s: %w", p.ID, err)
	default:
		p.CreatedAt = e.now().UTC()
	}
	ev := sluice.PipelineCreatedEvent(&p, e.now())
	if err := e.store.SavePipeline(ctx, &p, ev); err != nil {
		return fmt.Errorf("record pipeline %s: %w", p.ID, err)
	}
	e.bus.publish(ev)
	if p.Kind != sluice.KindMain {
		e.log.Info("pipeline created", "pipeline", p.ID, "follows", p.Describe())
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

// PipelineView is a pipeline with its newest execution and its environments, for people.
type PipelineView struct {
	sluice.Pipeline
	// LastExecution is its newest execution; nil before its first.
	LastExecution *LastExecution `json:"last_execution,omitempty"`
	// Environments are its own environments, by name.
	Environments []PipelineEnvironment `json:"environments"`
}

// LastExecution names a pipeline's newest execution.
type LastExecution struct {
	ID       string        `json:"id"`
	Status   sluice.Status `json:"status"`
	Revision string        `json:"revision"`
}

// PipelineEnvironment is an environment of a pipeline: where it serves (served, for a removed
// pipeline) and the revision live there.
type PipelineEnvironment struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Live    string `json:"live,omitempty"`
}

// Pipelines returns every pipeline of the store, main pipelines first, with its newest
// execution and its environments.
func (e *Engine) Pipelines(ctx context.Context) ([]PipelineView, error) {
	list, err := e.store.ListPipelines(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PipelineView, 0, len(list))
	for _, p := range list {
		v := PipelineView{Pipeline: p, Environments: []PipelineEnvironment{}}
		exs, err := e.store.ListExecutions(ctx, p.ID, false, 1)
		if err != nil {
			return nil, err
		}
		if len(exs) > 0 {
			v.LastExecution = &LastExecution{ID: exs[0].ID, Status: exs[0].Status, Revision: exs[0].Revision}
		}
		envs, err := e.store.ListEnvironments(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, env := range envs {
			pe := PipelineEnvironment{Name: env.Name, Address: env.Address}
			if env.Live != nil {
				pe.Live = env.Live.Revision
			}
			v.Environments = append(v.Environments, pe)
		}
		out = append(out, v)
	}
	return out, nil
}

// Deliveries returns the notification outbox's deliveries, newest first, at most limit (<= 0:
// all).
func (e *Engine) Deliveries(ctx context.Context, limit int) ([]sluice.Delivery, error) {
	return e.store.ListDeliveries(ctx, limit)
}
