// Package trigger starts, and removes, pipelines' executions when the source changes: a Poller
// looks at the source repository's branches at an interval; Webhooks receives the git hosts'
// deliveries (pushes, branches created and deleted, pull requests). Both end in the same
// engine methods (BranchPushed, BranchDeleted, SyncBranches, PullRequestUpdated,
// PullRequestClosed), which are idempotent: a push seen by both runs once.
//
// A trigger never decides whether a revision runs twice: a head that has an execution in its
// pipeline already (a `sluice run` of the same commit got there first) is followed, not run
// again.
package trigger

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// Runner is what the Poller works on; *engine.Engine implements it. Every method is safe to
// call concurrently.
type Runner interface {
	// Branches returns every branch of the source repository with the commit at its head.
	Branches(ctx context.Context) (map[string]string, error)
	// SyncBranches runs each head in its branch's pipeline (source.branch's in the main one;
	// others where a rule of sluice.yaml matches them) unless it ran there already (Existing),
	// and removes the pipelines of branches that are gone.
	SyncBranches(ctx context.Context, heads map[string]string) (triggered []engine.Triggered, removed []sluice.Pipeline, err error)
	// ExpirePipelines removes the pipelines whose time to live ran out.
	ExpirePipelines(ctx context.Context) ([]sluice.Pipeline, error)
}

// Poller brings pipelines in line with the source repository's branches: each new head runs,
// each branch deleted has its pipeline removed; and it removes pipelines whose time to live ran
// out. It is the trigger where no webhook can reach, and a safety net where one can.
type Poller struct {
	Runner Runner
	// Every is the time between two looks at the branches. If zero, 5s.
	Every time.Duration
	// Log receives what the poller does and what fails. If nil, nothing is logged.
	Log *slog.Logger
}

// Run polls until ctx ends. The branches are synced on the first look and whenever their
// heads changed since the last look. A failure to list the branches or to sync one is logged
// and not retried until the heads change again: a new commit is what fixes a route that fails
// to start, and it is a new head.
func (p *Poller) Run(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var last map[string]string
	for {
		switch heads, err := p.Runner.Branches(ctx); {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("look for new commits", "err", err)
		case last == nil || !maps.Equal(heads, last):
			triggered, removed, err := p.Runner.SyncBranches(ctx, heads)
			if ctx.Err() != nil {
				return
			}
			for _, t := range triggered {
				ex := t.Execution
				if t.Existing {
					log.Info("new commit has an execution already", "pipeline", ex.Pipeline, "execution", ex.ID, "revision", sluice.ShortRevision(ex.Revision))
				} else {
					log.Info("new commit: execution started", "pipeline", ex.Pipeline, "execution", ex.ID, "revision", sluice.ShortRevision(ex.Revision))
				}
			}
			for _, pl := range removed {
				log.Info("pipeline removed", "pipeline", pl.ID, "because", pl.RemovedBecause)
			}
			if err != nil {
				log.Error("start executions for new commits", "err", err)
			}
			last = heads
		}
		switch removed, err := p.Runner.ExpirePipelines(ctx); {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error("remove expired pipelines", "err", err)
		default:
			for _, pl := range removed {
				log.Info("pipeline expired and removed", "pipeline", pl.ID)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
