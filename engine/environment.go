package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/runner"
	"github.com/sluicehq/sluice/spec"
)

// hookTimeout bounds a lifecycle hook.
const hookTimeout = 10 * time.Minute

// Output keys the environment actions pass to each other.
const (
	outChangeSet = "change_set"
	outApproved  = "approved_change_set"
)

func (ac *actionContext) createChangeSet(ctx context.Context) outcome {
	if _, err := ac.provider(); err != nil {
		return failed(err)
	}
	if _, err := ac.endpoint(ctx); err != nil {
		return failed(err)
	}
	state, err := ac.e.environmentState(ctx, ac.stage.Environment)
	if err != nil {
		return failed(err)
	}
	cs := deploy.Diff(ac.stage.Environment, state.Live, ac.desired())
	if !ac.e.save(ctx, func(ev ...sluice.Event) error { return ac.e.store.SaveChangeSet(ctx, &cs, ev...) },
		ac.e.event("changeset.created", ac.ex.ID+"/"+ac.stage.Name, map[string]any{"environment": cs.Environment, "digest": cs.Digest, "changes": len(cs.Changes)})) {
		return failed(errors.New("could not record the change set"))
	}
	fmt.Fprint(ac.log, FormatChangeSet(&cs))
	return outcome{status: sluice.StatusSucceeded, summary: changeSummary(&cs), outputs: map[string]string{outChangeSet: cs.Digest}}
}

func changeSummary(cs *sluice.ChangeSet) string {
	if cs.Empty() {
		return "no changes " + sluice.ShortDigest(cs.Digest)
	}
	if cs.From == nil {
		return fmt.Sprintf("first version for %s, %d settings %s", cs.Environment, len(cs.Changes), sluice.ShortDigest(cs.Digest))
	}
	const shown = 4
	fields := make([]string, 0, shown+1)
	for i, c := range cs.Changes {
		if i == shown {
			fields = append(fields, fmt.Sprintf("%d more", len(cs.Changes)-shown))
			break
		}
		fields = append(fields, c.Field)
	}
	return fmt.Sprintf("%d changes (%s) %s", len(cs.Changes), strings.Join(fields, ", "), sluice.ShortDigest(cs.Digest))
}

// FormatChangeSet renders a change set for people.
func FormatChangeSet(cs *sluice.ChangeSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "change set %s for %s\n", cs.Digest, cs.Environment)
	if cs.Empty() {
		b.WriteString("  no changes: the environment already runs this\n")
		return b.String()
	}
	for _, c := range cs.Changes {
		mark := "~"
		if c.Replaces {
			mark = "+"
		}
		from := c.From
		if from == "" {
			from = "(none)"
		}
		fmt.Fprintf(&b, "  %s %-22s %s -> %s\n", mark, c.Field, from, c.To)
	}
	b.WriteString("  (+ needs a new version, ~ changes only how traffic moves)\n")
	return b.String()
}

func (ac *actionContext) approval(ctx context.Context) outcome {
	e := ac.e
	digest := ac.output("CreateChangeSet", outChangeSet)
	if digest == "" {
		return failed(errors.New("no change set to approve: CreateChangeSet did not record one"))
	}
	a, err := ac.pendingApproval(ctx, digest)
	if err != nil {
		return failed(err)
	}
	ac.rec.Status = sluice.StatusWaiting
	e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveAction(ctx, ac.rec, ev...) })
	fmt.Fprintf(ac.log, "waiting for approval of change set %s until %s\n", digest, a.ExpiresAt.Format(time.RFC3339))
	for a.Status == sluice.StatusWaiting {
		if !e.now().Before(a.ExpiresAt) {
			a.Status, a.Expired, a.DecidedBy, a.DecidedAt = sluice.StatusRejected, true, "sluice", e.now().UTC()
			a.Comment = "nobody decided within " + a.ExpiresAt.Sub(a.RequestedAt).String()
			err := e.store.DecideApproval(ctx, a, e.event("approval.expired", "env/"+a.Environment, a))
			if sluice.ErrorCode(err) == sluice.ECONFLICT {
				a, err = e.store.Approval(ctx, a.ID) // decided just now by someone
			}
			if err != nil {
				return failed(fmt.Errorf("record expired approval: %w", err))
			}
			continue
		}
		wait := min(e.cfg.ApprovalPoll, time.Until(a.ExpiresAt)+time.Millisecond)
		select {
		case <-ctx.Done():
			return failed(ctx.Err())
		case <-ac.r.stop:
			return failed(errStopped)
		case <-time.After(wait):
		}
		if a, err = e.store.Approval(ctx, a.ID); err != nil {
			return failed(fmt.Errorf("read approval: %w", err))
		}
	}
	if a.Status != sluice.StatusSucceeded {
		why := fmt.Sprintf("rejected by %s", a.DecidedBy)
		if a.Expired {
			why = "approval expired: " + a.Comment
		} else if a.Comment != "" {
			why += ": " + a.Comment
		}
		fmt.Fprintln(ac.log, why)
		return outcome{status: sluice.StatusRejected, summary: why, err: errors.New(why)}
	}
	why := "approved by " + a.DecidedBy
	if a.Comment != "" {
		why += ": " + a.Comment
	}
	fmt.Fprintln(ac.log, why)
	return outcome{status: sluice.StatusSucceeded, summary: why, outputs: map[string]string{outApproved: a.ChangeSetDigest}}
}

// pendingApproval returns the approval this action waits for. A resumed action takes up the
// latest request it made for the same change set, with any decision taken while the engine was
// down; a first run or a retry asks anew.
func (ac *actionContext) pendingApproval(ctx context.Context, digest string) (*sluice.Approval, error) {
	e := ac.e
	list, err := e.store.ListApprovals(ctx, ac.stage.Environment, false)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	for i := range list { // newest first
		a := &list[i]
		if a.ExecutionID != ac.ex.ID || a.ChangeSetDigest != digest {
			continue
		}
		if a.Status == sluice.StatusWaiting || ac.resuming {
			return a, nil
		}
		break
	}
	gate := ac.action.Approval
	now := e.now().UTC()
	a := &sluice.Approval{
		ExecutionID: ac.ex.ID, Environment: ac.stage.Environment, ChangeSetDigest: digest, Approvers: gate.Approvers,
		Status: sluice.StatusWaiting, RequestedAt: now, ExpiresAt: now.Add(time.Duration(gate.Timeout)),
	}
	if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.CreateApproval(ctx, a, ev...) },
		e.event("approval.requested", "env/"+a.Environment, a)) {
		return nil, errors.New("could not record the approval request")
	}
	return a, nil
}

// Decide records a person's decision on the approval waiting in env, with its event. It works
// with or without a running engine: a waiting approval reads its decision from the store.
func Decide(ctx context.Context, st interface {
	ListApprovals(context.Context, string, bool) ([]sluice.Approval, error)
	DecideApproval(context.Context, *sluice.Approval, ...sluice.Event) error
}, env string, approve bool, user, comment string, now time.Time) (*sluice.Approval, sluice.Event, error) {
	var none sluice.Event
	if user == "" {
		return nil, none, sluice.Errorf(sluice.EUNAUTHORIZED, "cannot tell who you are; set SLUICE_USER")
	}
	list, err := st.ListApprovals(ctx, env, true)
	if err != nil {
		return nil, none, fmt.Errorf("list approvals: %w", err)
	}
	if len(list) == 0 {
		return nil, none, sluice.Errorf(sluice.ENOTFOUND, "no approval is waiting in %s; sluice status shows what is pending", env)
	}
	a := &list[0]
	if len(a.Approvers) > 0 && !slices.Contains(a.Approvers, user) {
		return nil, none, sluice.Errorf(sluice.EUNAUTHORIZED, "%s may not decide approvals in %s; approvers: %s (identity comes from SLUICE_USER, else your OS user)", user, env, strings.Join(a.Approvers, ", "))
	}
	a.Status, a.DecidedBy, a.DecidedAt, a.Comment = sluice.StatusRejected, user, now.UTC(), comment
	typ := "approval.rejected"
	if approve {
		a.Status, typ = sluice.StatusSucceeded, "approval.approved"
	}
	ev := NewEvent(typ, "env/"+env, a, now)
	if err := st.DecideApproval(ctx, a, ev); err != nil {
		return nil, none, err
	}
	return a, ev, nil
}

// Decide records a decision and publishes its event.
func (e *Engine) Decide(ctx context.Context, env string, approve bool, user, comment string) (*sluice.Approval, error) {
	a, ev, err := Decide(ctx, e.store, env, approve, user, comment, e.now())
	if err == nil {
		e.bus.publish(ev)
	}
	return a, err
}

func (ac *actionContext) executeChangeSet(ctx context.Context) outcome {
	e := ac.e
	provider, err := ac.provider()
	if err != nil {
		return failed(err)
	}
	created := ac.output("CreateChangeSet", outChangeSet)
	approved := ac.output("Approval", outApproved)
	lock := e.environmentLock(ac.stage.Environment)
	lock.Lock()
	defer lock.Unlock()
	state, err := e.environmentState(ctx, ac.stage.Environment)
	if err != nil {
		return failed(err)
	}
	to := ac.desired()
	cs := deploy.Diff(ac.stage.Environment, state.Live, to)
	switch {
	case ac.hasApproval() && approved == "":
		return failed(errors.New("no approved change set: the approval did not record one; run again"))
	case approved != "" && cs.Digest != approved:
		return failed(sluice.Errorf(sluice.ECONFLICT, "what %s runs changed after change set %s was approved (it would now be %s); nothing was deployed. Run again to review and approve the new change set",
			ac.stage.Environment, sluice.ShortDigest(approved), sluice.ShortDigest(cs.Digest)))
	case approved == "" && created != "" && cs.Digest != created:
		return failed(sluice.Errorf(sluice.ECONFLICT, "what %s runs changed after change set %s was created (it would now be %s); nothing was deployed. Run again",
			ac.stage.Environment, sluice.ShortDigest(created), sluice.ShortDigest(cs.Digest)))
	case cs.Empty():
		return succeeded("no changes; " + ac.stage.Environment + " already runs this")
	case !deploy.NeedsNewVersion(&cs):
		state.Live.Strategy = to.Strategy
		state.UpdatedAt = e.now().UTC()
		if err := e.store.SaveEnvironment(ctx, state); err != nil {
			return failed(fmt.Errorf("record strategy: %w", err))
		}
		return succeeded("recorded the new strategy; the running version is unchanged")
	}
	d := &sluice.Deployment{
		Environment: ac.stage.Environment, ExecutionID: ac.ex.ID, ChangeSetDigest: cs.Digest, To: to.Artifact,
		Revision: to.Revision, Strategy: to.Strategy.String(), Status: sluice.StatusInProgress, StartedAt: e.now().UTC(),
	}
	if state.Live != nil {
		d.From = state.Live.Artifact
	}
	result, err := e.deploy(ctx, provider, state, to, d, ac.environment(), ac.hookRunner(), ac.log)
	if err != nil {
		return failed(err)
	}
	switch result.Status {
	case sluice.StatusSucceeded:
		e.problems.Delete(ac.stage.Environment)
		return succeeded(fmt.Sprintf("deployed %s with %s", sluice.ShortRevision(to.Revision), to.Strategy))
	case sluice.StatusRolledBack:
		return outcome{status: sluice.StatusRolledBack, summary: "rolled back: " + result.Reason, err: errors.New("rolled back: " + result.Reason)}
	}
	return failed(errors.New(result.Reason))
}

// deploy records a deployment, runs it through the provider and records how it ended and what
// the environment runs now. The environment's lock must be held.
func (e *Engine) deploy(ctx context.Context, p deploy.Provider, state *sluice.EnvironmentState, to sluice.Version, d *sluice.Deployment, route *spec.Environment, hook func(context.Context, string, string) error, log io.Writer) (deploy.Result, error) {
	env := d.Environment
	if err := e.store.CreateDeployment(ctx, d, e.event("deployment.started", "env/"+env, d)); err != nil {
		return deploy.Result{}, fmt.Errorf("record deployment: %w", err)
	}
	state.Deploying, state.DeploymentID, state.UpdatedAt = &to, d.ID, e.now().UTC()
	if err := e.store.SaveEnvironment(ctx, state); err != nil {
		return deploy.Result{}, fmt.Errorf("record deployment: %w", err)
	}
	req := deploy.Request{
		Environment: env, Listen: state.Address, From: state.Live, To: to, Secrets: e.secretMap(to.Secrets),
		Alarms: route.Deploy.Alarms, Sticky: route.Deploy.Sticky, DrainTimeout: route.Deploy.DrainTimeout, Hook: hook,
		Progress: func(pr deploy.Progress) {
			e.setProgress(env, pr)
			ev := e.event("deployment.progress", "env/"+env, map[string]any{"deployment": d.ID, "phase": pr.Phase, "weight": pr.Weight})
			e.bus.publish(ev)
		},
		Log: func(format string, args ...any) {
			fmt.Fprintf(log, "%s "+format+"\n", append([]any{e.now().Format("15:04:05.000")}, args...)...)
		},
	}
	result, err := p.Deploy(ctx, req)
	e.clearProgress(env)
	if e.ctx.Err() != nil {
		return deploy.Result{}, e.ctx.Err() // shutting down: the restart rolls back and records it
	}
	if err != nil && result.Status == "" {
		result = deploy.Result{Status: sluice.StatusFailed, Reason: err.Error()}
	}
	bg := context.WithoutCancel(ctx)
	d.Status, d.Reason, d.Rollback, d.EndedAt = result.Status, result.Reason, result.Rollback, e.now().UTC()
	e.save(bg, func(ev ...sluice.Event) error { return e.store.SaveDeployment(bg, d, ev...) }, e.event("deployment."+eventVerb(d.Status), "env/"+env, d))
	if result.Status == sluice.StatusSucceeded {
		state.Previous, state.Live = state.Live, &to
	}
	state.Deploying, state.DeploymentID, state.UpdatedAt = nil, 0, e.now().UTC()
	if err := e.store.SaveEnvironment(bg, state); err != nil {
		return result, fmt.Errorf("record what %s runs: %w", env, err)
	}
	return result, nil
}

func (ac *actionContext) hasApproval() bool {
	for _, a := range ac.stage.Actions {
		if a.Kind == sluice.KindApproval {
			return true
		}
	}
	return false
}

// hookRunner runs the environment's lifecycle hooks in the execution's workspace.
func (ac *actionContext) hookRunner() func(context.Context, string, string) error {
	hooks := ac.environment().Deploy.Hooks
	return func(ctx context.Context, phase, endpoint string) error {
		command := hooks.PreTraffic
		if phase == "post_traffic" {
			command = hooks.PostTraffic
		}
		if command == "" {
			return nil
		}
		dir, err := ac.workspace(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(ac.log, "%s hook $ %s (SLUICE_ENDPOINT=%s)\n", phase, command, endpoint)
		_, err = runner.Run(ctx, runner.Command{
			Name: phase + " hook", Dir: dir, Shell: command, Env: ac.environ(nil, endpoint), Timeout: hookTimeout,
			Output: ac.log, Ledger: ac.e.ledger,
		})
		if err != nil {
			return fmt.Errorf("%s hook failed: %w", phase, err)
		}
		return nil
	}
}

// restoreFailed reports an environment whose live version could not be restored at start: in
// the log, as an event, and in status until a deployment or rollback succeeds.
func (e *Engine) restoreFailed(ctx context.Context, state *sluice.EnvironmentState, err error) {
	what := "its live version"
	if state.Live != nil {
		what = "live version " + sluice.ShortRevision(state.Live.Revision)
	}
	problem := fmt.Sprintf("could not restore %s at start: %v; deploy it again with sluice run or sluice rollback %s", what, err, state.Name)
	e.problems.Store(state.Name, problem)
	e.log.Error("environment not restored; the others serve", "environment", state.Name, "err", err)
	e.save(ctx, func(ev ...sluice.Event) error { return e.store.AppendEvents(ctx, ev...) },
		e.event("environment.restore_failed", "env/"+state.Name, map[string]any{"environment": state.Name, "error": err.Error()}))
}

// Problem says why env does not serve as recorded, or "" if nothing is known to be wrong.
func (e *Engine) Problem(env string) string {
	if v, ok := e.problems.Load(env); ok {
		return v.(string)
	}
	return ""
}
