package engine

import (
	"context"
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

// Status returns the newest executions and every environment of the main pipeline, in the
// route's order (environments the store knows of, if the route file cannot be read).
func (e *Engine) Status(ctx context.Context) (*Status, error) {
	exs, err := e.store.ListExecutions(ctx, "", false, statusExecutions)
	if err != nil {
		return nil, err
	}
	var names []string
	if p, err := e.currentPlan(); err == nil {
		for _, env := range p.Environments {
			names = append(names, env.Name)
		}
	}
	snaps := e.Snapshots()
	if snaps.Pipeline == "" {
		snaps.Pipeline = e.storedMainPipeline(ctx)
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

// History returns the deployments and approvals of env in the main pipeline, newest first.
func (e *Engine) History(ctx context.Context, env string) (*History, error) {
	pipeline := e.mainOrStored(ctx)
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
