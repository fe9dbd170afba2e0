package engine

import (
	"context"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
)

// What people ask of a route's state — status, history, the change set waiting, a decision, a
// stop — has one form whether the engine answers in this process or over the API (the API
// client has the same methods), so that commands are written once. An Engine that was never
// started answers too: it reads and records in the store, and drives nothing.

// Status is the newest executions of every pipeline and the environments of the main pipeline.
type Status struct {
	Executions   []sluice.Execution `json:"executions"`
	Environments []EnvironmentView  `json:"environments"`
}

// History is what happened in an environment of the main pipeline: its deployments and
// approvals, newest first.
type History struct {
	Environment string              `json:"environment"`
	Deployments []sluice.Deployment `json:"deployments"`
	Approvals   []sluice.Approval   `json:"approvals"`
}

// statusExecutions is how many executions Status lists.
const statusExecutions = 20

// Status returns the newest executions (of every pipeline; of pipeline alone when it is named)
// and every environment of pipeline ("": the main pipeline; see ResolvePipeline for the names
// it takes), in the route's order (environments the store knows of, if the route file cannot
// be read).
func (e *Engine) Status(ctx context.Context, pipeline string) (*Status, error) {
	id, err := e.ResolvePipeline(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	listed := ""
	if pipeline != "" {
		listed = id
	}
	exs, err := e.store.ListExecutions(ctx, listed, false, statusExecutions)
	if err != nil {
		return nil, err
	}
	var names []string
	if p, err := e.currentPlanOf(ctx, listed); err == nil {
		for _, env := range p.Environments {
			names = append(names, env.Name)
		}
	}
	snaps := e.Snapshots()
	if snaps.Pipeline == "" {
		snaps.Pipeline = e.storedMainPipeline(ctx)
	}
	if listed != "" {
		snaps.Pipeline = listed
	}
	envs, err := snaps.Environments(ctx, names)
	if err != nil {
		return nil, err
	}
	if exs == nil {
		exs = []sluice.Execution{}
	}
	return &Status{Executions: exs, Environments: envs}, nil
}

// History returns the deployments and approvals of env in pipeline ("": the main one), newest
// first.
func (e *Engine) History(ctx context.Context, pipeline, env string) (*History, error) {
	pipeline, err := e.ResolvePipeline(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	ds, err := e.store.ListDeployments(ctx, pipeline, env, 0)
	if err != nil {
		return nil, err
	}
	as, err := e.store.ListApprovals(ctx, pipeline, env, false)
	if err != nil {
		return nil, err
	}
	h := &History{Environment: env, Deployments: ds, Approvals: as}
	if h.Deployments == nil {
		h.Deployments = []sluice.Deployment{}
	}
	if h.Approvals == nil {
		h.Approvals = []sluice.Approval{}
	}
	return h, nil
}

// PendingChangeSet returns the change set waiting for approval in env of the main pipeline;
// ENOTFOUND when none waits.
func (e *Engine) PendingChangeSet(ctx context.Context, env string) (*sluice.ChangeSet, error) {
	as, err := e.store.ListApprovals(ctx, e.mainOrStored(ctx), env, true)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no change set is waiting for approval in %s", env)
	}
	return e.store.ChangeSet(ctx, as[0].ChangeSetDigest)
}

// ResolvePipeline returns the ID of the pipeline people call name: "" or "main" is the main
// pipeline; otherwise a pipeline ID (hello-api@pr-7), a branch name (release/1.0), a branch
// slug or pull request's ref (pr-7), or a pull request's number (7 or #7), of a pipeline the
// store knows. ENOTFOUND names the pipelines there are.
func (e *Engine) ResolvePipeline(ctx context.Context, name string) (string, error) {
	main := e.mainOrStored(ctx)
	if name == "" || name == "main" {
		return main, nil
	}
	list, err := e.store.ListPipelines(ctx)
	if err != nil {
		return "", err
	}
	route, _, _ := strings.Cut(main, "@")
	number := strings.TrimPrefix(name, "#")
	candidates := []string{name, route + "@" + name, route + "@" + sluice.BranchSlug(name), route + "@pr-" + number}
	var known []string
	for _, p := range list {
		if slices.Contains(candidates, p.ID) || (p.Kind != sluice.KindPullRequest && p.Branch == name && p.Route == route) {
			return p.ID, nil
		}
		known = append(known, p.ID)
	}
	return "", sluice.Errorf(sluice.ENOTFOUND, "no pipeline is called %q; pipelines: %s (sluice pipelines lists them)", name, strings.Join(known, ", "))
}

// mainOrStored is the main pipeline of the route file, or when the file cannot be read the
// active main pipeline the store knows of, so that the state can be read while the file is
// being fixed.
func (e *Engine) mainOrStored(ctx context.Context) string {
	if id, err := e.mainPipeline(); err == nil {
		return id
	}
	return e.storedMainPipeline(ctx)
}

// storedMainPipeline is the active main pipeline the store knows of, or "".
func (e *Engine) storedMainPipeline(ctx context.Context) string {
	return StoredMainPipeline(ctx, e.store)
}

// StoredMainPipeline returns the active main pipeline st knows of, or "", for reading the state
// of a route whose file cannot be read.
func StoredMainPipeline(ctx context.Context, st interface {
	ListPipelines(context.Context) ([]sluice.Pipeline, error)
}) string {
	list, err := st.ListPipelines(ctx)
	if err != nil {
		return ""
	}
	for _, p := range list {
		if p.Kind == sluice.KindMain && !p.State.Removed() {
			return p.ID
		}
	}
	return ""
}

// Execution returns a snapshot of one execution: its stages, actions and environments.
func (e *Engine) Execution(ctx context.Context, id string) (*Snapshot, error) {
	return e.Snapshots().Execution(ctx, id)
}

// Executions returns the executions of every pipeline whose ID begins with prefix (every one
// if ""), newest first, at most limit (all if limit <= 0): for finding an execution by the
// prefix of its ID that people type.
func (e *Engine) Executions(ctx context.Context, prefix string, limit int) ([]sluice.Execution, error) {
	prefix = strings.ToLower(prefix)
	if prefix == "" {
		return e.store.ListExecutions(ctx, "", false, limit)
	}
	all, err := e.store.ListExecutions(ctx, "", false, 0)
	if err != nil {
		return nil, err
	}
	var out []sluice.Execution
	for _, ex := range all {
		if strings.HasPrefix(ex.ID, prefix) {
			out = append(out, ex)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// ChangeSet returns a change set by its digest.
func (e *Engine) ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error) {
	return e.store.ChangeSet(ctx, digest)
}
