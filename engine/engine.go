// Package engine runs compiled plans. One Engine serves one route file and its state directory,
// for every pipeline of the route (its main branch and copies for other branches; see
// pipelines.go).
//
// The engine writes every state change to the store before acting on it, so it can be killed at
// any moment and started again: Start resumes every execution that had not ended. An action that
// had finished is never run again; an action that was running is run again (actions must be
// idempotent); nothing stays InProgress once the engine runs.
//
// Ownership is in the store, as leases (see ownership.go): an engine drives only the executions
// it holds, an execution enters a stage by taking the stage, and a deployment holds its
// environment; so engines sharing a store never drive one execution twice, and one that dies
// hands its executions to the others.
//
// Executions follow CodePipeline's rules: stages in order, one execution per stage at a time,
// actions of a stage by run order (equal orders in parallel), a failed action fails its stage and
// ends the execution. In superseded mode an execution waiting to enter a busy stage is replaced by
// a newer one; in queued mode they wait in order.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/runner"
	"github.com/sluicehq/sluice/store"
)

// Artifacts is where builds are kept: content addressed and verified on every read.
type Artifacts interface {
	// Put packs paths under root into an artifact. Idempotent by content.
	Put(root string, paths []string) (artifact.Artifact, error)
	// Verify checks a stored artifact against its digest; ECORRUPT when it fails.
	Verify(digest string) error
}

// Config is what an Engine needs.
type Config struct {
	// RouteFile is the sluice.yaml this engine serves. Required.
	RouteFile string
	// StateDir holds workspaces and logs. Required.
	StateDir  string
	Store     store.Store
	Artifacts Artifacts
	// Source reads revisions, route files at a revision, and checkouts. Required.
	Source Source
	// Providers by target name ("local", "aws").
	Providers map[string]deploy.Provider
	// Environ is where secrets are read from. If nil, os.Environ().
	Environ []string
	// Binary is the sluice command running the engine; actions see it as SLUICE_BIN, so a check
	// can run `"$SLUICE_BIN" lint` whatever PATH says. Empty: unset.
	Binary string
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives the engine's own log. If nil, nothing is logged.
	Logger *slog.Logger
	// ApprovalPoll is how often a waiting approval looks for a decision made by another process.
	// If zero, 250ms.
	ApprovalPoll time.Duration
	// LeaseTTL is how long what this engine holds in the store (executions it drives, stages its
	// executions are in, environments it deploys to) stays its own without a renewal; it renews
	// every third of it. If zero, 30s.
	LeaseTTL time.Duration
	// LeasePoll is how often an execution that waits (for a stage, an environment, a freeze)
	// looks again at the store, and how often a driven execution looks for a stop recorded by
	// another process. If zero, 500ms.
	LeasePoll time.Duration
}

// Engine runs executions of one route.
type Engine struct {
	cfg    Config
	store  store.Store
	now    func() time.Time
	log    *slog.Logger
	bus    *Bus
	ctx    context.Context // canceled by Close: executions pause where they are, to resume later
	cancel context.CancelFunc
	// owner names this engine in the store's leases.
	owner string

	mu      sync.Mutex
	running map[string]*run   // executions being driven, by ID
	waiting map[string][]*run // stage lease key -> executions waiting to enter, in arrival order
	changed chan struct{}     // closed and replaced whenever a stage is left, waiting or freezes change
	wg      sync.WaitGroup
	// progress of deployments in flight (instance name -> deploy.Progress), for status displays.
	progress sync.Map
	// ledger records the processes of actions and versions (see processes.go); set by Start.
	ledger *runner.Ledger
	// problems holds, by instance name (see instanceName), why it does not serve its live version (a restore that
	// failed at start, a live version that keeps crashing), until a deployment fixes it.
	problems sync.Map
	// diskFull counts the state writes waiting for free space (see waitForSpace).
	diskFull atomic.Int32
}

// run is an execution being driven.
type run struct {
	id         string
	seq        int64
	pipeline   string
	cancel     context.CancelCauseFunc
	stop       chan struct{} // closed by Stop
	superseded chan struct{} // closed when a newer execution replaces this one while it waits
	stopOnce   sync.Once
	supOnce    sync.Once
	done       chan struct{}

	mu      sync.Mutex
	stage   string // the lease key of the stage it is in, if any
	waitFor string // what it waits for, as last recorded

	// settled holds the digests of the change sets ExecuteChangeSet applied or discarded in
	// this run; a stage that ends with its change set not in it discards it (see
	// discardUnsettled). Memory is enough: a run that pauses discards nothing, and its
	// ExecuteChangeSet runs again when it resumes.
	settled sync.Map
}

// New returns an engine. Call Start to resume executions and restore environments.
func New(cfg Config) (*Engine, error) {
	if cfg.RouteFile == "" || cfg.StateDir == "" || cfg.Store == nil || cfg.Artifacts == nil || cfg.Source == nil {
		return nil, errors.New("new engine: RouteFile, StateDir, Store, Artifacts and Source are required")
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ApprovalPoll == 0 {
		cfg.ApprovalPoll = 250 * time.Millisecond
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.LeasePoll <= 0 {
		cfg.LeasePoll = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cfg: cfg, store: cfg.Store, now: cfg.Now, log: cfg.Logger, bus: newBus(),
		ctx: ctx, cancel: cancel, owner: newOwner(),
		running: map[string]*run{}, waiting: map[string][]*run{}, changed: make(chan struct{}),
	}
	liveEngines.Store(e.owner, true)
	return e, nil
}

// Owner is the name this engine holds leases under in the store.
func (e *Engine) Owner() string { return e.owner }

// Bus returns the engine's event bus: every stored event is published on it.
func (e *Engine) Bus() *Bus { return e.bus }

// Store returns the engine's store, for read-only views.
func (e *Engine) Store() store.Store { return e.store }

// Start restores every environment's live version and resumes every execution that had not
// ended and that no other live engine drives, oldest first, so stages are re-entered in the
// order they were held.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.openLedger(); err != nil {
		return err
	}
	if err := e.restoreEnvironments(ctx); err != nil {
		return err
	}
	active, err := e.store.ListExecutions(ctx, "", true, 0)
	if err != nil {
		return fmt.Errorf("list executions to resume: %w", err)
	}
	active = e.stopRemoved(ctx, active)
	// An execution inside a stage keeps it: take the stages back before anything else runs.
	for _, ex := range active {
		stages, err := e.store.Stages(ctx, ex.ID)
		if err != nil {
			return fmt.Errorf("resume execution %s: %w", ex.ID, err)
		}
		for _, st := range stages {
			if st.Status == sluice.StatusInProgress {
				if _, err := e.take(ctx, stageKey(ex.Pipeline, st.Stage), ex.ID); err != nil {
					e.log.Warn("stage taken while the engine was stopped", "execution", ex.ID, "stage", st.Stage, "err", err)
				}
			}
		}
	}
	for i := len(active) - 1; i >= 0; i-- { // newest first from the store: walk backwards
		ex := active[i]
		if err := e.spawn(&ex); err != nil {
			e.log.Info("not resuming execution now", "execution", ex.ID, "err", err)
			e.adopt(ex)
			continue
		}
		e.log.Info("resuming execution", "execution", ex.ID, "revision", sluice.ShortRevision(ex.Revision))
	}
	return nil
}

// adopt drives ex once the engine that holds it lets it go, stops renewing its lease or is
// known gone, unless ex ends first: an engine that dies hands its executions to the others.
func (e *Engine) adopt(ex sluice.Execution) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(e.cfg.LeasePoll):
			}
			l, err := e.store.Lease(e.ctx, executionKey(ex.ID))
			if err == nil && !l.Expired(e.now()) && !ownerGone(l.Owner) {
				continue // still driven
			}
			cur, err := e.store.Execution(e.ctx, ex.ID)
			if err != nil || cur.Status.Done() {
				return
			}
			if err := e.spawn(cur); err == nil {
				e.log.Info("took over execution", "execution", ex.ID)
				return
			}
		}
	}()
}

// Close pauses every execution where it is (its state stays as stored, to be resumed by the
// next Start), waits for them to let go, and stops every provider.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	liveEngines.Delete(e.owner)
	var errs []error
	for _, p := range e.cfg.Providers {
		errs = append(errs, p.Close())
	}
	errs = append(errs, e.ledger.Close())
	return errors.Join(errs...)
}

// Wait blocks until the execution has ended (or ctx ends) and returns it as stored. It follows
// an execution this engine drives, and one another engine drives (or this one will take over),
// through the store.
func (e *Engine) Wait(ctx context.Context, id string) (*sluice.Execution, error) {
	for {
		e.mu.Lock()
		r := e.running[id]
		e.mu.Unlock()
		var poll <-chan time.Time
		if r == nil {
			poll = time.After(e.cfg.LeasePoll)
		}
		ex, err := e.store.Execution(ctx, id)
		if err != nil || ex.Status.Done() {
			return ex, err
		}
		var done <-chan struct{}
		if r != nil {
			done = r.done
		}
		select {
		case <-done:
		case <-poll:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.ctx.Done():
			return nil, errors.New("the engine is shutting down; the execution will resume when it starts again")
		}
	}
}

// spawn takes the execution's lease and drives it in the background. It fails with ECONFLICT
// when another live engine drives it, and does nothing when this one already does.
func (e *Engine) spawn(ex *sluice.Execution) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running[ex.ID] != nil {
		return nil
	}
	if e.ctx.Err() != nil {
		return errors.New("the engine is shutting down")
	}
	l, err := e.take(e.ctx, executionKey(ex.ID), e.owner)
	if err != nil {
		if l != nil {
			return sluice.Errorf(sluice.ECONFLICT, "execution %s is driven by another engine (%s)", ex.ID, l.Owner)
		}
		return fmt.Errorf("take execution %s: %w", ex.ID, err)
	}
	r := &run{id: ex.ID, seq: ex.Seq, pipeline: ex.Pipeline, stop: make(chan struct{}), superseded: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancelCause(e.ctx)
	r.cancel = cancel
	e.running[ex.ID] = r
	release := e.keep(executionKey(ex.ID), e.owner, func() { cancel(errNotOwner) })
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(r.done)
		defer e.untrack(r)
		defer func() {
			release()
			cancel(nil)
			if !errors.Is(context.Cause(ctx), errNotOwner) {
				if err := e.store.ReleaseLease(context.Background(), executionKey(r.id), e.owner); err != nil {
					e.log.Warn("release execution", "execution", r.id, "err", err)
				}
			}
		}()
		go e.watchStop(ctx, r)
		e.drive(ctx, r, r.id)
	}()
	return nil
}

// watchStop notices a stop recorded by another process (a `sluice stop` that reached the store
// only) and the stages the run holds, whose leases it renews, until the run ends.
func (e *Engine) watchStop(ctx context.Context, r *run) {
	tick := time.NewTicker(e.cfg.LeasePoll)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if ex, err := e.store.Execution(ctx, r.id); err == nil && ex.Status == sluice.StatusStopped {
			r.stopOnce.Do(func() { close(r.stop) })
			r.cancel(errStopped)
			return
		}
		if time.Since(renewed) >= e.cfg.LeaseTTL/3 {
			renewed = time.Now()
			if key := r.stageKey(); key != "" {
				if err := e.store.RenewLease(ctx, key, r.id, e.now(), e.cfg.LeaseTTL); err != nil && ctx.Err() == nil {
					e.log.Warn("renew stage", "execution", r.id, "stage", key, "err", err)
				}
			}
		}
	}
}

func (r *run) stageKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stage
}

func (r *run) setStage(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stage = key
}

func (e *Engine) untrack(r *run) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, r.id)
	for stage, ws := range e.waiting {
		e.waiting[stage] = without(ws, r)
	}
	e.broadcastLocked()
}

// broadcastLocked wakes everyone waiting for a stage. e.mu must be held.
func (e *Engine) broadcastLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// paused reports whether the run of ctx must stop acting and writing without ending its
// execution: the engine is shutting down (the execution resumes on the next start), or another
// engine took the execution over.
func (e *Engine) paused(ctx context.Context) bool {
	return e.ctx.Err() != nil || errors.Is(context.Cause(ctx), errNotOwner)
}

func (e *Engine) workspace(id string) string { return filepath.Join(e.cfg.StateDir, "work", id) }

// LogDir is where an execution's action logs are kept.
func (e *Engine) LogDir(id string) string { return LogDir(e.cfg.StateDir, id) }

// LogDir is where an execution's action logs are kept under stateDir.
func LogDir(stateDir, id string) string { return filepath.Join(stateDir, "logs", id) }

func without(ws []*run, r *run) []*run {
	out := ws[:0]
	for _, w := range ws {
		if w != r {
			out = append(out, w)
		}
	}
	return out
}
