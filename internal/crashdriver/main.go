// Command crashdriver runs one execution of a route through the engine, resuming it if the
// state already holds one, so that tests can kill it at any moment and start it again.
//
// Usage: crashdriver -f sluice.yaml -state DIR -trace FILE
//
// It deploys through a stand-in provider that appends "deploy <environment>" to the trace file,
// and exits 0 once the execution has ended, printing its status.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
	"github.com/sluicehq/sluice/sqlite"
)

func main() {
	routeFile := flag.String("f", "sluice.yaml", "route file")
	state := flag.String("state", "", "state directory")
	trace := flag.String("trace", "", "file the provider appends its deployments to")
	flag.Parse()
	if err := run(*routeFile, *state, *trace); err != nil {
		fmt.Fprintln(os.Stderr, "crashdriver:", err)
		os.Exit(1)
	}
}

func run(routeFile, state, trace string) error {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(state, "state.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	artifacts, err := artifact.Open(filepath.Join(state, "artifacts"))
	if err != nil {
		return err
	}
	e, err := engine.New(engine.Config{
		Source:    git.Source{},
		RouteFile: routeFile, StateDir: state, Store: db, Artifacts: artifacts,
		Providers: map[string]deploy.Provider{"local": &provider{trace: trace}}, ApprovalPoll: 20 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Start(ctx); err != nil {
		return err
	}
	all, err := db.ListExecutions(ctx, "", false, 1)
	if err != nil {
		return err
	}
	var id string
	if len(all) > 0 {
		id = all[0].ID // the newest: Start resumed it if it had not ended
	} else {
		ex, err := e.Run(ctx, "")
		if err != nil {
			return err
		}
		id = ex.ID
	}
	ex, err := e.Wait(ctx, id)
	if err != nil {
		return err
	}
	fmt.Println(ex.ID, ex.Status, ex.Error)
	return nil
}

// provider records deployments in a file and takes a moment over each, so a kill can land
// inside one.
type provider struct {
	trace string
	mu    sync.Mutex
}

func (p *provider) Address(context.Context, deploy.Environment) (string, error) {
	return "http://127.0.0.1:1", nil
}

func (p *provider) Prepare(_ context.Context, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error) {
	cs := deploy.Diff(env.Name, live, to)
	return &cs, nil
}

func (p *provider) Teardown(context.Context, deploy.Environment) error { return nil }

func (p *provider) Discard(context.Context, deploy.Environment, *sluice.ChangeSet) error {
	return nil
}

func (p *provider) Apply(ctx context.Context, req deploy.Request) (deploy.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.trace, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return deploy.Result{}, err
	}
	_, err = fmt.Fprintf(f, "%s/ExecuteChangeSet\n", req.Environment.Name)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return deploy.Result{}, err
	}
	select {
	case <-time.After(150 * time.Millisecond):
	case <-ctx.Done():
		return deploy.Result{Status: sluice.StatusRolledBack, Reason: "canceled"}, ctx.Err()
	}
	return deploy.Result{Status: sluice.StatusSucceeded}, nil
}

func (p *provider) Restore(context.Context, deploy.Environment, *sluice.Version, map[string]string) error {
	return nil
}
func (p *provider) Status(context.Context, deploy.Environment) (*deploy.EnvironmentStatus, error) {
	return nil, nil
}
func (p *provider) Close() error { return nil }
