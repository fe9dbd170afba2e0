package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

// stackLimit bounds the wait for a stack update.
const stackLimit = 2 * time.Hour

// Apply executes exactly the prepared change set, following the stack's events, then publishes
// the function's new version and shifts its alias by the strategy while the alarms watch.
func (p *Provider) Apply(ctx context.Context, req deploy.Request) (deploy.Result, error) {
	env := req.Environment
	defer p.forgetStatus(env.Name)
	logf := req.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	progress := req.Progress
	if progress == nil {
		progress = func(deploy.Progress) {}
	}
	t, err := targetOf(env)
	if err != nil {
		return deploy.Result{}, err
	}
	d, err := detailOf(req.ChangeSet)
	if err != nil {
		return deploy.Result{}, err
	}
	if d == nil {
		return deploy.Result{}, sluice.Errorf(sluice.EINVALID, "change set %s of %s was not prepared by the aws provider; prepare it again", short(req.ChangeSet.Digest), env.Name)
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return deploy.Result{}, err
	}
	progress(deploy.Progress{Phase: "starting"})
	if !req.ChangeSet.Empty() && !d.StackUnchanged {
		cs, err := s.cfn.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{StackName: &d.Stack, ChangeSetName: ptr(d.ref())})
		if notFound(err) || (err == nil && cs.ExecutionStatus != cfntypes.ExecutionStatusAvailable) {
			state := "gone"
			if err == nil {
				state = string(cs.ExecutionStatus)
			}
			return deploy.Result{}, sluice.Errorf(sluice.ECONFLICT, "change set %s of stack %s can no longer be executed (%s); run again to prepare a new one", d.ChangeSet, d.Stack, state)
		}
		if err != nil {
			return deploy.Result{}, fmt.Errorf("read change set %s of stack %s: %w", d.ChangeSet, d.Stack, err)
		}
		token := "sluice-" + strings.TrimPrefix(req.ChangeSet.Digest, "sha256:")[:32]
		started := time.Now().Add(-time.Second)
		logf("executing change set %s of stack %s (%d resource changes)", d.ChangeSet, d.Stack, len(d.Resources))
		if _, err := s.cfn.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{StackName: &d.Stack, ChangeSetName: ptr(d.ref()), ClientRequestToken: &token}); err != nil {
			return deploy.Result{}, fmt.Errorf("execute change set %s of stack %s: %w", d.ChangeSet, d.Stack, explain(err))
		}
		var watch *codeDeployWatch
		var each func(context.Context) error
		if d.CodeDeploy {
			watch = &codeDeployWatch{s: s, t: t, logf: logf, progress: progress}
			each = watch.poll
		}
		failure, err := p.follow(ctx, s, d.Stack, token, started, logf, each)
		if watch != nil {
			return watch.result(ctx, p, d.Stack, token, started, failure, err)
		}
		if err != nil {
			return deploy.Result{}, err
		}
		if failure != "" {
			progress(deploy.Progress{Phase: "done"})
			return deploy.Result{Status: sluice.StatusFailed, Reason: failure}, nil
		}
	}
	if t.Function == "" {
		progress(deploy.Progress{Phase: "done", Weight: 100})
		return deploy.Result{Status: sluice.StatusSucceeded}, nil
	}
	return p.shift(ctx, s, t, req, logf, progress)
}

// shift publishes the function's code as a new version and moves the alias onto it.
func (p *Provider) shift(ctx context.Context, s *session, t *Target, req deploy.Request, logf func(string, ...any), progress func(deploy.Progress)) (deploy.Result, error) {
	fn, err := p.functionName(ctx, s, t)
	if err != nil {
		return deploy.Result{}, err
	}
	pub, err := s.lambda.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: &fn,
		Description: ptr(fmt.Sprintf("Sluice %s at %s", short(req.ChangeSet.To.Artifact), req.ChangeSet.To.Revision))})
	if err != nil {
		return deploy.Result{}, fmt.Errorf("publish a version of %s: %w", fn, explain(err))
	}
	newVersion := deref(pub.Version)
	old, exists, err := aliasVersion(ctx, s, fn, t.Alias)
	if err != nil {
		return deploy.Result{}, err
	}
	if old == newVersion {
		logf("alias %s of %s already serves version %s", t.Alias, fn, newVersion)
		progress(deploy.Progress{Phase: "done", Weight: 100})
		return deploy.Result{Status: sluice.StatusSucceeded}, nil
	}
	logf("published version %s of %s; alias %s serves %s", newVersion, fn, t.Alias, versionText(old))
	progress(deploy.Progress{Phase: "healthy"})
	endpoint, err := p.endpointOf(ctx, s, t)
	if err != nil {
		return deploy.Result{}, err
	}
	tr := newAliasTraffic(s, t, fn, old, newVersion, req.Alarms, logf)
	tr.exists, tr.onLatest = exists, exists && old == ""
	tr.moved = func() { p.forgetStatus(req.Environment.Name) }
	judge, err := tr.check(ctx)
	if err != nil {
		return deploy.Result{}, err
	}
	stop := tr.watch(ctx)
	defer stop()
	var bake time.Duration
	if len(t.Alarms) > 0 {
		// The platform's alarms get the time CloudWatch needs to judge them under full
		// traffic, and at least two reads.
		bake = max(judge, 2*t.MetricsInterval)
	}
	hook := req.Hook
	if hook == nil {
		hook = func(context.Context, string, string, map[string]string) error { return nil }
	}
	hookEnv := map[string]string{"SLUICE_AWS_FUNCTION": fn, "SLUICE_AWS_ALIAS": t.Alias, "SLUICE_AWS_VERSION": newVersion, "SLUICE_AWS_OLD_VERSION": old}
	out := deploy.Shift{
		Strategy: req.ChangeSet.To.Strategy,
		Alarms:   req.Alarms,
		First:    old == "",
		Hook: func(ctx context.Context, phase string) error {
			if err := hook(ctx, phase, endpoint, hookEnv); err != nil {
				return err
			}
			return p.invokeHook(ctx, s, t, phase, endpoint, hookEnv, logf)
		},
		Progress: progress,
		Log:      func(format string, args ...any) { logf("%s:%s: %s", fn, newVersion, fmt.Sprintf(format, args...)) },
		Clock:    p.clock,
		Tick:     t.MetricsInterval,
		Bake:     bake,
	}.Run(ctx, tr)
	if out.Rollback == nil {
		progress(deploy.Progress{Phase: "done", Weight: 100})
		return deploy.Result{Status: sluice.StatusSucceeded}, nil
	}
	status := sluice.StatusRolledBack
	if old == "" {
		status = sluice.StatusFailed // no version served before: the alias is gone again
	}
	res := deploy.Result{Status: status, Reason: out.Reason, Rollback: out.Rollback}
	if out.Err != nil {
		res.Status, res.Reason = sluice.StatusFailed, fmt.Sprintf("%s; %v", out.Reason, out.Err)
	}
	return res, ctx.Err()
}

func versionText(v string) string {
	if v == "" {
		return "nothing yet"
	}
	return "version " + v
}

// functionName is the physical name of the route's function in the stack.
func (p *Provider) functionName(ctx context.Context, s *session, t *Target) (string, error) {
	d, err := stackResource(ctx, s, t.Stack, t.Function)
	if err != nil {
		return "", err
	}
	if d == nil {
		return "", sluice.Errorf(sluice.EINVALID, "stack %s has no resource %s; set function: to the logical ID of the Lambda function in the template", t.Stack, t.Function)
	}
	if deref(d.PhysicalResourceId) == "" {
		return "", sluice.Errorf(sluice.EINVALID, "resource %s of stack %s has no physical ID yet", t.Function, t.Stack)
	}
	if typ := deref(d.ResourceType); typ != "AWS::Lambda::Function" && typ != "AWS::Serverless::Function" {
		return "", sluice.Errorf(sluice.EINVALID, "resource %s of stack %s is a %s, not a Lambda function; set function: to the function's logical ID", t.Function, t.Stack, typ)
	}
	return *d.PhysicalResourceId, nil
}

// aliasVersion is the version the alias sends its main traffic to; "" when there is no alias
// yet (exists is false), or it points at $LATEST (a template may create it so, for the API to
// reference it).
func aliasVersion(ctx context.Context, s *session, fn, alias string) (version string, exists bool, err error) {
	out, err := s.lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: &fn, Name: &alias})
	if notFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read alias %s of %s: %w", alias, fn, explain(err))
	}
	if v := deref(out.FunctionVersion); v != "$LATEST" {
		return v, true, nil
	}
	return "", true, nil
}

// follow waits for the stack update started with token to end, narrating its events, and
// returns why it failed ("" when it succeeded).
func (p *Provider) follow(ctx context.Context, s *session, stack, token string, since time.Time, logf func(string, ...any), each func(context.Context) error) (string, error) {
	seen := map[string]bool{}
	var firstFailure, final string
	read := func() error {
		var fresh []cfntypes.StackEvent
		var next *string
		for page := 0; page < 10; page++ {
			out, err := s.cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: &stack, NextToken: next})
			if err != nil {
				return fmt.Errorf("read the events of stack %s: %w", stack, err)
			}
			older := false
			for _, e := range out.StackEvents {
				if seen[deref(e.EventId)] || (e.Timestamp != nil && e.Timestamp.Before(since)) {
					older = true
					break
				}
				fresh = append(fresh, e)
			}
			if older || out.NextToken == nil {
				break
			}
			next = out.NextToken
		}
		slices.Reverse(fresh) // oldest first
		for _, e := range fresh {
			seen[deref(e.EventId)] = true
			if deref(e.ClientRequestToken) != token && deref(e.ClientRequestToken) != "" {
				continue
			}
			status := string(e.ResourceStatus)
			line := fmt.Sprintf("%s %s %s", deref(e.LogicalResourceId), deref(e.ResourceType), status)
			if r := deref(e.ResourceStatusReason); r != "" {
				line += ": " + r
			}
			logf("%s", line)
			if strings.HasSuffix(status, "_FAILED") && firstFailure == "" && deref(e.ResourceType) != "AWS::CloudFormation::Stack" {
				firstFailure = fmt.Sprintf("%s (%s) %s: %s", deref(e.LogicalResourceId), deref(e.ResourceType), status, deref(e.ResourceStatusReason))
			}
		}
		return nil
	}
	err := p.wait(ctx, stackLimit, "updating stack "+stack, func() (bool, error) {
		if err := read(); err != nil {
			return false, err
		}
		if each != nil {
			if err := each(ctx); err != nil {
				return false, err
			}
		}
		st, err := p.describeStack(ctx, s, stack)
		if err != nil {
			return false, err
		}
		if st == nil {
			return false, sluice.Errorf(sluice.ECONFLICT, "stack %s was deleted while Sluice updated it", stack)
		}
		status := string(st.StackStatus)
		if strings.HasSuffix(status, "_IN_PROGRESS") {
			return false, nil
		}
		final = status
		return true, read()
	})
	if err != nil {
		return "", err
	}
	if final == "CREATE_COMPLETE" || final == "UPDATE_COMPLETE" || final == "IMPORT_COMPLETE" {
		return "", nil
	}
	if firstFailure == "" {
		firstFailure = "no resource reported why"
	}
	return fmt.Sprintf("stack %s ended %s: %s", stack, final, firstFailure), nil
}

// endpointOf is the stack output the route names as the environment's URL; "" without one.
func (p *Provider) endpointOf(ctx context.Context, s *session, t *Target) (string, error) {
	if t.EndpointOutput == "" {
		return "", nil
	}
	st, err := p.describeStack(ctx, s, t.Stack)
	if err != nil || st == nil {
		return "", err
	}
	for _, o := range st.Outputs {
		if deref(o.OutputKey) == t.EndpointOutput {
			return deref(o.OutputValue), nil
		}
	}
	if st.StackStatus == cfntypes.StackStatusReviewInProgress {
		return "", nil
	}
	return "", sluice.Errorf(sluice.EINVALID, "stack %s has no output %s; add it to the template's Outputs or fix endpoint_output", t.Stack, t.EndpointOutput)
}

// Address returns the environment's URL, the stack output endpoint_output names; "" before
// the stack exists or when the route names no output.
func (p *Provider) Address(ctx context.Context, env deploy.Environment) (string, error) {
	t, err := targetOf(env)
	if err != nil {
		return "", err
	}
	if t.EndpointOutput == "" {
		return "", nil
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return "", err
	}
	return p.endpointOf(ctx, s, t)
}

// Restore puts an alias left mid-shift by an engine that died back on its main version: all
// traffic on the version that served before the interrupted deployment.
func (p *Provider) Restore(ctx context.Context, env deploy.Environment, _ *sluice.Version, _ map[string]string) error {
	t, err := targetOf(env)
	if err != nil || t.Function == "" {
		return err
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return err
	}
	if st, err := p.describeStack(ctx, s, t.Stack); err != nil || st == nil {
		return err
	}
	fn, err := p.functionName(ctx, s, t)
	if err != nil {
		if sluice.ErrorCode(err) == sluice.EINVALID {
			return nil // not created yet
		}
		return err
	}
	out, err := s.lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: &fn, Name: &t.Alias})
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read alias %s of %s: %w", t.Alias, fn, err)
	}
	if out.RoutingConfig == nil || len(out.RoutingConfig.AdditionalVersionWeights) == 0 {
		return nil
	}
	p.log.Info("an interrupted shift is put back", "environment", env.Name, "function", fn, "alias", t.Alias, "version", deref(out.FunctionVersion))
	_, err = s.lambda.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: &fn, Name: &t.Alias, FunctionVersion: out.FunctionVersion,
		RoutingConfig: &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}})
	if err != nil {
		return fmt.Errorf("put alias %s of %s back on version %s: %w", t.Alias, fn, deref(out.FunctionVersion), err)
	}
	return nil
}

// statusTTL is how long a Status answer is reused: status displays ask several times a second,
// and each answer costs AWS calls that count toward throttling.
const statusTTL = 5 * time.Second

// Status reports the stack and the alias's versions with their shares of traffic, read at most
// once per statusTTL for each environment.
func (p *Provider) Status(ctx context.Context, env deploy.Environment) (*deploy.EnvironmentStatus, error) {
	p.mu.Lock()
	if c, ok := p.statuses[env.Name]; ok && time.Since(c.at) < statusTTL {
		p.mu.Unlock()
		return c.status, nil
	}
	p.mu.Unlock()
	st, err := p.readStatus(ctx, env)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.statuses[env.Name] = cachedStatus{at: time.Now(), status: st}
	p.mu.Unlock()
	return st, nil
}

type cachedStatus struct {
	at     time.Time
	status *deploy.EnvironmentStatus
}

// forgetStatus drops env's cached status, after a change that makes it stale.
func (p *Provider) forgetStatus(env string) {
	p.mu.Lock()
	delete(p.statuses, env)
	p.mu.Unlock()
}

func (p *Provider) readStatus(ctx context.Context, env deploy.Environment) (*deploy.EnvironmentStatus, error) {
	t, err := targetOf(env)
	if err != nil {
		return nil, err
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return nil, err
	}
	st, err := p.describeStack(ctx, s, t.Stack)
	if err != nil || st == nil {
		return nil, err
	}
	es := &deploy.EnvironmentStatus{}
	status := string(st.StackStatus)
	if strings.HasSuffix(status, "_FAILED") || strings.Contains(status, "ROLLBACK") {
		es.Problem = fmt.Sprintf("stack %s is %s: %s", t.Stack, status, deref(st.StackStatusReason))
	}
	for _, o := range st.Outputs {
		if es.Outputs == nil {
			es.Outputs = map[string]string{}
		}
		es.Outputs[deref(o.OutputKey)] = deref(o.OutputValue)
		if deref(o.OutputKey) == t.EndpointOutput {
			es.Address = deref(o.OutputValue)
		}
	}
	if t.Function == "" {
		return es, nil
	}
	fn, err := p.functionName(ctx, s, t)
	if err != nil {
		return es, nil
	}
	out, err := s.lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: &fn, Name: &t.Alias})
	if notFound(err) {
		return es, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read alias %s of %s: %w", t.Alias, fn, err)
	}
	main := 100
	if out.RoutingConfig != nil {
		for v, w := range out.RoutingConfig.AdditionalVersionWeights {
			pct := int(w*100 + 0.5)
			main -= pct
			es.Versions = append(es.Versions, deploy.VersionStatus{ID: fn + ":" + v, Weight: pct})
		}
	}
	es.Versions = append([]deploy.VersionStatus{{ID: fn + ":" + deref(out.FunctionVersion), Weight: main}}, es.Versions...)
	return es, nil
}

// Teardown deletes the environment's stack and waits until it is gone; a stack that does not
// exist is not an error. A stack named in sluice.yaml (stack:) is not deleted: the route names it
// for every pipeline's copy of the environment, so deleting it could take another pipeline's
// environment with it; Teardown says so and leaves it.
func (p *Provider) Teardown(ctx context.Context, env deploy.Environment) error {
	defer p.forgetStatus(env.Name)
	t, err := targetOf(env)
	if err != nil {
		return err
	}
	if named, ok := env.Config.(*Target); ok && named.Stack != "" {
		return sluice.Errorf(sluice.ECONFLICT, "stack %s is named in sluice.yaml, so other pipelines' copies of %s may use it; it was not deleted: delete it yourself if nothing uses it (aws cloudformation delete-stack --stack-name %s)", t.Stack, env.Name, t.Stack)
	}
	s, err := p.session(ctx, env, t)
	if err != nil {
		return err
	}
	st, err := p.describeStack(ctx, s, t.Stack)
	if err != nil || st == nil || st.StackStatus == cfntypes.StackStatusDeleteComplete {
		return err
	}
	if _, err := s.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: &t.Stack}); err != nil {
		return fmt.Errorf("delete stack %s: %w", t.Stack, explain(err))
	}
	return p.wait(ctx, stackLimit, "deleting stack "+t.Stack, func() (bool, error) {
		st, err := p.describeStack(ctx, s, t.Stack)
		if err != nil || st == nil {
			return err == nil, err
		}
		switch st.StackStatus {
		case cfntypes.StackStatusDeleteComplete:
			return true, nil
		case cfntypes.StackStatusDeleteFailed:
			return false, sluice.Errorf(sluice.ECONFLICT, "stack %s could not be deleted: %s; empty what holds it (a bucket with objects) and delete it by hand", t.Stack, deref(st.StackStatusReason))
		}
		return false, nil
	})
}

// invokeHook invokes the environment's hook function for phase, if it names one, with what the
// hook is about; a function error (or a failed invoke) fails the hook.
func (p *Provider) invokeHook(ctx context.Context, s *session, t *Target, phase, endpoint string, env map[string]string, logf func(string, ...any)) error {
	name := t.PreTrafficFunction
	if phase == "post_traffic" {
		name = t.PostTrafficFunction
	}
	if name == "" {
		return nil
	}
	if logicalRe.MatchString(name) {
		// A logical ID in the stack: its physical name (else a function's own name).
		physical, err := physicalID(ctx, s, t.Stack, name)
		if err != nil {
			return fmt.Errorf("%s hook: %w", phase, err)
		}
		if physical != "" {
			name = physical
		}
	}
	payload, _ := json.Marshal(map[string]string{
		"phase": phase, "endpoint": endpoint, "function": env["SLUICE_AWS_FUNCTION"], "alias": env["SLUICE_AWS_ALIAS"],
		"version": env["SLUICE_AWS_VERSION"], "old_version": env["SLUICE_AWS_OLD_VERSION"],
	})
	logf("%s hook: invoking %s", phase, name)
	out, err := s.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: &name, Payload: payload})
	if err != nil {
		return fmt.Errorf("%s hook: invoke %s: %w", phase, name, explain(err))
	}
	if out.FunctionError != nil {
		return fmt.Errorf("%s hook: function %s failed (%s): %s", phase, name, *out.FunctionError, bytes.TrimSpace(out.Payload))
	}
	return nil
}
