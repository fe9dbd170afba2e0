package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/git"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

var (
	errSuperseded = errors.New("superseded by a newer execution")
	errStopped    = errors.New("stopped")
)

// Run starts an execution of the route file as it is now, for rev (a branch, tag or commit;
// empty means the head of source.branch), and returns it once it is stored. The execution goes on
// in the background; Wait follows it.
func (e *Engine) Run(ctx context.Context, rev string) (*sluice.Execution, error) {
	route, text, sha, err := e.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	return e.start(ctx, route, text, sha)
}

// resolve reads the route file as it is now and resolves rev (empty: the head of
// source.branch) to a commit of its source repository.
func (e *Engine) resolve(ctx context.Context, rev string) (route *spec.Route, text []byte, sha string, err error) {
	if route, text, err = e.loadRoute(); err != nil {
		return nil, nil, "", err
	}
	if rev == "" {
		rev = route.Source.Branch
	}
	if sha, err = git.Resolve(ctx, RepoPath(e.cfg.RouteFile, route), rev); err != nil {
		return nil, nil, "", fmt.Errorf("resolve revision %q: %w", rev, err)
	}
	return route, text, sha, nil
}

// start stores a new execution of route (whose file text is text) at sha and drives it.
func (e *Engine) start(ctx context.Context, route *spec.Route, text []byte, sha string) (*sluice.Execution, error) {
	subject, _ := git.Subject(ctx, RepoPath(e.cfg.RouteFile, route), sha)
	p := plan.Compile(route)
	ex := &sluice.Execution{
		ID: newID(), Pipeline: route.Name + "@" + route.Source.Branch, Revision: sha, Subject: subject,
		Status: sluice.StatusPending, Route: string(text), RouteFile: e.cfg.RouteFile, CreatedAt: e.now().UTC(),
	}
	var stages []sluice.StageExecution
	var actions []sluice.ActionExecution
	for i, st := range p.Stages {
		stages = append(stages, sluice.StageExecution{ExecutionID: ex.ID, Stage: st.Name, Index: i, Status: sluice.StatusPending})
		for _, a := range st.Actions {
			actions = append(actions, sluice.ActionExecution{ExecutionID: ex.ID, Stage: st.Name, Action: a.Name, Kind: a.Kind, RunOrder: a.RunOrder, Status: sluice.StatusPending})
		}
	}
	ev := e.event("execution.created", ex.ID, map[string]any{"execution": ex.ID, "revision": sha, "pipeline": ex.Pipeline})
	if err := e.store.CreateExecution(ctx, ex, stages, actions, ev); err != nil {
		return nil, fmt.Errorf("store execution: %w", err)
	}
	e.bus.publish(ev)
	e.spawn(e.track(ex), ex.ID)
	return ex, nil
}

// RepoPath is the source repository of route: source.repo relative to the route file's folder,
// unless it is absolute or a URL (scp-like user@host:path included, as git reads it).
func RepoPath(routeFile string, route *spec.Route) string {
	repo := route.Source.Repo
	if git.IsRemote(repo) || filepath.IsAbs(repo) {
		return repo
	}
	return filepath.Join(filepath.Dir(routeFile), repo)
}

func parseRoute(file string, text []byte) (*spec.Route, error) {
	route, diags := spec.Parse(file, text)
	if err := diags.Err(); err != nil {
		return nil, fmt.Errorf("%s has errors; fix them and run again:\n%w", file, err)
	}
	return route, nil
}

// loadRoute reads and parses the route file as it is now.
func (e *Engine) loadRoute() (*spec.Route, []byte, error) {
	text, err := os.ReadFile(e.cfg.RouteFile)
	if err != nil {
		return nil, nil, sluice.Errorf(sluice.EINVALID, "read route: %w; pass -f FILE to name your sluice.yaml", err)
	}
	route, err := parseRoute(e.cfg.RouteFile, text)
	return route, text, err
}

// drive runs one execution from wherever its stored state says it is.
func (e *Engine) drive(ctx context.Context, r *run, id string) {
	ex, err := e.store.Execution(ctx, id)
	if err != nil {
		e.log.Error("load execution", "execution", id, "err", err)
		return
	}
	if ex.Status.Done() {
		return
	}
	route, err := parseRoute(ex.RouteFile, []byte(ex.Route))
	if err != nil {
		e.finish(ctx, ex, sluice.StatusFailed, err.Error())
		return
	}
	p := plan.Compile(route)
	if ex.Status == sluice.StatusPending {
		ex.Status, ex.StartedAt = sluice.StatusInProgress, e.now().UTC()
		if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveExecution(ctx, ex, ev...) },
			e.event("execution.started", ex.ID, map[string]any{"execution": ex.ID, "revision": ex.Revision})) {
			return
		}
	}
	stages, err := e.store.Stages(ctx, id)
	if err != nil || len(stages) != len(p.Stages) {
		e.log.Error("load stages", "execution", id, "err", err)
		return
	}
	for i := range p.Stages {
		stage, st := &p.Stages[i], &stages[i]
		if st.Status.OK() {
			continue
		}
		if st.Status != sluice.StatusInProgress {
			if err := e.enter(ctx, r, route, stage); err != nil {
				e.end(ctx, r, ex, err)
				return
			}
			st.Status, st.StartedAt, st.EndedAt = sluice.StatusInProgress, e.now().UTC(), time.Time{}
			if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveStage(ctx, st, ev...) },
				e.event("stage.started", ex.ID+"/"+stage.Name, st)) {
				return
			}
		}
		status, reason := e.runStage(ctx, r, ex, p, stage)
		if e.ctx.Err() != nil {
			return // shutting down: resume later from what is stored
		}
		if stopped(r) {
			status, reason = sluice.StatusStopped, "stopped by request"
		}
		st.Status, st.EndedAt = status, e.now().UTC()
		e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveStage(ctx, st, ev...) },
			e.event("stage."+eventVerb(st.Status), ex.ID+"/"+stage.Name, st))
		e.leave(stage.Name, r)
		if !status.OK() {
			e.finish(ctx, ex, status, reason)
			return
		}
	}
	e.finish(ctx, ex, sluice.StatusSucceeded, "")
}

// end finishes an execution that could not enter a stage.
func (e *Engine) end(ctx context.Context, r *run, ex *sluice.Execution, err error) {
	switch {
	case e.ctx.Err() != nil:
		// shutting down: it resumes waiting on the next start
	case errors.Is(err, errSuperseded):
		e.finish(ctx, ex, sluice.StatusSuperseded, "superseded by a newer execution while waiting to enter a stage")
	case errors.Is(err, errStopped) || stopped(r):
		e.finish(ctx, ex, sluice.StatusStopped, "stopped by request")
	default:
		e.finish(ctx, ex, sluice.StatusFailed, err.Error())
	}
}

// finish records the execution's end and removes its workspace (logs stay).
func (e *Engine) finish(ctx context.Context, ex *sluice.Execution, status sluice.Status, reason string) {
	if e.ctx.Err() != nil {
		return
	}
	ex.Status, ex.Error, ex.EndedAt = status, reason, e.now().UTC()
	e.save(context.WithoutCancel(ctx), func(ev ...sluice.Event) error { return e.store.SaveExecution(context.WithoutCancel(ctx), ex, ev...) },
		e.event("execution."+eventVerb(status), ex.ID, map[string]any{"execution": ex.ID, "status": status, "error": reason, "revision": ex.Revision}))
	if err := os.RemoveAll(e.workspace(ex.ID)); err != nil {
		e.log.Warn("remove workspace", "execution", ex.ID, "err", err)
	}
}

// save writes a state change with its events and publishes them. It reports false when the
// write failed (the error is logged); the caller stops acting, since acting on state that is not
// written down would break resumption.
func (e *Engine) save(ctx context.Context, write func(...sluice.Event) error, events ...sluice.Event) bool {
	if err := write(events...); err != nil {
		if e.ctx.Err() == nil {
			e.log.Error("save state", "err", err)
		}
		return false
	}
	e.bus.publish(events...)
	return true
}

// enter waits until the execution may enter stage: nobody else is in it, it is not frozen, and
// (queued mode) no older execution waits for it. In superseded mode a newer execution waiting for
// the same stage replaces this one.
func (e *Engine) enter(ctx context.Context, r *run, route *spec.Route, stage *plan.Stage) error {
	e.mu.Lock()
	e.waiting[stage.Name] = append(e.waiting[stage.Name], r)
	if route.ExecutionMode != sluice.ModeQueued {
		for _, w := range e.waiting[stage.Name] {
			if w.seq < r.seq {
				w.supOnce.Do(func() { close(w.superseded) })
			}
		}
	}
	defer func() {
		e.waiting[stage.Name] = without(e.waiting[stage.Name], r)
		e.broadcastLocked()
		e.mu.Unlock()
	}()
	for {
		select {
		case <-r.superseded:
			return errSuperseded
		default:
		}
		holder, busy := e.holders[stage.Name]
		free := !busy || holder == r.id
		if free && route.ExecutionMode == sluice.ModeQueued {
			for _, w := range e.waiting[stage.Name] {
				if w.seq < r.seq {
					free = false
				}
			}
		}
		frozen := false
		if free && stage.Environment != "" {
			e.mu.Unlock()
			frozen = e.frozen(ctx, stage.Environment)
			e.mu.Lock()
			if h, b := e.holders[stage.Name]; b && h != r.id {
				continue // taken while we looked
			}
		}
		if free && !frozen {
			e.holders[stage.Name] = r.id
			return nil
		}
		changed := e.changed
		e.mu.Unlock()
		var poll <-chan time.Time
		if frozen {
			poll = time.After(500 * time.Millisecond) // another process may unfreeze
		}
		var err error
		select {
		case <-changed:
		case <-poll:
		case <-r.superseded:
		case <-r.stop:
			err = errStopped
		case <-ctx.Done():
			err = ctx.Err()
		}
		e.mu.Lock()
		if err != nil {
			return err
		}
	}
}

func (e *Engine) leave(stage string, r *run) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.holders[stage] == r.id {
		delete(e.holders, stage)
	}
	e.broadcastLocked()
}

func (e *Engine) frozen(ctx context.Context, env string) bool {
	st, err := e.store.Environment(ctx, env)
	return err == nil && st.Frozen
}

func stopped(r *run) bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// eventVerb turns a status into the verb of an event type: Succeeded -> succeeded,
// RolledBack -> rolled_back.
func eventVerb(s sluice.Status) string {
	var b strings.Builder
	for i, c := range string(s) {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// RunOrResume follows the newest unfinished execution of rev when there is one — an execution
// interrupted by a stop of the engine resumes rather than being run a second time — and starts
// one otherwise. resumed says which.
func (e *Engine) RunOrResume(ctx context.Context, rev string) (ex *sluice.Execution, resumed bool, err error) {
	route, text, sha, err := e.resolve(ctx, rev)
	if err != nil {
		return nil, false, err
	}
	active, err := e.store.ListExecutions(ctx, true, 0)
	if err != nil {
		return nil, false, fmt.Errorf("list executions: %w", err)
	}
	for i := range active { // newest first
		if active[i].Revision == sha {
			return &active[i], true, nil
		}
	}
	ex, err = e.start(ctx, route, text, sha)
	return ex, false, err
}
