package local

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

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

// SetEvents has fn told of each crash and restart of a live version: typ is
// "version.crashed", "version.restarted" or "version.restart_failed". fn must not block.
func (p *Provider) SetEvents(fn func(env, typ string, data map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = fn
}

func (p *Provider) emit(env, typ string, data map[string]any) {
	p.mu.Lock()
	fn := p.events
	p.mu.Unlock()
	p.log.Warn("live version "+strings.TrimPrefix(typ, "version."), append([]any{"environment", env}, flatten(data)...)...)
	if fn != nil {
		fn(env, typ, data)
	}
}

func flatten(m map[string]any) []any {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k, m[k])
	}
	return out
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
	p.emit(env.name, "version.crashed", map[string]any{"version": v.id, "revision": v.spec.Revision, "exit_code": v.proc.ExitCode(), "log": v.logPath})
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
			p.emit(env.name, "version.restart_failed", map[string]any{"version": v.id, "revision": v.spec.Revision, "attempt": crashes + 1, "error": err.Error()})
			continue
		}
		p.emit(env.name, "version.restarted", map[string]any{"version": nv.id, "crashed": v.id, "revision": v.spec.Revision, "attempt": crashes + 1})
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

// writeSupervisionMetrics writes, for the named environments, how often their live version was
// restarted and whether it runs now.
func (p *Provider) writeSupervisionMetrics(w io.Writer, names []string) error {
	var b strings.Builder
	b.WriteString("# HELP sluice_version_restarts_total Restarts of a crashed live version, per environment.\n")
	b.WriteString("# TYPE sluice_version_restarts_total counter\n")
	var up strings.Builder
	up.WriteString("# HELP sluice_live_version_up Whether the environment's live version is running (1) or not (0).\n")
	up.WriteString("# TYPE sluice_live_version_up gauge\n")
	for _, name := range names {
		p.mu.Lock()
		env := p.envs[name]
		p.mu.Unlock()
		if env == nil {
			continue
		}
		env.mu.Lock()
		restarts, live := env.restarts, env.live
		env.mu.Unlock()
		label := strconv.Quote(name) // environment names are [a-z0-9-]: quoting is escaping
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
