package engine

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/runner"
)

// outcome is how an action ended.
type outcome struct {
	status  sluice.Status
	summary string
	err     error
	outputs map[string]string
}

func succeeded(summary string) outcome {
	return outcome{status: sluice.StatusSucceeded, summary: summary}
}
func failed(err error) outcome { return outcome{status: sluice.StatusFailed, err: err} }

// severity orders failure statuses: the most telling one names a stage's end.
var severity = map[sluice.Status]int{sluice.StatusFailed: 1, sluice.StatusStopped: 2, sluice.StatusRolledBack: 3, sluice.StatusRejected: 4}

// runStage runs a stage's actions group by group (equal run orders in parallel) and returns the
// stage's status and, when it did not succeed, why.
func (e *Engine) runStage(ctx context.Context, r *run, ex *sluice.Execution, p *plan.Plan, stage *plan.Stage) (sluice.Status, string) {
	// Loaded once per stage; each group's results are copied in after it, so later groups see
	// earlier outputs without reading every action again.
	records, err := e.store.Actions(ctx, ex.ID)
	if err != nil {
		return sluice.StatusFailed, fmt.Sprintf("load actions: %v", err)
	}
	for _, group := range stage.Groups() {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			worst  sluice.Status
			reason string
			done   []doneAction
		)
		for _, a := range group {
			found := findAction(records, stage.Name, a.Name)
			if found == nil || found.Status.OK() {
				continue
			}
			// Actions of a group run in parallel and read records (outputs of earlier actions):
			// each changes only its own copy.
			rec := *found
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, why := e.runAction(ctx, r, ex, p, stage, a, &rec, records)
				mu.Lock()
				defer mu.Unlock()
				done = append(done, doneAction{found, rec})
				if !status.OK() && severity[status] >= severity[worst] {
					worst, reason = status, why
				}
			}()
		}
		wg.Wait()
		for _, d := range done {
			*d.slot = d.rec
		}
		if worst != "" {
			e.discardUnsettled(ctx, r, ex.Pipeline, p, stage, records)
			return worst, reason
		}
	}
	return sluice.StatusSucceeded, ""
}

// discardUnsettled tells the provider to let go of the change set the stage prepared when the
// stage ends without applying it: rejected, expired, stopped or failed before ExecuteChangeSet
// settled it. An engine shutting down keeps it: the execution resumes with it.
func (e *Engine) discardUnsettled(ctx context.Context, r *run, pipeline string, p *plan.Plan, stage *plan.Stage, records []sluice.ActionExecution) {
	if stage.Environment == "" || e.paused(ctx) {
		return
	}
	var created string
	for _, rec := range records {
		if rec.Stage == stage.Name {
			created = cmp.Or(created, rec.Outputs[outChangeSet])
		}
	}
	if _, settled := r.settled.Load(created); created == "" || settled {
		return
	}
	env := p.Environment(stage.Environment)
	if env == nil {
		return
	}
	provider, err := e.provider(env)
	if err != nil {
		return
	}
	bg := context.WithoutCancel(ctx)
	cs, err := e.store.ChangeSet(bg, created)
	if err != nil {
		e.log.Warn("read the change set to discard", "environment", stage.Environment, "digest", created, "err", err)
		return
	}
	e.discard(bg, provider, target(p, pipeline, env, nil), cs)
}

// doneAction is an action's record after it ran, and where it goes in the stage's records.
type doneAction struct {
	slot *sluice.ActionExecution
	rec  sluice.ActionExecution
}

// runAction runs one action, recording its start before and its end after.
func (e *Engine) runAction(ctx context.Context, r *run, ex *sluice.Execution, p *plan.Plan, stage *plan.Stage, a plan.Action, rec *sluice.ActionExecution, records []sluice.ActionExecution) (sluice.Status, string) {
	// An action found running or waiting was interrupted by a stop of the engine: this run
	// resumes it (an approval picks up the request it made, and any decision taken meanwhile).
	resuming := rec.Status == sluice.StatusInProgress || rec.Status == sluice.StatusWaiting
	rec.Status, rec.Attempt, rec.StartedAt, rec.EndedAt, rec.Error, rec.Summary = sluice.StatusInProgress, rec.Attempt+1, e.now().UTC(), time.Time{}, "", ""
	if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveAction(ctx, rec, ev...) }, sluice.ActionStarted(rec, e.now())) {
		return sluice.StatusFailed, "could not record the action's start"
	}
	logw, closeLog, err := e.openLog(ex.ID, stage.Name, a.Name, p)
	if err != nil {
		return sluice.StatusFailed, err.Error()
	}
	fmt.Fprintf(logw, "--- %s %s, attempt %d, %s\n", stage.Name, a.Name, rec.Attempt, rec.StartedAt.Format(time.RFC3339))
	ac := &actionContext{e: e, r: r, ex: ex, plan: p, stage: stage, action: a, rec: rec, records: records, log: logw, resuming: resuming}
	out := ac.perform(ctx)
	closeLog()
	if e.paused(ctx) {
		return sluice.StatusStopped, "the engine is shutting down" // resumes where it is driven next
	}
	if !out.status.OK() && !stopped(r) && e.stopRecorded(ctx, ex.ID) {
		// A stop is written down before the run is told of it, so what the stop did (the
		// approval it rejected) can reach this action first: the action was stopped, not
		// rejected, and nothing after it may write otherwise.
		r.stopOnce.Do(func() { close(r.stop) })
		r.cancel(errStopped)
	}
	if stopped(r) && !out.status.OK() {
		out.status, out.err = sluice.StatusStopped, fmt.Errorf("stopped by request")
	}
	rec.Status, rec.EndedAt, rec.Summary, rec.Outputs = out.status, e.now().UTC(), out.summary, out.outputs
	if out.err != nil {
		rec.Error = out.err.Error()
	}
	e.save(context.WithoutCancel(ctx), func(ev ...sluice.Event) error { return e.store.SaveAction(context.WithoutCancel(ctx), rec, ev...) },
		sluice.ActionEnded(rec, e.now()))
	why := rec.Error
	if why == "" {
		why = rec.Summary
	}
	return rec.Status, fmt.Sprintf("%s %s: %s", stage.Name, a.Name, why)
}

// stopRecorded reports whether execution id is recorded as stopped.
func (e *Engine) stopRecorded(ctx context.Context, id string) bool {
	ex, err := e.store.Execution(context.WithoutCancel(ctx), id)
	return err == nil && ex.Status == sluice.StatusStopped
}

// openLog opens the action's log for appending, masking the route's secrets.
func (e *Engine) openLog(id, stage, action string, p *plan.Plan) (io.Writer, func(), error) {
	dir := e.LogDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create log folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LogName(stage, action)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open action log: %w", err)
	}
	w := runner.NewMaskWriter(f, e.secretValues(p.SecretNames()))
	return w, func() {
		_ = w.Close()
		_ = f.Close()
	}, nil
}

// LogName is the file name of an action's log inside an execution's log folder.
func LogName(stage, action string) string { return stage + "." + action + ".log" }

func findAction(records []sluice.ActionExecution, stage, action string) *sluice.ActionExecution {
	for i := range records {
		if records[i].Stage == stage && records[i].Action == action {
			return &records[i]
		}
	}
	return nil
}
