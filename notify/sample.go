package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
)

// Samples returns one notice of each kind people most need to read well, about rt's own
// environments and made-up records: an execution that failed with its log, an approval that
// waits, and a deployment an alarm rolled back. sluice notify test sends them; each subject
// starts with "[test]" so no one takes one for news.
func Samples(rt *spec.Route, now time.Time) []Notice {
	env := "prod"
	if len(rt.Environments) > 0 {
		env = rt.Environments[len(rt.Environments)-1].Name
	}
	pipeline := sluice.PipelineID(rt.Name, sluice.KindMain, rt.Source.Branch, 0)
	ex := &sluice.Execution{
		ID: "sample-0001", Pipeline: pipeline, Revision: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
		Subject: "Add the health check", Status: sluice.StatusFailed, Error: "integration: exit status 1",
	}
	test := sluice.ActionExecution{ExecutionID: ex.ID, Stage: env, Action: "integration", Kind: sluice.KindTest, Status: sluice.StatusFailed, Error: "exit status 1"}
	cs := &sluice.ChangeSet{
		Digest: "sha256:5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d", Environment: env,
		Changes: []sluice.Change{
			{Field: "artifact", From: "sha256:0f9e8d7c6b5a", To: "sha256:9a8b7c6d5e4f", Replaces: true},
			{Field: "env.LOG_LEVEL", From: "debug", To: "info", Replaces: true},
		},
	}
	approval := &sluice.Approval{
		ID: 1, ExecutionID: ex.ID, Pipeline: pipeline, Environment: env, ChangeSetDigest: cs.Digest,
		Status: sluice.StatusWaiting, RequestedAt: now, ExpiresAt: now.Add(spec.DefaultApprovalWait),
	}
	approved := *approval
	approved.Status, approved.DecidedBy, approved.DecidedAt = sluice.StatusSucceeded, "alice", now
	deployment := &sluice.Deployment{
		ID: 1, Pipeline: pipeline, Environment: env, ExecutionID: ex.ID, ChangeSetDigest: cs.Digest,
		From: "sha256:0f9e8d7c6b5a4f3e2d1c", To: "sha256:9a8b7c6d5e4f3a2b1c0d", Revision: ex.Revision,
		Strategy: "Linear10PercentEvery1Minute", Status: sluice.StatusRolledBack, StartedAt: now.Add(-90 * time.Second), EndedAt: now,
		Rollback: &sluice.Rollback{
			Cause: sluice.CauseAlarm, Alarm: "api-errors", Metric: sluice.MetricErrorRate, Value: 0.31, Threshold: 0.05,
			BreachedAt: now.Add(-1500 * time.Millisecond), RestoredAt: now,
		},
	}
	r := sampleReader{ex: ex, actions: []sluice.ActionExecution{test}, cs: cs, approvals: []sluice.Approval{approved}}
	c := &Composer{
		Reader: r, MainBranch: rt.Source.Branch, Environments: []string{env},
		Logs: func(string, string, string) ([]byte, error) {
			return []byte("=== RUN   TestHealth\n    health_test.go:31: GET /healthz: 503 Service Unavailable\n--- FAIL: TestHealth (0.02s)\nFAIL\nexit status 1\n"), nil
		},
	}
	var out []Notice
	for _, ev := range []sluice.Event{
		sluice.ExecutionEnded(ex, now),
		sluice.ApprovalRequested(approval, now),
		sluice.DeploymentEnded(deployment, now),
	} {
		m, _ := c.Compose(context.Background(), ev)
		m.Subject = "[test] " + m.Subject
		m.Lead = fmt.Sprintf("A sample from sluice notify test, about made-up records. %s", m.Lead)
		out = append(out, Notice{Key: ev.ID, Event: ev, Message: m, Attempt: 1})
	}
	return out
}

// sampleReader answers the Composer with the sample's records.
type sampleReader struct {
	ex        *sluice.Execution
	actions   []sluice.ActionExecution
	cs        *sluice.ChangeSet
	approvals []sluice.Approval
}

func (r sampleReader) Execution(context.Context, string) (*sluice.Execution, error) { return r.ex, nil }
func (r sampleReader) Actions(context.Context, string) ([]sluice.ActionExecution, error) {
	return r.actions, nil
}
func (r sampleReader) ChangeSet(context.Context, string) (*sluice.ChangeSet, error) { return r.cs, nil }
func (r sampleReader) ListApprovals(context.Context, string, string, bool) ([]sluice.Approval, error) {
	return r.approvals, nil
}
