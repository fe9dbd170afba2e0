package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/runner"
)

// hookTimeout bounds a lifecycle hook.
const hookTimeout = 10 * time.Minute

// Output keys the environment actions pass to each other.
const (
	outChangeSet = "change_set"
	outApproved  = "approved_change_set"
)

func (ac *actionContext) createChangeSet(ctx context.Context) outcome {
	provider, err := ac.provider()
	if err != nil {
		return failed(err)
	}
	if _, err := ac.endpoint(ctx); err != nil {
		return failed(err)
	}
	state, err := ac.e.environmentState(ctx, ac.ex.Pipeline, ac.stage.Environment)
	if err != nil {
		return failed(err)
	}
	cs, err := ac.e.prepare(ctx, provider, ac.target(state), state.Live, ac.desired())
	if err != nil {
		return failed(err)
	}
	if !ac.e.save(ctx, func(ev ...sluice.Event) error { return ac.e.store.SaveChangeSet(ctx, cs, ev...) },
		sluice.ChangeSetCreated(ac.ex.ID, ac.stage.Name, cs, ac.e.now())) {
		ac.e.discard(ctx, provider, ac.target(nil), cs)
		return failed(errors.New("could not record the change set"))
	}
	fmt.Fprint(ac.log, FormatChangeSet(cs))
	return outcome{status: sluice.StatusSucceeded, summary: changeSummary(cs), outputs: map[string]string{outChangeSet: cs.Digest}}
}

// target is the action's environment as its provider sees it (see target).
func (ac *actionContext) target(state *sluice.EnvironmentState) deploy.Environment {
	t := target(ac.plan, ac.ex.Pipeline, ac.environment(), state)
	t.Execution = ac.ex.ID
	return t
}

// prepare asks the provider for the change set that takes env from live to `to`.
func (e *Engine) prepare(ctx context.Context, p deploy.Provider, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error) {
	cs, err := p.Prepare(ctx, env, live, to)
	if err != nil {
		return nil, fmt.Errorf("prepare the change set of %s: %w", env.Name, err)
	}
	if cs == nil || cs.Digest == "" || cs.Environment != env.Name {
		return nil, sluice.Errorf(sluice.EINTERNAL, "the provider of %s prepared no sealed change set for it; this is a bug in the provider", env.Name)
	}
	return cs, nil
}

// discard tells the provider that cs will not be applied. A failure leaves at worst something
// the provider holds for nothing (an AWS change set), so it is logged and the execution goes on.
func (e *Engine) discard(ctx context.Context, p deploy.Provider, env deploy.Environment, cs *sluice.ChangeSet) {
	if err := p.Discard(context.WithoutCancel(ctx), env, cs); err != nil {
		e.log.Warn("discard change set", "environment", env.Name, "digest", cs.Digest, "err", err)
	}
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
	if cs, err := e.store.ChangeSet(ctx, digest); err == nil && cs.Empty() {
		fmt.Fprintf(ac.log, "change set %s has no changes: %s already runs this, so there is nothing to approve or deploy\n", digest, ac.stage.Environment)
		return outcome{status: sluice.StatusSucceeded, summary: "no changes: nothing to approve", outputs: map[string]string{outApproved: digest}}
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
			ev, err := expire(ctx, e.store, a, e.now())
			if sluice.ErrorCode(err) == sluice.ECONFLICT {
				a, err = e.store.Approval(ctx, a.ID) // decided just now by someone
			} else if err == nil {
				e.bus.publish(ev)
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
	list, err := e.store.ListApprovals(ctx, ac.ex.Pipeline, ac.stage.Environment, false)
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
		ExecutionID: ac.ex.ID, Pipeline: ac.ex.Pipeline, Environment: ac.stage.Environment, ChangeSetDigest: digest, Approvers: gate.Approvers,
		Status: sluice.StatusWaiting, RequestedAt: now, ExpiresAt: now.Add(time.Duration(gate.Timeout)),
	}
	var requested []sluice.Event
	if !e.save(ctx, func(...sluice.Event) error {
		return e.store.CreateApproval(ctx, a, func(a *sluice.Approval) []sluice.Event {
			requested = []sluice.Event{sluice.ApprovalRequested(a, e.now())}
			return requested
		})
	}) {
		return nil, errors.New("could not record the approval request")
	}
	e.bus.publish(requested...)
	return a, nil
}

// expire records that nobody decided a on time: a rejection.
func expire(ctx context.Context, st interface {
	DecideApproval(context.Context, *sluice.Approval, ...sluice.Event) error
}, a *sluice.Approval, now time.Time) (sluice.Event, error) {
	a.Status, a.Expired, a.DecidedBy, a.DecidedAt = sluice.StatusRejected, true, "sluice", now.UTC()
	a.Comment = "nobody decided within " + a.ExpiresAt.Sub(a.RequestedAt).String()
	ev := sluice.ApprovalDecided(a, now)
	return ev, st.DecideApproval(ctx, a, ev)
}

// Decision is a person's decision on the approval waiting in an environment.
type Decision struct {
	// Pipeline is the ID of the environment's pipeline. Engine.Decide takes "" as the main
	// pipeline; the package-level Decide needs it.
	Pipeline    string
	Environment string
	// ChangeSet is the digest (or a prefix of at least 6 hex digits) of the change set the
	// person reviewed. Required to approve: an approval binds what was reviewed, never whatever
	// is waiting now. Optional to reject.
	ChangeSet string
	Approve   bool
	User      string
	Comment   string
}

// Decide records a person's decision on the approval waiting in d.Environment, and returns the
// approval with the events it stored. It works with or without a running engine: a waiting
// approval reads its decision from the store. An approval past its expiry is recorded as expired
// (a rejection) and the decision is refused.
func Decide(ctx context.Context, st interface {
	ListApprovals(context.Context, string, string, bool) ([]sluice.Approval, error)
	DecideApproval(context.Context, *sluice.Approval, ...sluice.Event) error
}, d Decision, now time.Time) (*sluice.Approval, []sluice.Event, error) {
	env := d.Environment
	if d.User == "" {
		return nil, nil, sluice.Errorf(sluice.EUNAUTHORIZED, "cannot tell who you are; set SLUICE_USER")
	}
	if d.Pipeline == "" {
		return nil, nil, sluice.Errorf(sluice.EINVALID, "a decision on %s needs the environment's pipeline (sluice pipelines lists them)", env)
	}
	list, err := st.ListApprovals(ctx, d.Pipeline, env, true)
	if err != nil {
		return nil, nil, fmt.Errorf("list approvals: %w", err)
	}
	if len(list) == 0 {
		return nil, nil, sluice.Errorf(sluice.ENOTFOUND, "no approval is waiting in %s; sluice status shows what is pending", env)
	}
	a := &list[0]
	if !now.Before(a.ExpiresAt) {
		ev, err := expire(ctx, st, a, now)
		if err != nil {
			return nil, nil, err
		}
		return a, []sluice.Event{ev}, sluice.Errorf(sluice.ECONFLICT, "the approval of change set %s in %s expired at %s, which counts as a rejection; run the pipeline again to ask for a new approval",
			sluice.ShortDigest(a.ChangeSetDigest), env, a.ExpiresAt.Local().Format(time.RFC3339))
	}
	if err := matchChangeSet(a, d); err != nil {
		return nil, nil, err
	}
	if len(a.Approvers) > 0 && !slices.Contains(a.Approvers, d.User) {
		return nil, nil, sluice.Errorf(sluice.EUNAUTHORIZED, "%s may not decide approvals in %s; approvers: %s (identity comes from SLUICE_USER, else your OS user)", d.User, env, strings.Join(a.Approvers, ", "))
	}
	a.Status, a.DecidedBy, a.DecidedAt, a.Comment = sluice.StatusRejected, d.User, now.UTC(), d.Comment
	if d.Approve {
		a.Status = sluice.StatusSucceeded
	}
	ev := sluice.ApprovalDecided(a, now)
	if err := st.DecideApproval(ctx, a, ev); err != nil {
		return nil, nil, err
	}
	return a, []sluice.Event{ev}, nil
}

// matchChangeSet checks that the decision names the change set waiting in a.
func matchChangeSet(a *sluice.Approval, d Decision) error {
	named := strings.ToLower(strings.TrimSpace(d.ChangeSet))
	if named == "" {
		if !d.Approve {
			return nil
		}
		return sluice.Errorf(sluice.EINVALID, "name the change set you reviewed: sluice approve %s --change-set %s (sluice changeset %s shows it)",
			d.Environment, sluice.ShortDigest(a.ChangeSetDigest), d.Environment)
	}
	hex := strings.TrimPrefix(named, "sha256:")
	if len(hex) < 6 || strings.Trim(hex, "0123456789abcdef") != "" {
		return sluice.Errorf(sluice.EINVALID, "--change-set %q is not a change-set digest or a prefix of at least 6 hex digits, such as %s", d.ChangeSet, sluice.ShortDigest(a.ChangeSetDigest))
	}
	if !strings.HasPrefix(strings.TrimPrefix(a.ChangeSetDigest, "sha256:"), hex) {
		return sluice.Errorf(sluice.ECONFLICT, "the change set waiting in %s is %s, not the %s you named; nothing was decided. Review it with sluice changeset %s and decide on it by its digest",
			d.Environment, a.ChangeSetDigest, d.ChangeSet, d.Environment)
	}
	return nil
}

// Decide records a decision and publishes its events.
func (e *Engine) Decide(ctx context.Context, d Decision) (*sluice.Approval, error) {
	var err error
	if d.Pipeline, err = e.ResolvePipeline(ctx, d.Pipeline); err != nil {
		return nil, err
	}
	a, events, err := Decide(ctx, e.store, d, e.now())
	e.bus.publish(events...)
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
	switch {
	case created == "":
		return failed(errors.New("no change set to execute: CreateChangeSet did not record one; run again"))
	case ac.hasApproval() && approved == "":
		return failed(errors.New("no approved change set: the approval did not record one; run again"))
	case approved != "" && approved != created:
		return failed(sluice.Errorf(sluice.ECONFLICT, "the approved change set %s is not the one this execution created (%s); nothing was deployed. Run again",
			sluice.ShortDigest(approved), sluice.ShortDigest(created)))
	}
	cs, err := e.store.ChangeSet(ctx, created)
	if err != nil {
		return failed(fmt.Errorf("read change set %s: %w", sluice.ShortDigest(created), err))
	}
	// From here the change set is settled: applied, or discarded when it is not.
	ac.r.settled.Store(cs.Digest, true)
	release, err := e.holdEnvironment(ctx, ac.ex.Pipeline, ac.stage.Environment, func(why string) { fmt.Fprintln(ac.log, why) })
	if err != nil {
		return failed(err)
	}
	defer release()
	state, err := e.environmentState(ctx, ac.ex.Pipeline, ac.stage.Environment)
	if err != nil {
		return failed(err)
	}
	to := ac.desired()
	if !sameVersion(cs.From, state.Live) || !sameVersion(&cs.To, &to) {
		e.discard(ctx, provider, ac.target(nil), cs)
		what := "created"
		if approved != "" {
			what = "approved"
		}
		return outcome{status: sluice.StatusFailed, err: sluice.Errorf(sluice.ECONFLICT, "what %s runs, or should run, changed after change set %s was %s; nothing was deployed. Run again to review the new change set",
			ac.stage.Environment, sluice.ShortDigest(cs.Digest), what)}
	}
	switch {
	case cs.Empty():
		e.discard(ctx, provider, ac.target(nil), cs)
		return outcome{status: sluice.StatusSucceeded, summary: "no changes; " + ac.stage.Environment + " already runs this"}
	case !deploy.NeedsNewVersion(cs):
		e.discard(ctx, provider, ac.target(nil), cs)
		state.Live.Strategy = cs.To.Strategy
		state.UpdatedAt = e.now().UTC()
		if err := e.store.SaveEnvironment(ctx, state); err != nil {
			return outcome{status: sluice.StatusFailed, err: fmt.Errorf("record strategy: %w", err)}
		}
		return outcome{status: sluice.StatusSucceeded, summary: "recorded the new strategy; the running version is unchanged"}
	}
	d := &sluice.Deployment{
		Pipeline: ac.ex.Pipeline, Environment: ac.stage.Environment, ExecutionID: ac.ex.ID, ChangeSetDigest: cs.Digest, To: cs.To.Artifact,
		Revision: cs.To.Revision, Strategy: cs.To.Strategy.String(), Status: sluice.StatusInProgress, StartedAt: e.now().UTC(),
	}
	if state.Live != nil {
		d.From = state.Live.Artifact
	}
	result, err := e.deploy(ctx, provider, ac.plan, state, cs, d, ac.environment(), ac.hookRunner(), ac.log)
	if err != nil {
		return outcome{status: sluice.StatusFailed, err: err}
	}
	switch result.Status {
	case sluice.StatusSucceeded:
		e.problems.Delete(instanceName(ac.plan, ac.ex.Pipeline, ac.stage.Environment))
		return outcome{status: sluice.StatusSucceeded, summary: fmt.Sprintf("deployed %s with %s", sluice.ShortRevision(cs.To.Revision), cs.To.Strategy)}
	case sluice.StatusRolledBack:
		return outcome{status: sluice.StatusRolledBack, summary: "rolled back: " + result.Reason, err: errors.New("rolled back: " + result.Reason)}
	}
	return outcome{status: sluice.StatusFailed, err: errors.New(result.Reason)}
}

// sameVersion reports whether a and b are the same version, as the store would record them.
func sameVersion(a, b *sluice.Version) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// deploy records a deployment, runs it through the provider and records how it ended and what
// the environment runs now. The environment's lock must be held.
func (e *Engine) deploy(ctx context.Context, p deploy.Provider, routeSpec *plan.Plan, state *sluice.EnvironmentState, cs *sluice.ChangeSet, d *sluice.Deployment, route *plan.Environment, hook func(context.Context, string, string, map[string]string) error, log io.Writer) (deploy.Result, error) {
	env := d.Environment
	to := cs.To
	state.Deploying, state.UpdatedAt = &to, e.now().UTC()
	var started []sluice.Event
	err := e.store.StartDeployment(ctx, d, state, func(d *sluice.Deployment) []sluice.Event {
		started = []sluice.Event{sluice.DeploymentStarted(d, e.now())}
		return started
	})
	if err != nil {
		state.Deploying = nil
		return deploy.Result{}, fmt.Errorf("record deployment: %w", err)
	}
	e.bus.publish(started...)
	where := target(routeSpec, d.Pipeline, route, state)
	instance := where.Name
	req := deploy.Request{
		Environment: where, ChangeSet: cs, Secrets: e.secretMap(to.Secrets),
		Alarms: route.Deploy.Alarms, Sticky: route.Deploy.Sticky, DrainTimeout: time.Duration(route.Deploy.DrainTimeout), Hook: hook,
		Progress: func(pr deploy.Progress) {
			e.setProgress(instance, pr)
			ev := sluice.DeploymentProgressed(sluice.DeploymentProgress{Deployment: d.ID, Environment: env, Phase: pr.Phase, Weight: pr.Weight}, e.now())
			e.bus.publish(ev)
		},
		Log: func(format string, args ...any) {
			fmt.Fprintf(log, "%s "+format+"\n", append([]any{e.now().Format("15:04:05.000")}, args...)...)
		},
	}
	result, err := p.Apply(ctx, req)
	e.clearProgress(instance)
	if e.paused(ctx) {
		return deploy.Result{}, context.Cause(ctx) // shutting down: the restart rolls back and records it
	}
	if err != nil && result.Status == "" {
		result = deploy.Result{Status: sluice.StatusFailed, Reason: err.Error()}
	}
	bg := context.WithoutCancel(ctx)
	requested := d.Rollback // a manual rollback: who asked and why, kept once it succeeds
	d.Status, d.Reason, d.Rollback, d.EndedAt = result.Status, result.Reason, result.Rollback, e.now().UTC()
	if requested != nil && result.Status == sluice.StatusSucceeded {
		requested.RestoredAt = d.EndedAt
		d.Rollback, d.Reason = requested, "rolled back by "+orSomeone(requested.By)
	}
	if result.Status == sluice.StatusSucceeded {
		state.Previous, state.Live = state.Live, &to
	}
	state.Deploying, state.DeploymentID, state.UpdatedAt = nil, 0, e.now().UTC()
	ended := sluice.DeploymentEnded(d, e.now())
	if err := e.store.EndDeployment(bg, d, state, ended); err != nil {
		return result, fmt.Errorf("record what %s runs: %w", env, err)
	}
	e.bus.publish(ended)
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
func (ac *actionContext) hookRunner() func(context.Context, string, string, map[string]string) error {
	hooks := ac.environment().Deploy.Hooks
	return func(ctx context.Context, phase, endpoint string, extra map[string]string) error {
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
			Name: phase + " hook", Dir: dir, Shell: command, Env: ac.environ(extra, endpoint), Timeout: hookTimeout,
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
func (e *Engine) restoreFailed(ctx context.Context, route *plan.Plan, state *sluice.EnvironmentState, err error) {
	what := "its live version"
	if state.Live != nil {
		what = "live version " + sluice.ShortRevision(state.Live.Revision)
	}
	problem := fmt.Sprintf("could not restore %s at start: %v; deploy it again with sluice run or sluice rollback %s", what, err, state.Name)
	e.problems.Store(instanceName(route, state.Pipeline, state.Name), problem)
	e.log.Error("environment not restored; the others serve", "environment", state.Name, "err", err)
	e.save(ctx, func(ev ...sluice.Event) error { return e.store.AppendEvents(ctx, ev...) },
		sluice.EnvironmentRestoreFailed(state, err, e.now()))
}

// Problem says why the environment known to providers as instance (see instanceName; an
// environment's name in the main pipeline) does not serve as recorded, or "" if nothing is
// known to be wrong.
func (e *Engine) Problem(env string) string {
	if v, ok := e.problems.Load(env); ok {
		return v.(string)
	}
	return ""
}
