package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

var (
	errSuperseded = errors.New("superseded by a newer execution")
	errStopped    = errors.New("stopped")
)

// Run starts a new execution for rev (a branch, tag or commit; empty means the head of
// source.branch), even if the revision ran before, and returns it once it is stored. The route
// is the route file as the revision holds it (see routeAt). The execution goes on in the
// background; Wait follows it.
func (e *Engine) Run(ctx context.Context, rev string) (*sluice.Execution, error) {
	route, text, sha, err := e.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	ex, _, err := e.start(ctx, route, text, sha, true)
	return ex, err
}

// resolve resolves rev (empty: the head of source.branch) to a commit of the source repository
// that the route file names as it is now, and reads the route at that commit.
func (e *Engine) resolve(ctx context.Context, rev string) (route *spec.Route, text []byte, sha string, err error) {
	here, _, err := e.loadRoute()
	if err != nil {
		return nil, nil, "", err
	}
	if rev == "" {
		rev = here.Source.Branch
	}
	if sha, err = e.resolveRev(ctx, here, rev); err != nil {
		return nil, nil, "", err
	}
	route, text, err = e.routeAt(ctx, here, sha)
	if err != nil {
		return nil, nil, "", err
	}
	return route, text, sha, nil
}

// resolveRev resolves rev to a commit of route's source repository.
func (e *Engine) resolveRev(ctx context.Context, route *spec.Route, rev string) (string, error) {
	sha, err := e.cfg.Source.Resolve(ctx, RepoPath(e.cfg.RouteFile, route.Source.Repo), rev)
	if err != nil {
		return "", fmt.Errorf("resolve revision %q: %w", rev, err)
	}
	return sha, nil
}

// start stores an execution of route (whose file text is text) at sha and drives it. Unless
// fresh, a revision that has an execution already is not started again: start returns that
// execution (existing is true), driving it if it has not ended and no other engine does.
func (e *Engine) start(ctx context.Context, route *spec.Route, text []byte, sha string, fresh bool) (ex *sluice.Execution, existing bool, err error) {
	return e.startIn(ctx, MainPipeline(route), route, text, sha, fresh)
}

// startIn is start in pipeline pl, which it records first if the store does not have it.
func (e *Engine) startIn(ctx context.Context, pl sluice.Pipeline, route *spec.Route, text []byte, sha string, fresh bool) (ex *sluice.Execution, existing bool, err error) {
	if err := e.ensurePipeline(ctx, pl); err != nil {
		return nil, false, err
	}
	subject, _ := e.cfg.Source.Subject(ctx, RepoPath(e.cfg.RouteFile, route.Source.Repo), sha)
	p := plan.Compile(pipelineRoute(route, &pl))
	ex = &sluice.Execution{
		ID: newID(), Pipeline: pl.ID, Revision: sha, Subject: subject,
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
	ev := sluice.ExecutionCreated(ex, e.now())
	if fresh {
		err = e.store.CreateExecution(ctx, ex, stages, actions, ev)
	} else {
		var found *sluice.Execution
		if found, err = e.store.CreateFirstExecution(ctx, ex, stages, actions, ev); found != nil {
			if !found.Status.Done() {
				if err := e.spawn(found); err != nil {
					e.log.Info("following an execution another engine drives", "execution", found.ID, "err", err)
					e.adopt(*found)
				}
			}
			return found, true, nil
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("store execution: %w", err)
	}
	e.bus.publish(ev)
	if err := e.spawn(ex); err != nil {
		return nil, false, err
	}
	return ex, false, nil
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
	p, err := e.planOf(ctx, route, ex.Pipeline)
	if err != nil {
		e.log.Error("load the pipeline of execution", "execution", id, "err", err)
		return
	}
	if ex.Status == sluice.StatusPending {
		ex.Status, ex.StartedAt = sluice.StatusInProgress, e.now().UTC()
		if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveExecution(ctx, ex, ev...) },
			sluice.ExecutionStarted(ex, e.now())) {
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
		inside := st.Status == sluice.StatusInProgress
		if err := e.enter(ctx, r, ex, p, stage, inside); err != nil {
			e.end(ctx, r, ex, err)
			return
		}
		if !inside {
			st.Status, st.StartedAt, st.EndedAt = sluice.StatusInProgress, e.now().UTC(), time.Time{}
			if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveStage(ctx, st, ev...) },
				sluice.StageStarted(st, e.now())) {
				e.leave(r)
				return
			}
		}
		status, reason := e.runStage(ctx, r, ex, p, stage)
		if e.paused(ctx) {
			return // resume later from what is stored, still inside the stage
		}
		if stopped(r) {
			e.leave(r) // the stop recorded the stage's and the execution's end
			return
		}
		st.Status, st.EndedAt = status, e.now().UTC()
		bg := context.WithoutCancel(ctx)
		e.save(bg, func(ev ...sluice.Event) error { return e.store.SaveStage(bg, st, ev...) },
			sluice.StageEnded(st, e.now()))
		e.leave(r)
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
	case e.paused(ctx):
		// shutting down, or driven elsewhere now: it resumes waiting where it is driven next
	case errors.Is(err, errStopped) || stopped(r):
		// the stop is recorded already
	case errors.Is(err, errSuperseded):
		e.finish(ctx, ex, sluice.StatusSuperseded, "superseded by a newer execution while waiting to enter a stage")
	default:
		e.finish(ctx, ex, sluice.StatusFailed, err.Error())
	}
}

// finish records the execution's end and removes its workspace (logs stay).
func (e *Engine) finish(ctx context.Context, ex *sluice.Execution, status sluice.Status, reason string) {
	if e.paused(ctx) {
		return
	}
	ex.Status, ex.Error, ex.Waiting, ex.EndedAt = status, reason, "", e.now().UTC()
	bg := context.WithoutCancel(ctx)
	e.save(bg, func(ev ...sluice.Event) error { return e.store.SaveExecution(bg, ex, ev...) },
		sluice.ExecutionEnded(ex, e.now()))
	if err := os.RemoveAll(e.workspace(ex.ID)); err != nil {
		e.log.Warn("remove workspace", "execution", ex.ID, "err", err)
	}
}

// save writes a state change with its events and publishes them. It reports false when the
// write failed (the error is logged); the caller stops acting, since acting on state that is not
// written down would break resumption.
//
// A write that fails because the disk is full (ENOSPC) is retried until there is space again
// or the engine stops: giving up would leave the execution InProgress with nobody driving it.
func (e *Engine) save(ctx context.Context, write func(...sluice.Event) error, events ...sluice.Event) bool {
	err := write(events...)
	if errors.Is(err, syscall.ENOSPC) {
		err = e.waitForSpace(ctx, func() error { return write(events...) }, err)
	}
	switch {
	case err == nil:
	case e.ctx.Err() != nil:
		return false // shutting down: the restart resumes from what was saved
	case ctx.Err() != nil:
		// The work was stopped or superseded while it saved; that decision is recorded already
		// and the store refuses a late write against it, so nothing is lost.
		e.log.Debug("state not saved: its work was stopped", "events", len(events))
		return false
	default:
		e.log.Error("save state", "err", err)
		return false
	}
	e.bus.publish(events...)
	return true
}

// enter waits until the execution may enter stage, and takes the stage's lease: nobody else is
// in it, it is not frozen, and (queued mode) no older execution waits for it. In superseded mode
// a newer execution waiting for the same stage replaces this one. An execution found inside the
// stage (resumed) takes its lease back and is not held by a freeze. While it waits, the
// execution records why (Execution.Waiting), for status displays.
func (e *Engine) enter(ctx context.Context, r *run, ex *sluice.Execution, p *plan.Plan, stage *plan.Stage, inside bool) error {
	key := stageKey(r.pipeline, stage.Name)
	e.mu.Lock()
	e.waiting[key] = append(e.waiting[key], r)
	if p.ExecutionMode != sluice.ModeQueued && !inside {
		for _, w := range e.waiting[key] {
			if w.seq < r.seq {
				w.supOnce.Do(func() { close(w.superseded) })
			}
		}
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.waiting[key] = without(e.waiting[key], r)
		e.broadcastLocked()
		e.mu.Unlock()
		if !stopped(r) { // a stop cleared it with everything else
			e.setWaiting(ctx, ex, "")
		}
	}()
	for {
		select {
		case <-r.superseded:
			return errSuperseded
		default:
		}
		e.mu.Lock()
		var ahead *run
		if p.ExecutionMode == sluice.ModeQueued && !inside {
			for _, w := range e.waiting[key] {
				if w.seq < r.seq && (ahead == nil || w.seq < ahead.seq) {
					ahead = w
				}
			}
		}
		changed := e.changed
		e.mu.Unlock()
		why, err := e.mayEnter(ctx, r, stage, key, ahead, inside)
		if err != nil {
			return err
		}
		if why == "" {
			return nil
		}
		e.setWaiting(ctx, ex, why)
		select {
		case <-changed:
		case <-time.After(e.cfg.LeasePoll): // another process may leave, unfreeze or stop
		case <-r.superseded:
		case <-r.stop:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// mayEnter takes the stage for r if it can, and otherwise says why not.
func (e *Engine) mayEnter(ctx context.Context, r *run, stage *plan.Stage, key string, ahead *run, inside bool) (why string, err error) {
	if ahead != nil {
		return fmt.Sprintf("waiting: execution %s came first and waits for %s too (execution_mode: queued)", ahead.id, stage.Name), nil
	}
	if env := stage.Environment; env != "" && !inside {
		if st, err := e.store.Environment(ctx, r.pipeline, env); err == nil && st.Frozen {
			reason := ""
			if st.FrozenReason != "" {
				reason = " (" + st.FrozenReason + ")"
			}
			return fmt.Sprintf("waiting: %s is frozen%s; sluice unfreeze %s lets executions in", env, reason, env), nil
		}
	}
	l, err := e.take(ctx, key, r.id)
	if err == nil {
		r.setStage(key)
		return "", nil
	}
	if sluice.ErrorCode(err) != sluice.ECONFLICT || l == nil {
		return "", fmt.Errorf("enter %s: %w", stage.Name, err)
	}
	holder, herr := e.store.Execution(ctx, l.Owner)
	if sluice.ErrorCode(herr) == sluice.ENOTFOUND || (herr == nil && holder.Status.Done()) {
		// The holder ended without letting go (stopped while no engine ran, say).
		if _, err := e.store.AcquireLease(ctx, key, r.id, l.Owner, e.now(), e.cfg.LeaseTTL); err == nil {
			r.setStage(key)
			return "", nil
		}
		return "waiting to enter " + stage.Name, nil
	}
	if herr != nil {
		return "", fmt.Errorf("enter %s: %w", stage.Name, herr)
	}
	return e.holdsReason(ctx, holder, stage.Name), nil
}

// holdsReason says which execution holds a stage and what it does there, and how to release it:
// "waiting: execution 8eba81b8 holds prod (waiting for approval since 12:03); sluice stop
// 8eba81b8 to release it".
func (e *Engine) holdsReason(ctx context.Context, holder *sluice.Execution, stage string) string {
	doing := "in progress"
	if actions, err := e.store.Actions(ctx, holder.ID); err == nil {
	look:
		for _, a := range actions {
			if a.Stage != stage {
				continue
			}
			switch a.Status {
			case sluice.StatusWaiting:
				doing = "waiting for approval since " + a.StartedAt.Local().Format("15:04")
			case sluice.StatusInProgress:
				doing = "running " + a.Action + " since " + a.StartedAt.Local().Format("15:04")
			default:
				continue
			}
			break look
		}
	}
	return fmt.Sprintf("waiting: execution %s holds %s (%s); sluice stop %s to release it", holder.ID, stage, doing, holder.ID)
}

// setWaiting records what ex waits for, when it changed.
func (e *Engine) setWaiting(ctx context.Context, ex *sluice.Execution, why string) {
	if ex.Waiting == why || e.paused(ctx) {
		return
	}
	ex.Waiting = why
	var events []sluice.Event
	if why != "" {
		events = append(events, sluice.ExecutionWaiting(ex, e.now()))
		e.log.Info(why, "execution", ex.ID)
	}
	bg := context.WithoutCancel(ctx)
	e.save(bg, func(ev ...sluice.Event) error { return e.store.SaveExecution(bg, ex, ev...) }, events...)
}

// leave gives up the stage r is in, if any, and wakes those waiting for it.
func (e *Engine) leave(r *run) {
	if key := r.stageKey(); key != "" {
		if err := e.store.ReleaseLease(context.Background(), key, r.id); err != nil {
			e.log.Warn("leave stage", "execution", r.id, "stage", key, "err", err)
		}
		r.setStage("")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.broadcastLocked()
}

func stopped(r *run) bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// RunOrResume follows the newest execution of rev when there is one — an execution interrupted
// by a stop of the engine resumes rather than being run a second time, and one revision of a
// pipeline runs once unless Run asks for another — and starts one otherwise. resumed says which;
// a resumed execution may have ended already.
func (e *Engine) RunOrResume(ctx context.Context, rev string) (ex *sluice.Execution, resumed bool, err error) {
	route, text, sha, err := e.resolve(ctx, rev)
	if err != nil {
		return nil, false, err
	}
	return e.start(ctx, route, text, sha, false)
}
