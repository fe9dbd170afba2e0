package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

// codeDeployWatch follows the CodeDeploy deployment that a SAM DeploymentPreference starts
// during a stack update: CodeDeploy shifts the alias and CloudFormation waits for it. Sluice
// narrates it, and stops it with rollback when the deployment is canceled.
type codeDeployWatch struct {
	s        *session
	t        *Target
	logf     func(string, ...any)
	progress func(deploy.Progress)

	app, group string
	id         string
	info       *cdtypes.DeploymentInfo
}

// poll finds the deployment (once CloudFormation has made the application and group) and
// reads its status, saying when it changes.
func (w *codeDeployWatch) poll(ctx context.Context) error {
	if w.app == "" {
		app, err := physicalID(ctx, w.s, w.t.Stack, "ServerlessDeploymentApplication")
		if err != nil || app == "" {
			return err
		}
		group, err := physicalID(ctx, w.s, w.t.Stack, w.t.Function+"DeploymentGroup")
		if err != nil || group == "" {
			return err
		}
		w.app, w.group = app, group
	}
	if w.id == "" {
		out, err := w.s.cd.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: &w.app, DeploymentGroupName: &w.group,
			IncludeOnlyStatuses: []cdtypes.DeploymentStatus{cdtypes.DeploymentStatusCreated, cdtypes.DeploymentStatusQueued,
				cdtypes.DeploymentStatusInProgress, cdtypes.DeploymentStatusReady}})
		if err != nil {
			return fmt.Errorf("list the CodeDeploy deployments of %s: %w", w.group, explain(err))
		}
		if len(out.Deployments) == 0 {
			return nil
		}
		w.id = out.Deployments[0]
	}
	return w.read(ctx)
}

func (w *codeDeployWatch) read(ctx context.Context) error {
	out, err := w.s.cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: &w.id})
	if err != nil {
		return fmt.Errorf("read CodeDeploy deployment %s: %w", w.id, explain(err))
	}
	before := ""
	if w.info != nil {
		before = string(w.info.Status)
	}
	w.info = out.DeploymentInfo
	if w.info != nil && string(w.info.Status) != before {
		w.logf("CodeDeploy deployment %s (%s) of %s: %s", w.id, deref(w.info.DeploymentConfigName), w.t.Function, w.info.Status)
		if w.info.Status == cdtypes.DeploymentStatusInProgress {
			w.progress(deploy.Progress{Phase: "shifting"})
		}
	}
	return nil
}

// result is how the deployment ended, from the stack's end (failure, err) and CodeDeploy's.
// A canceled deployment is stopped with rollback, and the stack is followed until it settles.
func (w *codeDeployWatch) result(ctx context.Context, p *Provider, stack, token string, started time.Time, failure string, err error) (deploy.Result, error) {
	if err != nil && ctx.Err() != nil {
		still := context.WithoutCancel(ctx)
		if w.id == "" {
			_ = w.poll(still)
		}
		rb := &sluice.Rollback{Cause: sluice.CauseCanceled, Detail: context.Cause(ctx).Error(), BreachedAt: time.Now().UTC()}
		if w.id != "" {
			w.logf("stopping CodeDeploy deployment %s with rollback", w.id)
			if _, serr := w.s.cd.StopDeployment(still, &codedeploy.StopDeploymentInput{DeploymentId: &w.id, AutoRollbackEnabled: ptr(true)}); serr != nil {
				return deploy.Result{Status: sluice.StatusFailed, Reason: fmt.Sprintf("stop CodeDeploy deployment %s: %v", w.id, serr)}, ctx.Err()
			}
			settle, cancel := context.WithTimeout(still, 30*time.Minute)
			defer cancel()
			if _, ferr := p.follow(settle, w.s, stack, token, started, w.logf, nil); ferr != nil {
				w.logf("stack %s after the stop: %v", stack, ferr)
			}
		}
		rb.RestoredAt = time.Now().UTC()
		return deploy.Result{Status: sluice.StatusRolledBack, Reason: "the deployment was canceled", Rollback: rb}, ctx.Err()
	}
	if err != nil {
		return deploy.Result{}, err
	}
	if w.id == "" {
		// A deployment that began and ended between two polls: find it by when it began.
		if ferr := w.find(ctx, started); ferr != nil {
			w.logf("%v", ferr)
		}
	}
	if w.id != "" {
		if rerr := w.read(ctx); rerr != nil {
			w.logf("%v", rerr)
		}
	}
	if failure == "" {
		w.progress(deploy.Progress{Phase: "done", Weight: 100})
		return deploy.Result{Status: sluice.StatusSucceeded}, nil
	}
	w.progress(deploy.Progress{Phase: "done"})
	if w.info == nil || (w.info.Status != cdtypes.DeploymentStatusStopped && w.info.Status != cdtypes.DeploymentStatusFailed) {
		return deploy.Result{Status: sluice.StatusFailed, Reason: failure}, nil
	}
	// CodeDeploy put the alias back, and CloudFormation rolled the stack back.
	rb := &sluice.Rollback{Cause: sluice.CauseTraffic, Detail: failure}
	if e := w.info.ErrorInformation; e != nil {
		rb.Detail = fmt.Sprintf("CodeDeploy deployment %s %s: %s (%s)", w.id, w.info.Status, deref(e.Message), e.Code)
		switch e.Code {
		case cdtypes.ErrorCodeAlarmActive:
			rb.Cause = sluice.CauseAlarm
		case cdtypes.ErrorCodeHookExecutionFailure:
			rb.Cause = sluice.CauseHook
		case cdtypes.ErrorCodeManualStop:
			rb.Cause = sluice.CauseManual
		}
	}
	if w.info.CompleteTime != nil {
		rb.RestoredAt = w.info.CompleteTime.UTC()
	}
	return deploy.Result{Status: sluice.StatusRolledBack, Reason: rb.Detail, Rollback: rb}, nil
}

// find looks for the group's newest deployment created since the stack update began, whatever
// its status.
func (w *codeDeployWatch) find(ctx context.Context, since time.Time) error {
	if w.app == "" {
		if err := w.poll(ctx); err != nil || w.app == "" || w.id != "" {
			return err
		}
	}
	out, err := w.s.cd.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: &w.app, DeploymentGroupName: &w.group,
		CreateTimeRange: &cdtypes.TimeRange{Start: &since}})
	if err != nil {
		return fmt.Errorf("list the CodeDeploy deployments of %s: %w", w.group, explain(err))
	}
	var newest time.Time
	for _, id := range out.Deployments {
		d, err := w.s.cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: &id})
		if err != nil || d.DeploymentInfo == nil || d.DeploymentInfo.CreateTime == nil {
			continue
		}
		if created := *d.DeploymentInfo.CreateTime; !created.Before(since) && created.After(newest) {
			newest, w.id = created, id
		}
	}
	return nil
}

// physicalID is the physical ID of a stack's resource, "" while it does not exist.
func physicalID(ctx context.Context, s *session, stack, logical string) (string, error) {
	d, err := stackResource(ctx, s, stack, logical)
	if err != nil || d == nil {
		return "", err
	}
	return deref(d.PhysicalResourceId), nil
}

// stackResource describes a stack's resource; nil while it does not exist.
func stackResource(ctx context.Context, s *session, stack, logical string) (*cfntypes.StackResourceDetail, error) {
	out, err := s.cfn.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{StackName: &stack, LogicalResourceId: &logical})
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find %s in stack %s: %w", logical, stack, explain(err))
	}
	if out.StackResourceDetail == nil {
		return nil, errors.New("CloudFormation described no resource")
	}
	return out.StackResourceDetail, nil
}
