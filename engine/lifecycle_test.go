package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// gitflowRoute has dev (with approval, so executions wait there), qa and prod; release
// branches deploy to qa only, feature branches build only, pull requests get pr-<n> from dev.
const gitflowRoute = routeHead + `
environments:
  - name: dev
    approval: {required: true, timeout: 1h}
  - name: qa
  - name: prod
    approval: {required: true, timeout: 1h}
pipelines:
  branches:
    - match: release/*
      environments: [qa]
    - match: feature/*
  pull_requests:
    ephemeral: {from: dev, ttl: 1h}
`

// stagesOf returns the stage names of an execution.
func (f *fixture) stagesOf(id string) []string {
	f.t.Helper()
	list, err := f.db.Stages(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, st := range list {
		out = append(out, st.Stage)
	}
	return out
}

func (f *fixture) trail() []string {
	f.provider.mu.Lock()
	defer f.provider.mu.Unlock()
	return slices.Clone(f.provider.trail)
}

// A matching branch gets a pipeline that deploys where its rule says; a push runs it again; a
// branch no rule matches gets none; deleting the branch stops its execution, discards the
// change set it waited on, tears its environments down and keeps its history marked removed,
// and nothing of the main pipeline changes.
func TestBranchPipelineLifecycle(t *testing.T) {
	f := newFixture(t, gitflowRoute)
	f.git("branch", "release/1.0")
	f.git("branch", "release-1.0")
	f.git("branch", "hack")
	f.start()
	ctx := context.Background()

	mainEx := f.run()
	f.waitApproval() // main waits in dev

	tr, err := f.engine.BranchPushed(ctx, "hack", "")
	if err != nil || tr.Pipeline != nil || tr.Execution != nil {
		t.Fatalf("a branch no rule matches: %+v, %v; want nothing", tr, err)
	}
	tr, err = f.engine.BranchPushed(ctx, "release/1.0", "")
	if err != nil || tr.Pipeline == nil || tr.Execution == nil || tr.Existing {
		t.Fatalf("a release branch: %+v, %v; want a pipeline and a new execution", tr, err)
	}
	release := tr.Pipeline.ID
	if want := sluice.PipelineID("t", sluice.KindBranch, "release/1.0", 0); release != want || tr.Pipeline.Kind != sluice.KindBranch {
		t.Fatalf("pipeline %s (%s), want %s", release, tr.Pipeline.Kind, want)
	}
	if got := f.stagesOf(tr.Execution.ID); !slices.Equal(got, []string{"Source", "Build", "qa"}) {
		t.Fatalf("a release branch runs %v, want Source, Build, qa", got)
	}
	first := f.wait(tr.Execution.ID)
	if first.Status != sluice.StatusSucceeded {
		t.Fatalf("release execution: %s (%s)", first.Status, first.Error)
	}
	again, err := f.engine.BranchPushed(ctx, "release/1.0", "")
	if err != nil || !again.Existing || again.Execution.ID != first.ID {
		t.Fatalf("the same head told again: %+v, %v; want its execution found, not a new one", again, err)
	}

	// release-1.0 is another branch with a pipeline of its own, not release/1.0's.
	other := sluice.PipelineID("t", sluice.KindBranch, "release-1.0", 0)
	if other == release {
		t.Fatalf("release/1.0 and release-1.0 share pipeline %s", other)
	}

	// A push to the branch runs it again; make it wait in... qa has no approval, so push a
	// route in which the branch's qa waits, to have an execution to stop.
	f.git("checkout", "-q", "release/1.0")
	f.writeRoute(strings.Replace(gitflowRoute, "  - name: qa\n", "  - name: qa\n    approval: {required: true, timeout: 1h}\n", 1))
	f.commit("qa needs approval on the release branch")
	f.git("checkout", "-q", "main")
	pushed, err := f.engine.BranchPushed(ctx, "release/1.0", "")
	if err != nil || pushed.Existing || pushed.Execution.ID == first.ID {
		t.Fatalf("a push: %+v, %v; want a new execution", pushed, err)
	}
	eventually(t, "the release branch's approval in qa", func() bool {
		list, err := f.db.ListApprovals(ctx, release, "qa", true)
		return err == nil && len(list) == 1
	})
	waiting, _ := f.db.ListApprovals(ctx, release, "qa", true)
	digest := waiting[0].ChangeSetDigest

	f.git("branch", "-D", "release/1.0")
	removed, err := f.engine.BranchDeleted(ctx, "release/1.0")
	if err != nil || removed == nil {
		t.Fatalf("delete the branch: %+v, %v", removed, err)
	}
	if ex, _ := f.db.Execution(ctx, pushed.Execution.ID); ex.Status != sluice.StatusStopped {
		t.Errorf("the removed pipeline's execution is %s, want Stopped", ex.Status)
	}
	pl, err := f.db.Pipeline(ctx, release)
	if err != nil || !pl.State.Removed() || !strings.Contains(pl.RemovedBecause, "deleted") {
		t.Fatalf("the pipeline after its branch was deleted: %+v, %v; want removed, saying why", pl, err)
	}
	trail := f.trail()
	qa := "qa@" + strings.TrimPrefix(release, "t@")
	for _, want := range []string{"discard " + qa + " " + digest, "teardown " + qa + " -"} {
		if !slices.Contains(trail, want) {
			t.Errorf("provider calls %q lack %q", trail, want)
		}
	}
	for _, call := range trail {
		if strings.HasPrefix(call, "teardown ") && call != "teardown "+qa+" -" {
			t.Errorf("tore down %q, which is not the removed pipeline's", call)
		}
	}
	history, err := f.db.ListDeployments(ctx, release, "qa", 0)
	if err != nil || len(history) != 1 || history[0].ExecutionID != first.ID {
		t.Errorf("the removed pipeline's history: %+v, %v; want its one deployment kept", history, err)
	}
	if again, err := f.engine.BranchDeleted(ctx, "release/1.0"); err != nil || again != nil {
		t.Errorf("deleting again: %+v, %v; want nothing", again, err)
	}

	// Main is untouched: still waiting in dev, and it goes on when approved.
	if ex, _ := f.db.Execution(ctx, mainEx.ID); ex.Status.Done() {
		t.Fatalf("main's execution ended (%s) when a branch was removed", ex.Status)
	}
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "main waiting for prod", func() bool {
		list, err := f.db.ListApprovals(ctx, "t@main", "prod", true)
		return err == nil && len(list) == 1
	})
	if _, err := f.engine.RemovePipeline(ctx, "t@main", "no"); sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("removing the main pipeline: %v, want EINVALID", err)
	}
}

// A pull request's pipeline runs its ephemeral environment pr-<n> (dev's settings), a push
// moves its expiry, and when its time to live runs out it is removed like a closed one.
func TestPullRequestPipelineExpires(t *testing.T) {
	f := newFixture(t, gitflowRoute)
	f.writeRoute(strings.ReplaceAll(gitflowRoute, "timeout: 1h", "timeout: 48h"))
	f.commit("approvals wait longer than the pull request lives")
	f.git("checkout", "-q", "-b", "fix/typo")
	f.commit("a fix")
	f.git("checkout", "-q", "main")
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	f.clock = &testClock{now: now}
	f.start()
	ctx := context.Background()

	tr, err := f.engine.PullRequestUpdated(ctx, 7, "fix/typo", "")
	if err != nil || tr.Pipeline == nil || tr.Execution == nil {
		t.Fatalf("open pull request: %+v, %v", tr, err)
	}
	if tr.Pipeline.ID != "t@pr-7" || tr.Pipeline.PullRequest != 7 || !tr.Pipeline.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("pipeline %+v; want t@pr-7 expiring in 1h", tr.Pipeline)
	}
	if got := f.stagesOf(tr.Execution.ID); !slices.Equal(got, []string{"Source", "Build", "pr-7"}) {
		t.Fatalf("a pull request runs %v, want Source, Build, pr-7", got)
	}
	eventually(t, "pr-7's approval (copied from dev)", func() bool {
		list, err := f.db.ListApprovals(ctx, "t@pr-7", "pr-7", true)
		return err == nil && len(list) == 1
	})

	if gone, err := f.engine.ExpirePipelines(ctx); err != nil || len(gone) != 0 {
		t.Fatalf("expire before the time to live ran out: %+v, %v", gone, err)
	}
	f.clock.Add(50 * time.Minute)
	if _, err := f.engine.PullRequestUpdated(ctx, 7, "fix/typo", ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(50 * time.Minute) // 100 minutes after opening, 50 after the push
	if gone, err := f.engine.ExpirePipelines(ctx); err != nil || len(gone) != 0 {
		t.Fatalf("expire 50 minutes after a push: %+v, %v; want nothing, the push moved the expiry", gone, err)
	}
	f.clock.Add(11 * time.Minute)
	gone, err := f.engine.ExpirePipelines(ctx)
	if err != nil || len(gone) != 1 || gone[0].ID != "t@pr-7" || !strings.Contains(gone[0].RemovedBecause, "time to live") {
		t.Fatalf("expire after the time to live: %+v, %v", gone, err)
	}
	if ex, _ := f.db.Execution(ctx, tr.Execution.ID); ex.Status != sluice.StatusStopped {
		t.Errorf("the expired pipeline's execution is %s, want Stopped", ex.Status)
	}
	if !slices.Contains(f.trail(), "teardown pr-7@pr-7 -") {
		t.Errorf("provider calls %q; want pr-7 torn down", f.trail())
	}
}

// The poller's path: SyncBranches over the repository's real branches runs each new head once
// in its pipeline, and removes the pipeline of a branch that is gone.
func TestSyncBranchesFollowsTheRepository(t *testing.T) {
	f := newFixture(t, strings.ReplaceAll(gitflowRoute, "    approval: {required: true, timeout: 1h}\n", ""))
	f.git("branch", "release/2.0")
	f.git("branch", "hack")
	f.start()
	ctx := context.Background()
	sync := func() ([]engine.Triggered, []sluice.Pipeline) {
		t.Helper()
		heads, err := f.engine.Branches(ctx)
		if err != nil {
			t.Fatal(err)
		}
		started, removed, err := f.engine.SyncBranches(ctx, heads)
		if err != nil {
			t.Fatal(err)
		}
		return started, removed
	}
	started, removed := sync()
	var pipelines []string
	for _, tr := range started {
		if tr.Existing {
			t.Errorf("first sync found execution %s existing", tr.Execution.ID)
		}
		pipelines = append(pipelines, tr.Pipeline.ID)
		f.wait(tr.Execution.ID)
	}
	release := sluice.PipelineID("t", sluice.KindBranch, "release/2.0", 0)
	slices.Sort(pipelines)
	if want := []string{"t@main", release}; !slices.Equal(pipelines, want) || len(removed) != 0 {
		t.Fatalf("first sync ran in %v and removed %v; want %v, nothing removed (hack matches no rule)", pipelines, removed, want)
	}
	again, _ := sync()
	for _, tr := range again {
		if !tr.Existing {
			t.Errorf("unchanged heads started execution %s in %s", tr.Execution.ID, tr.Pipeline.ID)
		}
	}
	f.git("branch", "-D", "release/2.0")
	_, removed = sync()
	if len(removed) != 1 || removed[0].ID != release || !strings.Contains(removed[0].RemovedBecause, "gone") {
		t.Fatalf("after deleting the branch, removed %+v; want %s", removed, release)
	}
	if pl, _ := f.db.Pipeline(ctx, "t@main"); pl.State.Removed() {
		t.Error("the main pipeline was removed")
	}
}

// An engine stopped between recording a removal and stopping the pipeline's executions stops
// them when it starts again, and tears the environments down; other pipelines resume.
func TestStartFinishesARemoval(t *testing.T) {
	f := newFixture(t, gitflowRoute)
	f.git("branch", "release/3.0")
	f.start()
	ctx := context.Background()
	mainEx := f.run()
	f.waitApproval()
	f.git("checkout", "-q", "release/3.0")
	f.writeRoute(strings.Replace(gitflowRoute, "  - name: qa\n", "  - name: qa\n    approval: {required: true, timeout: 1h}\n", 1))
	f.commit("qa waits")
	f.git("checkout", "-q", "main")
	tr, err := f.engine.BranchPushed(ctx, "release/3.0", "")
	if err != nil || tr.Execution == nil {
		t.Fatalf("push: %+v, %v", tr, err)
	}
	eventually(t, "the branch waiting in qa", func() bool {
		list, err := f.db.ListApprovals(ctx, tr.Pipeline.ID, "qa", true)
		return err == nil && len(list) == 1
	})
	if err := f.engine.Close(); err != nil {
		t.Fatal(err)
	}
	pl := *tr.Pipeline
	pl.State, pl.RemovedAt, pl.RemovedBecause = sluice.PipelineRemoved, time.Now(), "branch release/3.0 was deleted"
	if err := f.db.SavePipeline(ctx, &pl); err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.provider.mu.Lock()
	f.provider.trail = nil
	f.provider.mu.Unlock()

	f.start()
	if ex, _ := f.db.Execution(ctx, tr.Execution.ID); ex.Status != sluice.StatusStopped {
		t.Errorf("the removed pipeline's execution is %s after the restart, want Stopped", ex.Status)
	}
	qa := "qa@" + strings.TrimPrefix(pl.ID, "t@")
	if !slices.Contains(f.trail(), "teardown "+qa+" -") {
		t.Errorf("provider calls after the restart %q; want %s torn down", f.trail(), qa)
	}
	if ex, _ := f.db.Execution(ctx, mainEx.ID); ex.Status.Done() {
		t.Errorf("main's execution ended (%s) at the restart", ex.Status)
	}
}
