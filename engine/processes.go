package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/runner"
)

// eventSource is a provider that has events of its own to tell: a live version that crashed
// and was restarted.
type eventSource interface {
	SetEvents(func(sluice.VersionEvent))
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
func (e *Engine) providerEvent(v sluice.VersionEvent) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 10*time.Second)
	defer cancel()
	v.Pipeline, v.Environment = e.instanceOf(ctx, v.Environment)
	e.save(ctx, func(ev ...sluice.Event) error { return e.store.AppendEvents(ctx, ev...) }, sluice.VersionChanged(v, e.now()))
}

// Waiting for disk space: how often a write that failed with ENOSPC is tried again.
const (
	spaceRetryFirst = 100 * time.Millisecond
	spaceRetryMax   = 5 * time.Second
)

// waitForSpace calls write again, with a growing pause, while it fails because the disk is
// full, and returns its last error: nil once it succeeded, another error, or err if the engine
// or ctx stopped first. It says once in the log what it waits for.
func (e *Engine) waitForSpace(ctx context.Context, write func() error, err error) error {
	e.log.Error("the disk holding the state is full (ENOSPC); waiting for free space to record the change", "err", err)
	e.diskFull.Add(1)
	defer e.diskFull.Add(-1)
	pause := spaceRetryFirst
	for errors.Is(err, syscall.ENOSPC) {
		select {
		case <-ctx.Done():
			return err
		case <-e.ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, spaceRetryMax)
		err = write()
	}
	if err == nil {
		e.log.Info("space is back; the change is recorded")
	}
	return err
}

// stalled says why executions cannot go on now, for status displays, or "".
func (e *Engine) stalled() string {
	if e.diskFull.Load() > 0 {
		return "waiting for free space: the disk holding the state directory is full (ENOSPC); free some space and the execution goes on"
	}
	return ""
}
