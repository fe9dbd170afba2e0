package storetest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// branchPipeline is a second pipeline of the route of mainPipeline, with the same environment
// names.
const branchPipeline = "hello-api@feature-x"

func testPipelines(t *testing.T, open opener) {
	t.Run("round trip, order and removal", func(t *testing.T) {
		s := open(t)
		pr := &sluice.Pipeline{ID: "hello-api@pr-12", Route: "hello-api", Kind: sluice.KindPullRequest, Branch: "fix/typo", PullRequest: 12, State: sluice.PipelineActive, CreatedAt: at(2 * time.Second), ExpiresAt: at(24 * time.Hour)}
		branch := &sluice.Pipeline{ID: branchPipeline, Route: "hello-api", Kind: sluice.KindBranch, Branch: "feature-x", State: sluice.PipelineActive, CreatedAt: at(time.Second)}
		main := &sluice.Pipeline{ID: mainPipeline, Route: "hello-api", Kind: sluice.KindMain, Branch: "main", State: sluice.PipelineActive, CreatedAt: t0}
		for _, p := range []*sluice.Pipeline{pr, branch, main} {
			must(t, "save "+p.ID, s.SavePipeline(t.Context(), p, newEvent("sluice.pipeline.created", p.ID, 1)))
		}
		got, err := s.Pipeline(t.Context(), pr.ID)
		must(t, "read", err)
		check(t, "pull request pipeline", got, pr)
		list, err := s.ListPipelines(t.Context())
		must(t, "list", err)
		check(t, "pipelines, main first", list, []sluice.Pipeline{*main, *branch, *pr})

		removed := *branch
		removed.State, removed.RemovedAt, removed.RemovedBecause = sluice.PipelineRemoved, at(time.Hour), "branch feature-x was deleted"
		removed.CreatedAt, removed.Branch = at(time.Hour), "renamed" // neither may change
		must(t, "remove", s.SavePipeline(t.Context(), &removed))
		got, err = s.Pipeline(t.Context(), branch.ID)
		must(t, "read removed", err)
		want := *branch
		want.State, want.RemovedAt, want.RemovedBecause = sluice.PipelineRemoved, at(time.Hour), "branch feature-x was deleted"
		check(t, "removed pipeline", got, &want)

		// A push moves a pull request's expiry; removing it keeps the last one.
		pushed := *pr
		pushed.ExpiresAt = at(48 * time.Hour)
		must(t, "push", s.SavePipeline(t.Context(), &pushed))
		got, err = s.Pipeline(t.Context(), pr.ID)
		must(t, "read pushed", err)
		check(t, "pull request pipeline after a push", got, &pushed)

		_, err = s.Pipeline(t.Context(), "hello-api@nope")
		wantCode(t, "missing pipeline", err, sluice.ENOTFOUND)
		bad := *main
		bad.Kind = "fork"
		wantCode(t, "unknown kind", s.SavePipeline(t.Context(), &bad), sluice.EINVALID)
		bad = *main
		bad.State = "paused"
		wantCode(t, "unknown state", s.SavePipeline(t.Context(), &bad), sluice.EINVALID)
	})

	t.Run("two pipelines with the same environments never see each other", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()

		// Executions of the same revision, one per pipeline: the second is not "already run".
		exA, stages, actions := pending("ex-a")
		must(t, "create in main", s.CreateExecution(ctx, exA, stages, actions))
		exB, stages, actions := pending("ex-b")
		exB.Pipeline = branchPipeline
		existing, err := s.CreateFirstExecution(ctx, exB, stages, actions)
		must(t, "create first in branch", err)
		if existing != nil {
			t.Fatalf("the branch pipeline found the main pipeline's execution %s of the same revision", existing.ID)
		}
		for _, c := range []struct{ pipeline, want string }{{mainPipeline, "ex-a"}, {branchPipeline, "ex-b"}} {
			list, err := s.ListExecutions(ctx, c.pipeline, false, 0)
			must(t, "list executions", err)
			check(t, "executions of "+c.pipeline, ids(list), []string{c.want})
		}
		all, err := s.ListExecutions(ctx, "", true, 0)
		must(t, "list every execution", err)
		check(t, "executions of every pipeline", ids(all), []string{"ex-b", "ex-a"})

		// Builds of one revision.
		must(t, "build in main", s.SaveBuild(ctx, &sluice.Build{Pipeline: mainPipeline, Revision: exA.Revision, Digest: "sha256:aaaa", CreatedAt: t0}))
		_, err = s.Build(ctx, branchPipeline, exA.Revision)
		wantCode(t, "the branch reading the main pipeline's build", err, sluice.ENOTFOUND)
		must(t, "build in branch", s.SaveBuild(ctx, &sluice.Build{Pipeline: branchPipeline, Revision: exA.Revision, Digest: "sha256:bbbb", CreatedAt: t0}))
		b, err := s.Build(ctx, mainPipeline, exA.Revision)
		must(t, "read main build", err)
		check(t, "main build after the branch built", b.Digest, "sha256:aaaa")

		// Environment states of the same name.
		stateA := &sluice.EnvironmentState{Pipeline: mainPipeline, Name: "dev", Address: "127.0.0.1:8081", Live: newVersion(1), UpdatedAt: t0}
		stateB := &sluice.EnvironmentState{Pipeline: branchPipeline, Name: "dev", Address: "127.0.0.1:9081", Live: newVersion(2), Frozen: true, FrozenReason: "frozen in the branch", UpdatedAt: t0}
		must(t, "main dev", s.SaveEnvironment(ctx, stateA))
		_, err = s.Environment(ctx, branchPipeline, "dev")
		wantCode(t, "the branch reading the main pipeline's dev", err, sluice.ENOTFOUND)
		must(t, "branch dev", s.SaveEnvironment(ctx, stateB))
		for _, want := range []*sluice.EnvironmentState{stateA, stateB} {
			got, err := s.Environment(ctx, want.Pipeline, "dev")
			must(t, "read dev", err)
			check(t, "dev of "+want.Pipeline, got, want)
			list, err := s.ListEnvironments(ctx, want.Pipeline)
			must(t, "list environments", err)
			check(t, "environments of "+want.Pipeline, list, []sluice.EnvironmentState{*want})
		}

		// Approvals of the same environment.
		a := newApproval("prod")
		a.ExecutionID = "ex-a"
		must(t, "request approval in main", s.CreateApproval(ctx, a, nil))
		list, err := s.ListApprovals(ctx, branchPipeline, "prod", true)
		must(t, "list branch approvals", err)
		check(t, "approvals the branch sees", len(list), 0)
		if list, err = s.ListApprovals(ctx, branchPipeline, "", false); err != nil || len(list) != 0 {
			t.Fatalf("every approval of the branch: %d, %v; want none", len(list), err)
		}
		list, err = s.ListApprovals(ctx, mainPipeline, "prod", true)
		must(t, "list main approvals", err)
		check(t, "approvals main sees", list, []sluice.Approval{*a})

		// Deployments (history) of the same environment.
		d := newDeployment("dev", 1)
		d.ExecutionID = "ex-a"
		deploying := *stateA
		deploying.Deploying = newVersion(3)
		must(t, "deploy to main dev", s.StartDeployment(ctx, d, &deploying, nil))
		history, err := s.ListDeployments(ctx, branchPipeline, "dev", 0)
		must(t, "branch history", err)
		check(t, "history the branch sees", len(history), 0)
		got, err := s.Environment(ctx, branchPipeline, "dev")
		must(t, "read branch dev", err)
		check(t, "branch dev after a deployment to main dev", got, stateB)
		crossed := newDeployment("dev", 2)
		wantCode(t, "a deployment with another pipeline's state", s.StartDeployment(ctx, crossed, stateB, nil), sluice.EINVALID)

		// Leases of the same stage: stopping one pipeline's execution frees its stage only.
		_, err = s.AcquireLease(ctx, "stage/"+mainPipeline+"/dev", "ex-a", "", t0, time.Hour)
		must(t, "main execution enters dev", err)
		_, err = s.AcquireLease(ctx, "stage/"+branchPipeline+"/dev", "ex-b", "", t0, time.Hour)
		must(t, "branch execution enters dev", err)
		_, err = s.AcquireLease(ctx, "environment/"+branchPipeline+"/dev", "engine-b", "", t0, time.Hour)
		must(t, "branch engine holds dev", err)
		_, err = s.StopExecution(ctx, "ex-a", "alice", "stopped in main", at(time.Minute))
		must(t, "stop main execution", err)
		for _, key := range []string{"stage/" + branchPipeline + "/dev", "environment/" + branchPipeline + "/dev"} {
			if _, err := s.Lease(ctx, key); err != nil {
				t.Errorf("stopping the main pipeline's execution took %s: %v", key, err)
			}
		}
		_, err = s.Lease(ctx, "stage/"+mainPipeline+"/dev")
		wantCode(t, "the stopped execution's stage", err, sluice.ENOTFOUND)
		exB2, err := s.Execution(ctx, "ex-b")
		must(t, "read branch execution", err)
		check(t, "branch execution after a stop in main", exB2.Status, sluice.StatusPending)
	})
}

func testWebhookDeliveries(t *testing.T, open opener) {
	s := open(t)
	ctx := t.Context()
	first := &sluice.WebhookDelivery{Provider: "github", ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Event: "push", ReceivedAt: t0}
	must(t, "record", s.RecordWebhookDelivery(ctx, first, newEvent("sluice.pipeline.created", "pipeline/"+branchPipeline, 1)))
	if evs := allEvents(t, s); len(evs) != 1 {
		t.Fatalf("a delivery recorded with an event stored %d events, want 1", len(evs))
	}
	replay := *first
	replay.ReceivedAt, replay.Event = at(time.Minute), "delete"
	wantCode(t, "the same delivery again", s.RecordWebhookDelivery(ctx, &replay, newEvent("sluice.pipeline.removed", "pipeline/"+branchPipeline, 2)), sluice.ECONFLICT)
	if evs := allEvents(t, s); len(evs) != 1 {
		t.Errorf("a refused replay stored its event: %d events, want 1", len(evs))
	}
	// The same ID from another provider is another delivery.
	other := &sluice.WebhookDelivery{Provider: "gitea", ID: first.ID, Event: "delete", ReceivedAt: at(time.Second)}
	must(t, "record another provider's", s.RecordWebhookDelivery(ctx, other))
	wantCode(t, "a delivery without an ID", s.RecordWebhookDelivery(ctx, &sluice.WebhookDelivery{Provider: "gitlab", ReceivedAt: t0}), sluice.EINVALID)

	first.Pipeline, first.Outcome = branchPipeline, "started execution ex-b"
	must(t, "outcome", s.SaveWebhookOutcome(ctx, first))
	wantCode(t, "the outcome of a delivery never recorded", s.SaveWebhookOutcome(ctx, &sluice.WebhookDelivery{Provider: "gitlab", ID: "nope"}), sluice.ENOTFOUND)
	list, err := s.ListWebhookDeliveries(ctx, 0)
	must(t, "list", err)
	check(t, "deliveries, newest first", list, []sluice.WebhookDelivery{*other, *first})
	list, err = s.ListWebhookDeliveries(ctx, 1)
	must(t, "list one", err)
	check(t, "newest delivery", list, []sluice.WebhookDelivery{*other})
}
