package local

import (
	"fmt"
	"io"

	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/router"
)

// A live version that exits without Sluice stopping it (killed from outside, crashed) is
// restarted from the same artifact and configuration, after a delay that doubles with each
// quick crash, and traffic moves to the new process once it is healthy. Each crash and restart
// is told to the engine as an event, shows in Status until the version serves again, and is
// counted in the metrics.

// DefaultRestartDelay is the delay before the first restart of a crashed live version.
const DefaultRestartDelay = 500 * time.Millisecond

const (
	// maxRestartDelay caps the delay between restarts.
	maxRestartDelay = 30 * time.Second
	// stableAfter is how long a version must have run for its crash not to count as a quick
	// one: the delay starts over.
	stableAfter = time.Minute
)

// restartDelay is the delay before restart number crashes+1 of a version that keeps crashing:
// base, then doubling, at most maxRestartDelay.
func restartDelay(base time.Duration, crashes int) time.Duration {
	d := base
	for i := 0; i < crashes && d < maxRestartDelay; i++ {
		d *= 2
	}
	return min(d, maxRestartDelay)
}

// SetEvents has fn told of each crash and restart of a live version (sluice.EventVersionCrashed,
// EventVersionRestarted or EventVersionRestartFailed). fn must not block.
func (p *Provider) SetEvents(fn func(sluice.VersionEvent)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = fn
}

func (p *Provider) emit(what string, v sluice.VersionEvent) {
	p.mu.Lock()
	fn := p.events
	p.mu.Unlock()
	attrs := []any{"environment", v.Environment, "version", v.Version, "revision", v.Revision}
	if v.Crashed != "" {
		attrs = append(attrs, "crashed", v.Crashed)
	}
	if v.ExitCode != nil {
		attrs = append(attrs, "exit_code", *v.ExitCode, "log", v.Log)
	}
	if v.Attempt > 0 {
		attrs = append(attrs, "attempt", v.Attempt)
	}
	if v.Error != "" {
		attrs = append(attrs, "error", v.Error)
	}
	p.log.Warn("live version "+what, attrs...)
	if fn != nil {
		fn(v)
	}
}

// supervise waits for v, env's live version, to exit, and restarts it if Sluice did not stop
// it. One supervisor runs per version that becomes live.
func (p *Provider) supervise(env *environment, v *version) {
	select {
	case <-v.proc.Done():
	case <-p.ctx.Done():
		return
	}
	if v.stopping.Load() || p.ctx.Err() != nil {
		return
	}
	crashes := v.crashes
	if time.Since(v.started) >= stableAfter {
		crashes = 0
	}
	reason := fmt.Sprintf("exited with code %d", v.proc.ExitCode())
	exitCode := v.proc.ExitCode()
	p.emit("crashed", sluice.VersionEvent{Type: sluice.EventVersionCrashed, Environment: env.name, Version: v.id, Revision: v.spec.Revision, ExitCode: &exitCode, Log: v.logPath})
	for ; ; crashes++ {
		delay := restartDelay(p.restartBase, crashes)
		env.mu.Lock()
		env.problem = fmt.Sprintf("live version %s %s; restarting it in %s (see its log %s)", v.id, reason, delay.Round(time.Millisecond), v.logPath)
		env.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-p.ctx.Done():
			return
		}
		nv, done, err := p.restart(env, v, crashes+1)
		if done {
			return
		}
		if err != nil {
			reason = "could not be restarted: " + err.Error()
			p.emit("restart_failed", sluice.VersionEvent{Type: sluice.EventVersionRestartFailed, Environment: env.name, Version: v.id, Revision: v.spec.Revision, Attempt: crashes + 1, Error: err.Error()})
			continue
		}
		p.emit("restarted", sluice.VersionEvent{Type: sluice.EventVersionRestarted, Environment: env.name, Version: nv.id, Crashed: v.id, Revision: v.spec.Revision, Attempt: crashes + 1})
		go p.supervise(env, nv)
		return
	}
}

// restart starts a new process for the crashed live version v and moves all traffic to it. It
// reports done when there is nothing to do any more: a deployment or Restore replaced v
// meanwhile, or the provider is closing.
func (p *Provider) restart(env *environment, v *version, crashes int) (nv *version, done bool, err error) {
	env.deploying.Lock()
	defer env.deploying.Unlock()
	env.mu.Lock()
	still := env.live == v
	env.mu.Unlock()
	if !still || p.ctx.Err() != nil {
		return nil, true, nil
	}
	nv, err = p.startVersion(p.ctx, env, v.spec, v.secrets, func(format string, args ...any) {
		p.log.Info(fmt.Sprintf(format, args...), "environment", env.name)
	})
	if err != nil {
		return nil, p.ctx.Err() != nil, err
	}
	nv.crashes = crashes
	if err := env.router.SetRoutes([]router.Route{{Version: nv.id, URL: nv.url, Weight: 100}}); err != nil {
		nv.stop()
		return nil, false, err
	}
	env.mu.Lock()
	env.live = nv
	env.problem = ""
	env.restarts++
	env.lastRestart = time.Now().UTC()
	env.mu.Unlock()
	v.stop() // already exited: this closes its log
	return nv, false, nil
}

// writeSupervisionMetrics writes, for each environment of envs, how often their live version was
// restarted and whether it runs now.
func writeSupervisionMetrics(w io.Writer, envs []*environment) error {
	var b strings.Builder
	b.WriteString("# HELP sluice_version_restarts_total Restarts of a crashed live version, per environment.\n")
	b.WriteString("# TYPE sluice_version_restarts_total counter\n")
	var up strings.Builder
	up.WriteString("# HELP sluice_live_version_up Whether the environment's live version is running (1) or not (0).\n")
	up.WriteString("# TYPE sluice_live_version_up gauge\n")
	for _, env := range envs {
		env.mu.Lock()
		restarts, live := env.restarts, env.live
		env.mu.Unlock()
		label := strconv.Quote(env.name) // environment names are [a-z0-9-]: quoting is escaping
		fmt.Fprintf(&b, "sluice_version_restarts_total{environment=%s} %d\n", label, restarts)
		running := 0
		if live != nil && live.proc.ExitCode() < 0 {
			running = 1
		}
		fmt.Fprintf(&up, "sluice_live_version_up{environment=%s} %d\n", label, running)
	}
	_, err := io.WriteString(w, b.String()+up.String())
	return err
}
