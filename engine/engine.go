// Package engine runs compiled plans. One Engine serves one route file and its state directory.
//
// The engine writes every state change to the store before acting on it, so it can be killed at
// any moment and started again: Start resumes every execution that had not ended. An action that
// had finished is never run again; an action that was running is run again (actions must be
// idempotent); nothing stays InProgress once the engine runs.
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
	// Providers by target name ("local", "aws").
	Providers map[string]deploy.Provider
	// Environ is where secrets are read from. If nil, os.Environ().
	Environ []string
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives the engine's own log. If nil, nothing is logged.
	Logger *slog.Logger
	// ApprovalPoll is how often a waiting approval looks for a decision made by another process.
	// If zero, 250ms.
	ApprovalPoll time.Duration
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

	mu      sync.Mutex
	running map[string]*run   // executions being driven, by ID
	holders map[string]string // stage name -> execution ID inside it
	waiting map[string][]*run // stage name -> executions waiting to enter, in arrival order
	changed chan struct{}     // closed and replaced whenever holders, waiting or freezes change
	envLock map[string]*sync.Mutex
	wg      sync.WaitGroup
	// progress of deployments in flight (environment -> deploy.Progress), for status displays.
	progress sync.Map
	// ledger records the processes of actions and versions (see processes.go); set by Start.
	ledger *runner.Ledger
	// problems holds, by environment, why it does not serve its live version (a restore that
	// failed at start, a live version that keeps crashing), until a deployment fixes it.
	problems sync.Map
}

// run is an execution being driven.
type run struct {
	id         string
	seq        int64
	cancel     context.CancelFunc
	stop       chan struct{} // closed by Stop
	superseded chan struct{} // closed when a newer execution replaces this one while it waits
	stopOnce   sync.Once
	supOnce    sync.Once
	done       chan struct{}
}

// New returns an engine. Call Start to resume executions and restore environments.
func New(cfg Config) (*Engine, error) {
	if cfg.RouteFile == "" || cfg.StateDir == "" || cfg.Store == nil || cfg.Artifacts == nil {
		return nil, errors.New("new engine: RouteFile, StateDir, Store and Artifacts are required")
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{
		cfg: cfg, store: cfg.Store, now: cfg.Now, log: cfg.Logger, bus: newBus(),
		ctx: ctx, cancel: cancel,
		running: map[string]*run{}, holders: map[string]string{}, waiting: map[string][]*run{},
		changed: make(chan struct{}), envLock: map[string]*sync.Mutex{},
	}, nil
}

// Bus returns the engine's event bus: every stored event is published on it.
func (e *Engine) Bus() *Bus { return e.bus }

// Store returns the engine's store, for read-only views.
func (e *Engine) Store() store.Store { return e.store }

// Start restores every environment's live version and resumes every execution that had not
// ended, oldest first, so stages are re-entered in the order they were held.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.openLedger(); err != nil {
		return err
	}
	if err := e.restoreEnvironments(ctx); err != nil {
		return err
	}
	active, err := e.store.ListExecutions(ctx, true, 0)
	if err != nil {
		return fmt.Errorf("list executions to resume: %w", err)
	}
	for i := len(active) - 1; i >= 0; i-- { // newest first from the store: walk backwards
		ex := active[i]
		stages, err := e.store.Stages(ctx, ex.ID)
		if err != nil {
			return fmt.Errorf("resume execution %s: %w", ex.ID, err)
		}
		r := e.track(&ex)
		for _, st := range stages {
			if st.Status == sluice.StatusInProgress {
				e.holders[st.Stage] = ex.ID // it was inside: it keeps the stage
			}
		}
		e.log.Info("resuming execution", "execution", ex.ID, "revision", sluice.ShortRevision(ex.Revision))
		e.spawn(r, ex.ID)
	}
	return nil
}

// Close pauses every execution where it is (its state stays as stored, to be resumed by the
// next Start), waits for them to let go, and stops every provider.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	var errs []error
	for _, p := range e.cfg.Providers {
		errs = append(errs, p.Close())
	}
	errs = append(errs, e.ledger.Close())
	return errors.Join(errs...)
}

// Wait blocks until the execution has ended (or ctx ends) and returns it as stored.
func (e *Engine) Wait(ctx context.Context, id string) (*sluice.Execution, error) {
	e.mu.Lock()
	r := e.running[id]
	e.mu.Unlock()
	if r != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.ctx.Done():
			return nil, errors.New("the engine is shutting down; the execution will resume when it starts again")
		}
	}
	return e.store.Execution(ctx, id)
}

func (e *Engine) track(ex *sluice.Execution) *run {
	r := &run{id: ex.ID, seq: ex.Seq, stop: make(chan struct{}), superseded: make(chan struct{}), done: make(chan struct{})}
	e.mu.Lock()
	e.running[ex.ID] = r
	e.mu.Unlock()
	return r
}

func (e *Engine) spawn(r *run, id string) {
	ctx, cancel := context.WithCancel(e.ctx)
	r.cancel = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		defer close(r.done)
		defer e.untrack(r)
		e.drive(ctx, r, id)
	}()
}

func (e *Engine) untrack(r *run) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, r.id)
	for stage, id := range e.holders {
		if id == r.id {
			delete(e.holders, stage)
		}
	}
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

func (e *Engine) environmentLock(env string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.envLock[env] == nil {
		e.envLock[env] = &sync.Mutex{}
	}
	return e.envLock[env]
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
