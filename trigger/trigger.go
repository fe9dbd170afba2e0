// Package trigger starts executions when the source changes. Today that is a Poller, which
// looks at the head of the pipeline's branch at an interval; a webhook receiver is the next
// trigger, and starts executions through the same Runner.
//
// A trigger never decides whether a revision runs twice: it hands every new head to
// Runner.RunOrResume, which follows the execution a revision has already (a `sluice run` of the
// same commit got there first) rather than starting another.
package trigger

import (
	"context"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
)

// Runner is what triggers start executions on; *engine.Engine implements it. Both methods are
// safe to call concurrently.
type Runner interface {
	// Head returns the commit at the head of the main pipeline's branch (source.branch).
	Head(ctx context.Context) (string, error)
	// RunOrResume follows the execution of rev if it has one, and starts one otherwise.
	RunOrResume(ctx context.Context, rev string) (ex *sluice.Execution, existing bool, err error)
}

// Poller starts an execution for each new commit at the head of the branch.
type Poller struct {
	Runner Runner
	// Every is the time between two looks at the head. If zero, 5s.
	Every time.Duration
	// Last is the revision that ran last, which is not new. If empty, the first head seen runs.
	Last string
	// Log receives what the poller does and what fails. If nil, nothing is logged.
	Log *slog.Logger
}

// Run polls until ctx ends. A failure to read the head or to start an execution is logged and
// tried again at the next look: the repository may come back, a route may be fixed.
func (p *Poller) Run(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	last := p.Last
	for {
		switch head, err := p.Runner.Head(ctx); {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("look for new commits", "err", err)
		case head != last:
			switch ex, existing, err := p.Runner.RunOrResume(ctx, head); {
			case ctx.Err() != nil:
				return
			case err != nil:
				// Not retried for this head: a new commit is what fixes a route that fails
				// to start, and it is a new head.
				log.Error("start execution for new commit", "revision", sluice.ShortRevision(head), "err", err)
			case existing:
				log.Info("new commit has an execution already", "execution", ex.ID, "revision", sluice.ShortRevision(head))
			default:
				log.Info("new commit: execution started", "execution", ex.ID, "revision", sluice.ShortRevision(head))
			}
			last = head
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
