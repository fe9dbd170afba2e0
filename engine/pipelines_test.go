package engine_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// Two pipelines of one route, with the same environment, run at once on one engine: each
// enters dev while the other is inside it, waits for its own approval, deploys to an
// environment of its own, and is decided and recorded on its own.
func TestTwoPipelinesOfOneRouteAreIsolated(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.git("branch", "feature/x")
	f.start()
	ctx := context.Background()
	const main = "t@main"
	branch := sluice.PipelineID("t", sluice.KindBranch, "feature/x", 0)

	mainEx := f.run()
	f.waitApproval()
	branchEx, err := f.engine.RunBranch(ctx, "feature/x", "")
	if err != nil {
		t.Fatalf("run the branch: %v", err)
	}
	if mainEx.Pipeline != main || branchEx.Pipeline != branch {
		t.Fatalf("pipelines: main execution in %q, branch execution in %q; want %q and %q", mainEx.Pipeline, branchEx.Pipeline, main, branch)
	}
	// The branch's execution enters dev while the main one holds its own dev.
	eventually(t, "the branch's approval", func() bool {
		list, err := f.db.ListApprovals(ctx, branch, "dev", true)
		return err == nil && len(list) == 1
	})
	if list, _ := f.db.ListApprovals(ctx, main, "dev", true); len(list) != 1 || list[0].ExecutionID != mainEx.ID {
		t.Fatalf("main's waiting approvals: %+v; want only its own execution's", list)
	}

	// Approving dev without a pipeline decides the main pipeline's approval only.
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		t.Fatalf("approve main: %v", err)
	}
	if got := f.wait(mainEx.ID); got.Status != sluice.StatusSucceeded {
		t.Fatalf("main execution: %s (%s)", got.Status, got.Error)
	}
	if got, _ := f.db.Execution(ctx, branchEx.ID); got.Status.Done() {
		t.Fatalf("the branch's execution ended (%s) on main's approval", got.Status)
	}
	if st, err := f.db.Environment(ctx, branch, "dev"); err != nil || st.Live != nil {
		t.Fatalf("the branch's dev before its own deployment: %+v, %v; want nothing live", st, err)
	}
	list, err := f.db.ListApprovals(ctx, branch, "dev", true)
	if err != nil || len(list) != 1 {
		t.Fatalf("the branch's approval after main's was decided: %+v, %v", list, err)
	}
	if _, err := f.engine.Decide(ctx, engine.Decision{Pipeline: branch, Environment: "dev", ChangeSet: list[0].ChangeSetDigest, Approve: true, User: "alice"}); err != nil {
		t.Fatalf("approve the branch: %v", err)
	}
	if got := f.wait(branchEx.ID); got.Status != sluice.StatusSucceeded {
		t.Fatalf("branch execution: %s (%s)", got.Status, got.Error)
	}

	// Each deployed to its own instance of dev, and each dev records its own deployment.
	f.provider.mu.Lock()
	var instances []string
	for _, d := range f.provider.deploys {
		instances = append(instances, d.Environment.Name)
	}
	f.provider.mu.Unlock()
	if want := []string{"dev", "dev@" + branch[len("t@"):]}; len(instances) != 2 || instances[0] != want[0] || instances[1] != want[1] {
		t.Errorf("provider deployed to %q, want %q", instances, want)
	}
	for _, c := range []struct{ pipeline, execution string }{{main, mainEx.ID}, {branch, branchEx.ID}} {
		ds, err := f.db.ListDeployments(ctx, c.pipeline, "dev", 0)
		if err != nil || len(ds) != 1 || ds[0].ExecutionID != c.execution || ds[0].Pipeline != c.pipeline {
			t.Errorf("history of dev in %s: %+v, %v; want the one deployment of %s", c.pipeline, ds, err, c.execution)
		}
		st, err := f.db.Environment(ctx, c.pipeline, "dev")
		if err != nil || st.Live == nil {
			t.Errorf("dev of %s: %+v, %v; want a live version", c.pipeline, st, err)
		}
		if _, err := f.db.Build(ctx, c.pipeline, mainEx.Revision); err != nil {
			t.Errorf("build of %s: %v", c.pipeline, err)
		}
	}

	// The artifact is the same content, shared by digest.
	a, _ := f.db.Execution(ctx, mainEx.ID)
	b, _ := f.db.Execution(ctx, branchEx.ID)
	if a.Artifact == "" || a.Artifact != b.Artifact {
		t.Errorf("artifacts: main %q, branch %q; want one digest for one revision", a.Artifact, b.Artifact)
	}

	pipelines, err := f.engine.Pipelines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pipelines) != 2 || pipelines[0].ID != main || pipelines[0].Kind != sluice.KindMain ||
		pipelines[1].ID != branch || pipelines[1].Kind != sluice.KindBranch || pipelines[1].Branch != "feature/x" {
		t.Errorf("pipelines: %+v", pipelines)
	}
}

// Freezing dev in the main pipeline holds only the main pipeline's executions.
func TestFreezeHoldsOnePipeline(t *testing.T) {
	f := newFixture(t, buildCounting+devOnly)
	f.git("branch", "feature/x")
	f.start()
	ctx := context.Background()
	if err := f.engine.Freeze(ctx, "", "dev", true, "main is frozen"); err != nil {
		t.Fatal(err)
	}
	ex, err := f.engine.RunBranch(ctx, "feature/x", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.wait(ex.ID); got.Status != sluice.StatusSucceeded {
		t.Fatalf("branch execution under main's freeze: %s (%s)", got.Status, got.Error)
	}
	held := f.run()
	eventually(t, "the main execution to wait for the freeze", func() bool {
		got, err := f.db.Execution(ctx, held.ID)
		return err == nil && got.Waiting != ""
	})
	if got, _ := f.db.Execution(ctx, held.ID); got.Status.Done() {
		t.Fatalf("main execution ended (%s) while dev is frozen", got.Status)
	}
}
