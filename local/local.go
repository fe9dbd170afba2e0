// Package local is the deploy provider for `target: local`: each environment is a router on a
// loopback address in front of version processes started from verified artifacts. It behaves
// like AWS CodeDeploy with Lambda aliases or ECS blue/green — health before traffic, lifecycle
// hooks, canary/linear shifting, alarms that roll back — reacting on every response instead of
// once a minute.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/runner"
	"github.com/sluicehq/sluice/spec"
)

// Unpacker gives a verified artifact's files.
type Unpacker interface {
	// Unpack verifies the artifact and extracts it into dest; ECORRUPT when verification fails.
	Unpack(digest, dest string) error
}

// Provider runs local environments. Create it with New.
type Provider struct {
	dir       string
	artifacts Unpacker
	log       *slog.Logger

	mu     sync.Mutex
	envs   map[string]*environment
	ledger *runner.Ledger
	events func(sluice.VersionEvent)

	// ctx is canceled by Close: supervisors stop restarting versions.
	ctx    context.Context
	cancel context.CancelFunc
	// restartBase is the first delay before restarting a crashed live version (see
	// restartDelay); tests shorten it.
	restartBase time.Duration
	// freePort finds a port for a version: runner.FreePort, or a stand-in in tests.
	freePort func() (int, error)
}

var _ deploy.Provider = (*Provider)(nil)

// New returns a provider keeping versions under dir (one folder per environment).
// If log is nil, nothing is logged.
func New(dir string, artifacts Unpacker, log *slog.Logger) *Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{dir: dir, artifacts: artifacts, log: log, envs: map[string]*environment{}, ctx: ctx, cancel: cancel, restartBase: DefaultRestartDelay, freePort: runner.FreePort}
}

// Open opens the local provider for an engine, keeping versions under the state directory's
// environments folder; it is the provider registered for target local in cmd wiring.
func Open(h deploy.Host) (deploy.Provider, error) {
	return New(filepath.Join(h.StateDir, "environments"), h.Artifacts, h.Log), nil
}

// SetLedger records every version started from now on in l, so that an engine started after
// this one died kills the versions it left running. If never called, nothing is recorded.
func (p *Provider) SetLedger(l *runner.Ledger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ledger = l
}

// environment is one local environment: a router serving on addr, and its versions.
type environment struct {
	name   string
	dir    string
	addr   string
	router *router.Router
	// served is closed when the router stops serving (its listener was closed).
	served chan struct{}
	notify chan struct{} // a response arrived: alarms may be judged again
	// serve starts accepting connections; idempotent.
	serve    func()
	listener net.Listener

	deploying sync.Mutex // one deployment (or restart of a crashed version) at a time
	mu        sync.Mutex
	live      *version
	seq       int
	// problem says why the live version does not serve (it crashed and is being restarted);
	// restarts counts the restarts of crashed live versions.
	problem     string
	restarts    int
	lastRestart time.Time
}

// Address starts the environment's router on target.Listen (host:port, or a URL Address returned
// before; empty or a port of 0 picks a free one) and returns its URL, http://host:port.
// Idempotent: later calls return the URL it has.
func (p *Provider) Address(ctx context.Context, target deploy.Environment) (string, error) {
	env, err := p.environment(ctx, target)
	if err != nil {
		return "", err
	}
	env.serve()
	return env.url(), nil
}

// url is where the environment's router serves.
func (env *environment) url() string { return "http://" + env.addr }

// listenAddress is the host:port to listen on for listen: a host:port as written in
// sluice.yaml, or a URL that Address returned before (the engine keeps it across restarts).
func listenAddress(listen string) (string, error) {
	if !strings.Contains(listen, "://") {
		return listen, nil
	}
	u, err := url.Parse(listen)
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", sluice.Errorf(sluice.EINVALID, "listen address %q is neither host:port nor a URL such as http://127.0.0.1:8081; write listen: HOST:PORT in sluice.yaml", listen)
	}
	return u.Host, nil
}

// environment returns the environment, binding its address if it is new. The router accepts
// connections only once serve is called: until then clients queue in the listen backlog, so a
// restart never answers them before the live version is back.
//
// The router's time limits come from the target block (spec.LocalTarget) when the environment
// is first bound; a change of them takes effect when the engine starts again.
func (p *Provider) environment(ctx context.Context, target deploy.Environment) (*environment, error) {
	name := target.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	if env := p.envs[name]; env != nil {
		return env, nil
	}
	listen, err := listenAddress(target.Listen)
	if err != nil {
		return nil, err
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := listenRetry(ctx, listen)
	if err != nil {
		return nil, err
	}
	env := &environment{name: name, dir: filepath.Join(p.dir, name), addr: ln.Addr().String(), notify: make(chan struct{}, 1)}
	// Version IDs go on from the last one an earlier engine gave here, so a new version never
	// writes into an old version's folder or log.
	env.seq = lastVersionSeq(filepath.Join(env.dir, "versions"))
	opts := router.Options{OnResult: func(string, int, time.Duration) {
		select {
		case env.notify <- struct{}{}:
		default:
		}
	}}
	if cfg, ok := target.Config.(*spec.LocalTarget); ok && cfg != nil {
		opts.ClientTimeout, opts.UpstreamTimeout = cfg.ClientTimeout, cfg.UpstreamTimeout
	}
	env.router = router.New(opts)
	env.served = make(chan struct{})
	env.serve = sync.OnceFunc(func() {
		go func() {
			// ServeFast forwards plain HTTP/1.1 without net/http's server and client (about twice
			// the throughput) and hands anything unusual to the router's net/http path.
			defer close(env.served)
			if err := env.router.ServeFast(ln); err != nil {
				p.log.Error("environment router stopped", "environment", name, "err", err)
			}
		}()
	})
	env.listener = ln
	p.envs[name] = env
	return env, nil
}

// listenRetry listens on addr, retrying briefly while the port is busy: a port freed by a
// stopping engine can take a moment to come back.
func listenRetry(ctx context.Context, addr string) (net.Listener, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return nil, sluice.Errorf(sluice.ECONFLICT, "listen on %s: %w; choose another listen address in sluice.yaml or stop what uses it", addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Status reports the environment's router and versions; nil if it has not started. It reads
// memory only and never fails.
func (p *Provider) Status(_ context.Context, target deploy.Environment) (*deploy.EnvironmentStatus, error) {
	p.mu.Lock()
	env := p.envs[target.Name]
	p.mu.Unlock()
	if env == nil {
		return nil, nil
	}
	rt := env.router
	st := &deploy.EnvironmentStatus{Address: env.addr}
	env.mu.Lock()
	live := env.live
	st.Problem, st.Restarts, st.LastRestart = env.problem, env.restarts, env.lastRestart
	env.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range rt.Routes() {
		seen[r.Version] = true
		w := rt.Window(r.Version, time.Minute)
		vs := deploy.VersionStatus{ID: r.Version, Address: r.URL, Weight: r.Weight, Requests: w.Requests, Errors: w.Errors, InFlight: rt.InFlight(r.Version), ErrorRate: w.ErrorRate()}
		if live != nil && live.id == r.Version {
			vs.Artifact, vs.Revision, vs.Pid = live.spec.Artifact, live.spec.Revision, live.proc.Pid()
		}
		st.Versions = append(st.Versions, vs)
	}
	sort.Slice(st.Versions, func(i, j int) bool { return st.Versions[i].ID < st.Versions[j].ID })
	return st, nil
}

// WriteMetrics writes every environment's router metrics in the Prometheus text format.
func (p *Provider) WriteMetrics(w io.Writer) error {
	p.mu.Lock()
	envs := make([]*environment, 0, len(p.envs))
	for _, env := range p.envs {
		envs = append(envs, env)
	}
	p.mu.Unlock()
	sort.Slice(envs, func(i, j int) bool { return envs[i].name < envs[j].name })
	routers := make([]router.Environment, len(envs))
	for i, env := range envs {
		routers[i] = router.Environment{Name: env.name, Router: env.router}
	}
	// One exposition for all: each metric family may have only one HELP and TYPE line.
	if err := router.WriteMetrics(w, routers); err != nil {
		return err
	}
	return writeSupervisionMetrics(w, envs)
}

// Close stops every version (letting in-flight requests finish) and every router.
func (p *Provider) Close() error {
	p.cancel() // no more restarts
	p.mu.Lock()
	envs := p.envs
	p.envs = map[string]*environment{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env.shutdown()
		}()
	}
	wg.Wait()
	return nil
}

// Teardown stops the environment's versions and its router, which frees its address, and
// removes its folder. An environment this provider does not run has only its folder removed.
func (p *Provider) Teardown(_ context.Context, target deploy.Environment) error {
	p.mu.Lock()
	env := p.envs[target.Name]
	delete(p.envs, target.Name)
	p.mu.Unlock()
	dir := filepath.Join(p.dir, target.Name)
	if env != nil {
		// A deployment or a restart in flight ends before the versions go (the engine stopped
		// the pipeline's executions first, so it is ending already).
		env.deploying.Lock()
		defer env.deploying.Unlock()
		env.shutdown()
		dir = env.dir
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the folder of environment %s: %w", target.Name, err)
	}
	return nil
}

// shutdown closes the router's listener, waits for requests in flight (at most 10s) and stops
// the live version.
func (env *environment) shutdown() {
	// Closing the listener ends ServeFast once requests in flight have finished.
	_ = env.listener.Close()
	env.serve() // an environment that never served has nothing to wait for
	select {
	case <-env.served:
	case <-time.After(10 * time.Second):
	}
	env.mu.Lock()
	live := env.live
	env.live = nil
	env.mu.Unlock()
	if live != nil {
		live.stop()
	}
}
