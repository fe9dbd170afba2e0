package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
)

func cmdUp(e *env, f *flags, o upFlags) error {
	route, diags, err := load(*f.file)
	if err != nil {
		return err
	}
	printDiagnostics(e.stderr, diags)
	if diags.HasErrors() {
		return exitError(ExitUsage)
	}
	warnUncommitted(e.ctx, e.stderr, *f.file)
	if o.poll <= 0 {
		return usagef("--poll must be positive, such as 5s")
	}
	dir, err := stateDir(f)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	inst, err := startEngine(e.ctx, e, *f.file, dir, serveOptions{Listen: o.listen, NoMetrics: !o.metrics}, logger)
	if err != nil && e.ctx.Err() != nil {
		// Asked to stop while starting: a service manager's stop, not a failure.
		fmt.Fprintln(e.stdout, "sluice up: stopped while starting; executions resume on the next start")
		return nil
	}
	if err != nil {
		return err
	}
	defer inst.close()
	metrics := "http://" + inst.address + "/metrics (no token; --metrics=false turns it off)"
	if !o.metrics {
		metrics = "off"
	}
	fmt.Fprintf(e.stdout, "sluice up: %s\n  API     http://%s (token in %s/token)\n  metrics %s\n", route.Name, inst.address, dir, metrics)
	for _, env := range route.Environments {
		if addr, err := inst.engine.Endpoint(e.ctx, "", env.Name); err == nil {
			fmt.Fprintf(e.stdout, "  %-7s %s\n", env.Name, addr)
		}
	}
	if !o.noWatch {
		go watch(e.ctx, inst.engine, logger, route.Source.Branch, o.poll)
	}
	<-e.ctx.Done()
	fmt.Fprintln(e.stdout, "sluice up: stopping; executions pause here and resume on the next start")
	return nil
}

// watch runs an execution for each new commit at the head of branch.
func watch(ctx context.Context, en *engine.Engine, log *slog.Logger, branch string, every time.Duration) {
	last := ""
	if exs, err := en.Store().ListExecutions(ctx, "", false, 1); err == nil && len(exs) > 0 {
		last = exs[0].Revision
	}
	for {
		repo, err := en.Repo()
		if err == nil {
			head, err := git.Head(ctx, repo, branch)
			switch {
			case err != nil:
				log.Warn("look for new commits", "err", err)
			case head != last:
				// A revision that has an execution already (a `sluice run` of the new commit got
				// there first) is not run a second time.
				switch ex, existing, err := en.RunOrResume(ctx, head); {
				case err != nil:
					log.Error("start execution for new commit", "revision", head, "err", err)
				case existing:
					log.Info("new commit has an execution already", "execution", ex.ID, "revision", head[:7])
				default:
					log.Info("new commit: execution started", "execution", ex.ID, "revision", head[:7])
				}
				last = head
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
