package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
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
	secret := os.Getenv(webhookSecretEnv)
	if o.webhookListen != "" && len(secret) < minWebhookSecret {
		return usagef("--webhook-listen needs a shared secret of at least %d characters in %s, the same as the webhook's secret on the git host", minWebhookSecret, webhookSecretEnv)
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
	if o.webhookListen != "" {
		addr, stop, err := serveWebhooks(o.webhookListen, secret, inst, logger)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(e.stdout, "  webhooks http://%s/webhooks/{github,gitlab,gitea} (secret from %s)\n", addr, webhookSecretEnv)
	}
	if !o.noWatch {
		poller := &trigger.Poller{Runner: inst.engine, Every: o.poll, Log: logger}
		go poller.Run(e.ctx)
	} else {
		// Without the poller, pipelines whose time to live ran out are still removed.
		go (&trigger.Poller{Runner: expiryOnly{inst.engine}, Every: o.poll, Log: logger}).Run(e.ctx)
	}
	<-e.ctx.Done()
	fmt.Fprintln(e.stdout, "sluice up: stopping; executions pause here and resume on the next start")
	return nil
}

// webhookSecretEnv holds the secret shared with the git host's webhook.
const webhookSecretEnv = "SLUICE_WEBHOOK_SECRET"

// minWebhookSecret is the shortest webhook secret accepted: the listener faces the network.
const minWebhookSecret = 16

// serveWebhooks opens the second listener of sluice up, which serves only the webhook
// endpoints: it is meant to be reachable from a git host, unlike the API.
func serveWebhooks(listen, secret string, inst *instance, logger *slog.Logger) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", nil, sluice.Errorf(sluice.ECONFLICT, "listen for webhooks on %s: %w; pass another --webhook-listen ADDR", listen, err)
	}
	wh := &trigger.Webhooks{Secret: []byte(secret), Deliveries: inst.db, Pipelines: inst.engine, Log: logger}
	srv := &http.Server{
		Handler: wh.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// expiryOnly is the engine for a poller that only removes expired pipelines (--no-watch).
type expiryOnly struct{ *engine.Engine }

func (expiryOnly) Branches(context.Context) (map[string]string, error) {
	return map[string]string{}, nil
}

func (expiryOnly) SyncBranches(context.Context, map[string]string) ([]engine.Triggered, []sluice.Pipeline, error) {
	return nil, nil, nil
}

var (
	_ trigger.Runner    = (*engine.Engine)(nil)
	_ trigger.Pipelines = (*engine.Engine)(nil)
)
