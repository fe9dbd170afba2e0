package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
)

// service is what every command that reads a route's state or acts in it asks, whoever
// answers: the engine serving the state, over its API, or an engine in this process. Commands
// are written once against it, and never read the store, the logs or a provider's folders
// behind a serving engine's back.
type service interface {
	Status(ctx context.Context, pipeline string) (*engine.Status, error)
	History(ctx context.Context, pipeline, env string) (*engine.History, error)
	PendingChangeSet(ctx context.Context, env string) (*sluice.ChangeSet, error)
	ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error)
	Pipelines(ctx context.Context) ([]engine.PipelineView, error)
	Deliveries(ctx context.Context, limit int) ([]sluice.Delivery, error)
	Executions(ctx context.Context, prefix string, limit int) ([]sluice.Execution, error)
	Execution(ctx context.Context, id string) (*engine.Snapshot, error)
	Logs(ctx context.Context, q engine.LogQuery) (*engine.LogPage, error)
	VersionLog(ctx context.Context, q engine.VersionLogQuery) (*engine.VersionLogPage, error)
	Decide(ctx context.Context, d engine.Decision) (*sluice.Approval, error)
	Stop(ctx context.Context, id, user string) (*sluice.Execution, error)
	Freeze(ctx context.Context, pipeline, env string, frozen bool, reason string) error
	// What only an engine that drives executions and deploys can do.
	Run(ctx context.Context, rev string) (*sluice.Execution, error)
	RunOrResume(ctx context.Context, rev string) (*sluice.Execution, bool, error)
	RunIn(ctx context.Context, pipeline, rev string) (*sluice.Execution, error)
	Retry(ctx context.Context, id string) (*sluice.Execution, error)
	Rollback(ctx context.Context, pipeline, env, user, comment string) (*sluice.Deployment, error)
}

var (
	_ service = (*engine.Engine)(nil)
	_ service = (*api.Client)(nil)
)

// need says what a command needs of the engine that answers it when none serves the state.
type need int

const (
	// reads: an engine opened here that drives nothing; it reads and records in the store, and
	// asks providers only what they keep (a version's output). The state must exist.
	reads need = iota
	// records: as reads, and the state is created where there is none (freeze before any run).
	records
	// drives: an engine started here, as sluice run starts one: it restores the environments,
	// resumes executions, serves the API while the command runs, and deploys.
	drives
)

// withService runs fn on the engine serving the state in f, through its API, or when none
// serves it, on an engine in this process as n says. serving says which.
func withService(e *env, f *flags, n need, fn func(svc service, serving bool) error) error {
	var dir string
	var err error
	if n == records {
		dir, err = stateDir(f)
	} else {
		dir, err = existingState(f)
	}
	if err != nil {
		return err
	}
	if client := runningEngine(e.ctx, dir); client != nil {
		return fn(client, true)
	}
	if n == drives {
		inst, err := startEngine(e.ctx, e, *f.file, dir, serveOptions{}, nil)
		if err != nil {
			return err
		}
		defer inst.close()
		return fn(inst.engine, false)
	}
	en, closeEngine, err := readingEngine(dir, *f.file)
	if err != nil {
		return err
	}
	defer closeEngine()
	return fn(en, false)
}

// readingEngine opens an engine on the state in dir that is never started: it drives nothing,
// restores no environment and takes no lock, so it may run beside an engine that starts
// meanwhile (the store serializes writes).
func readingEngine(dir, routeFile string) (*engine.Engine, func(), error) {
	db, err := openStore(dir)
	if err != nil {
		return nil, nil, err
	}
	artifacts, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open artifact store: %w", err)
	}
	providers, err := deploy.Open(deploy.Host{StateDir: dir, Artifacts: artifacts})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	route, err := filepath.Abs(routeFile)
	if err == nil {
		var en *engine.Engine
		en, err = engine.New(engine.Config{
			Source: git.Source{}, RouteFile: route, StateDir: dir, Store: db, Artifacts: artifacts, Providers: providers,
		})
		if err == nil {
			return en, func() { _ = en.Close(); db.Close() }, nil
		}
	}
	for _, p := range providers {
		_ = p.Close()
	}
	db.Close()
	return nil, nil, err
}
