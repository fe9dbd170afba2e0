package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
)

// service is what the commands that read a route's state or decide in it ask, whoever answers:
// the engine serving the state, over its API, or an engine opened here on the state. Commands
// are written once against it, and never read the store behind a serving engine's back.
type service interface {
	Status(ctx context.Context) (*engine.Status, error)
	History(ctx context.Context, env string) (*engine.History, error)
	PendingChangeSet(ctx context.Context, env string) (*sluice.ChangeSet, error)
	Execution(ctx context.Context, id string) (*engine.Snapshot, error)
	Decide(ctx context.Context, d engine.Decision) (*sluice.Approval, error)
	Stop(ctx context.Context, id, user string) (*sluice.Execution, error)
}

var (
	_ service = (*engine.Engine)(nil)
	_ service = (*api.Client)(nil)
)

// withService runs fn on the engine serving the state in f, through its API, or when none
// serves it, on an engine opened here that drives nothing: it reads and records in the store,
// and neither starts nor asks any environment. serving says which.
func withService(e *env, f *flags, fn func(svc service, serving bool) error) error {
	dir, err := existingState(f)
	if err != nil {
		return err
	}
	if client := runningEngine(e.ctx, dir); client != nil {
		return fn(client, true)
	}
	db, err := openStore(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	artifacts, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		return fmt.Errorf("open artifact store: %w", err)
	}
	route, err := filepath.Abs(*f.file)
	if err != nil {
		return err
	}
	en, err := engine.New(engine.Config{
		Source: git.Source{}, RouteFile: route, StateDir: dir, Store: db, Artifacts: artifacts,
	})
	if err != nil {
		return err
	}
	return fn(en, false)
}
