package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/trigger"
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
	if chs := route.Notifications.Channels; len(chs) > 0 && len(route.Notifications.Rules) > 0 {
		names := make([]string, len(chs))
		for i, ch := range chs {
			names[i] = ch.Name + " (" + ch.Kind() + ")"
		}
		fmt.Fprintf(e.stdout, "  notify  %s (sluice notify log shows deliveries)\n", strings.Join(names, ", "))
	}
	if !o.noWatch {
		poller := &trigger.Poller{Runner: inst.engine, Every: o.poll, Last: latestRevision(e.ctx, inst.engine), Log: logger}
		go poller.Run(e.ctx)
	}
	<-e.ctx.Done()
	fmt.Fprintln(e.stdout, "sluice up: stopping; executions pause here and resume on the next start")
	return nil
}

// latestRevision is the revision of the newest execution, which a poller does not run again.
func latestRevision(ctx context.Context, en *engine.Engine) string {
	if exs, err := en.Store().ListExecutions(ctx, "", false, 1); err == nil && len(exs) > 0 {
		return exs[0].Revision
	}
	return ""
}

var _ trigger.Runner = (*engine.Engine)(nil)
