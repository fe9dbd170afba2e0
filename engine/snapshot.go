package engine

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/store"
)

// Snapshot is an execution as people and scripts see it: the `sluice run --json` summary and
// the API's execution resource.
type Snapshot struct {
	Execution    *sluice.Execution        `json:"execution"`
	Stages       []sluice.StageExecution  `json:"stages"`
	Actions      []sluice.ActionExecution `json:"actions"`
	Environments []EnvironmentView        `json:"environments"`
}

// EnvironmentView is an environment as status displays show it.
type EnvironmentView struct {
	Name           string                    `json:"name"`
	Endpoint       string                    `json:"endpoint,omitempty"`
	Live           string                    `json:"live_digest,omitempty"`
	LiveRevision   string                    `json:"live_revision,omitempty"`
	Frozen         bool                      `json:"frozen,omitempty"`
	LastDeployment *sluice.Deployment        `json:"last_deployment,omitempty"`
	Pending        *sluice.Approval          `json:"pending_approval,omitempty"`
	Progress       *deploy.Progress          `json:"progress,omitempty"`
	Serving        *deploy.EnvironmentStatus `json:"serving,omitempty"`
	// Problem says why the environment does not serve as recorded (a failed restore); empty
	// when nothing is known to be wrong.
	Problem string `json:"problem,omitempty"`
}

// Snapshots reads executions and environments from a store. Engine fills in what only a running
// engine knows (traffic progress, what serves).
type Snapshots struct {
	Store store.Store
	// Pipeline is the ID of the pipeline whose environments Environments shows (an execution's
	// snapshot shows its own pipeline's).
	Pipeline string
	Progress func(pipeline, env string) (deploy.Progress, bool)
	Serving  func(ctx context.Context, pipeline, env string) *deploy.EnvironmentStatus
	Problem  func(pipeline, env string) string
	// Stalled says why the engine cannot record anything now (the disk is full), or "".
	Stalled func() string
}

// Execution returns the snapshot of one execution, with the environments of its route: the
// stages after Source, Build and Checks, which are named after them.
func (s Snapshots) Execution(ctx context.Context, id string) (*Snapshot, error) {
	ex, err := s.Store.Execution(ctx, id)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Execution: ex}
	if s.Stalled != nil && !ex.Status.Done() {
		if why := s.Stalled(); why != "" {
			ex.Waiting = why // known only in memory: the state cannot be written
		}
	}
	if snap.Stages, err = s.Store.Stages(ctx, id); err != nil {
		return nil, err
	}
	if snap.Actions, err = s.Store.Actions(ctx, id); err != nil {
		return nil, err
	}
	envs := []string{}
	for _, st := range snap.Stages {
		switch st.Stage {
		case plan.StageSource, plan.StageBuild, plan.StageChecks:
		default:
			envs = append(envs, st.Stage)
		}
	}
	s.Pipeline = ex.Pipeline
	if snap.Environments, err = s.Environments(ctx, envs); err != nil {
		return nil, err
	}
	return snap, nil
}

// Environments returns a view of each named environment of s.Pipeline (every known one if names
// is nil).
func (s Snapshots) Environments(ctx context.Context, names []string) ([]EnvironmentView, error) {
	states, err := s.Store.ListEnvironments(ctx, s.Pipeline)
	if err != nil {
		return nil, err
	}
	byName := map[string]sluice.EnvironmentState{}
	for _, st := range states {
		byName[st.Name] = st
		if names == nil {
			names = append(names, st.Name)
		}
	}
	waiting, err := s.Store.ListApprovals(ctx, s.Pipeline, "", true)
	if err != nil {
		return nil, err
	}
	views := []EnvironmentView{}
	for _, name := range names {
		v := EnvironmentView{Name: name}
		if st, ok := byName[name]; ok {
			v.Endpoint = st.URL()
			if st.Live != nil {
				v.Live, v.LiveRevision = st.Live.Artifact, st.Live.Revision
			}
			v.Frozen = st.Frozen
		}
		if ds, err := s.Store.ListDeployments(ctx, s.Pipeline, name, 1); err == nil && len(ds) > 0 {
			v.LastDeployment = &ds[0]
		}
		for i := range waiting {
			// An approval past its expiry is a rejection, even before anyone records it.
			if waiting[i].Environment == name && time.Now().Before(waiting[i].ExpiresAt) {
				v.Pending = &waiting[i]
				break
			}
		}
		if s.Progress != nil {
			if p, ok := s.Progress(s.Pipeline, name); ok {
				v.Progress = &p
			}
		}
		if s.Serving != nil {
			v.Serving = s.Serving(ctx, s.Pipeline, name)
		}
		if s.Problem != nil {
			v.Problem = s.Problem(s.Pipeline, name)
		}
		views = append(views, v)
	}
	return views, nil
}

// Snapshots returns the engine's view of its main pipeline (Pipeline picks another), with
// traffic progress and what serves.
func (e *Engine) Snapshots() Snapshots {
	main := e.mainOrStored(context.Background())
	return Snapshots{
		Store:    e.store,
		Pipeline: main,
		Progress: func(pipeline, env string) (deploy.Progress, bool) { return e.Progress(instanceIn(main, pipeline, env)) },
		Problem:  func(pipeline, env string) string { return e.Problem(instanceIn(main, pipeline, env)) },
		Stalled:  e.stalled,
		Serving:  e.serving,
	}
}

// serving asks the provider of pipeline's env what serves there, as the env's live revision's
// route names it. A provider that cannot tell is logged and skipped: status shows what the store
// knows all the same.
func (e *Engine) serving(ctx context.Context, pipeline, env string) *deploy.EnvironmentStatus {
	state, err := e.environmentState(ctx, pipeline, env)
	if err != nil {
		return nil
	}
	route, err := e.livePlan(ctx, state)
	if err != nil {
		return nil
	}
	envSpec := route.Environment(env)
	if envSpec == nil {
		return nil
	}
	p, err := e.provider(envSpec)
	if err != nil {
		return nil
	}
	st, err := p.Status(ctx, target(route, pipeline, envSpec, nil))
	if err != nil {
		e.log.Warn("ask what serves", "environment", env, "target", envSpec.Target, "err", err)
		return nil
	}
	return st
}
