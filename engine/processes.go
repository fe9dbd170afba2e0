package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/runner"
)

// eventSource is a provider that has events of its own to tell: a live version that crashed
// and was restarted.
type eventSource interface {
	SetEvents(func(env, typ string, data map[string]any))
}

// ledgerUser is a provider that starts processes (versions) and records them in the engine's
// ledger, so that an engine started after this one was SIGKILLed stops them.
type ledgerUser interface {
	SetLedger(*runner.Ledger)
}

// openLedger opens the ledger of running processes in the state directory, which first kills
// whatever a previous engine on this state left running when it died without stopping its
// actions and versions (SIGKILL, a crash): builds, checks, tests, hooks, services and anything
// they started, in their process group or not. It hands the ledger to the providers.
func (e *Engine) openLedger() error {
	if e.ledger != nil {
		return nil
	}
	l, found, err := runner.OpenLedger(filepath.Join(e.cfg.StateDir, "processes"))
	if err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	if found.Killed > 0 {
		e.log.Warn("killed processes an engine that stopped without cleaning up left running",
			"processes", found.Killed, "engines", found.Instances)
	}
	e.ledger = l
	for _, p := range e.cfg.Providers {
		if u, ok := p.(ledgerUser); ok {
			u.SetLedger(l)
		}
		if s, ok := p.(eventSource); ok {
			s.SetEvents(e.providerEvent)
		}
	}
	return nil
}

// providerEvent stores and publishes an event a provider tells of. It runs in the provider's
// goroutine, so the write is bounded.
func (e *Engine) providerEvent(env, typ string, data map[string]any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 10*time.Second)
	defer cancel()
	e.save(ctx, func(ev ...sluice.Event) error { return e.store.AppendEvents(ctx, ev...) }, e.event(typ, "env/"+env, data))
}
