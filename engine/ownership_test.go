package engine_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/syncbuf"
)

// another starts a second engine on the fixture's store, as a second engine sharing the store
// would (with workspaces, logs and processes of its own); it is closed when the test ends.
func (f *fixture) another(logger *slog.Logger) *engine.Engine {
	f.t.Helper()
	e, err := engine.New(engine.Config{
		RouteFile: filepath.Join(f.repo, "sluice.yaml"), StateDir: f.t.TempDir(), Store: f.db, Artifacts: f.artifacts,
		Providers: map[string]deploy.Provider{"local": f.provider}, ApprovalPoll: 20 * time.Millisecond, LeasePoll: 50 * time.Millisecond,
		Logger: logger,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = e.Close() })
	return e
}

func (f *fixture) execution(id string) *sluice.Execution {
	f.t.Helper()
	ex, err := f.db.Execution(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return ex
}

// TestOneDriverPerExecution: a second engine on the same store does not drive an execution the
// first one drives, neither when it starts nor when asked to run the same revision; each action
// runs once.
func TestOneDriverPerExecution(t *testing.T) {
	f := newFixture(t, routeHead+`
checks:
  - name: slow
    run: "echo run >> @OUT@/trace; sleep 1"
`+devOnly)
	f.start()
	ex := f.run()
	eventually(t, "the check to start", func() bool { return len(f.lines("trace")) > 0 })
	second := f.another(nil)
	got, resumed, err := second.RunOrResume(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !resumed || got.ID != ex.ID {
		t.Fatalf("the second engine started %s (resumed %v), want to follow %s", got.ID, resumed, ex.ID)
	}
	if end := f.wait(ex.ID); end.Status != sluice.StatusSucceeded {
		t.Fatalf("execution %s: %s", end.Status, end.Error)
	}
	if n := len(f.lines("trace")); n != 1 {
		t.Errorf("the check ran %d times, want once", n)
	}
	if n := f.provider.calls(); n != 1 {
		t.Errorf("%d deployments, want 1", n)
	}
}

// TestOneExecutionPerRevision: running a revision that has an execution follows it; only Run
// (run --new) starts another.
func TestOneExecutionPerRevision(t *testing.T) {
	f := newFixture(t, routeHead+devOnly)
	f.start()
	first, resumed, err := f.engine.RunOrResume(context.Background(), "")
	if err != nil || resumed {
		t.Fatalf("first run: %v, resumed %v", err, resumed)
	}
	again, resumed, err := f.engine.RunOrResume(context.Background(), "")
	if err != nil || !resumed || again.ID != first.ID {
		t.Fatalf("second run of the revision: %v, %v, want to follow %s", err, again, first.ID)
	}
	f.wait(first.ID)
	done, resumed, err := f.engine.RunOrResume(context.Background(), "")
	if err != nil || !resumed || done.ID != first.ID || !done.Status.Done() {
		t.Fatalf("run of a revision that ran: %v, %+v, want the ended %s", err, done, first.ID)
	}
	fresh := f.run()
	if fresh.ID == first.ID {
		t.Fatal("Run did not start a new execution")
	}
	f.wait(fresh.ID)
	all, err := f.db.ListExecutions(context.Background(), "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("%d executions, want 2", len(all))
	}
}

// TestStopAtApproval: a stop of an execution waiting for approval is recorded at once, rejects
// its approval and frees the stage; a later approve finds nothing to decide.
func TestStopAtApproval(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.start()
	ex := f.run()
	f.waitApproval()
	digest := f.waitingChangeSet("dev")
	stopped, err := f.engine.Stop(context.Background(), ex.ID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Status != sluice.StatusStopped || stopped.Error != "stopped by carol" {
		t.Errorf("Stop answered %s %q", stopped.Status, stopped.Error)
	}
	if got := f.execution(ex.ID); got.Status != sluice.StatusStopped {
		t.Errorf("stored execution is %s, want Stopped", got.Status)
	}
	if a := f.action(ex.ID, "dev", "Approval"); a.Status != sluice.StatusStopped {
		t.Errorf("approval action is %s, want Stopped", a.Status)
	}
	list, err := f.db.ListApprovals(context.Background(), "t@main", "dev", false)
	if err != nil || len(list) != 1 || list[0].Status != sluice.StatusRejected {
		t.Fatalf("approvals after the stop: %+v, %v; want one Rejected", list, err)
	}
	_, err = f.engine.Decide(context.Background(), engine.Decision{Environment: "dev", ChangeSet: digest, Approve: true, User: "alice"})
	if sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("approving after the stop: %v, want %s", err, sluice.ENOTFOUND)
	}
	if _, err := f.engine.Stop(context.Background(), ex.ID, "carol"); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Errorf("stopping twice: %v, want %s", err, sluice.ECONFLICT)
	}
	// The stage is free: the next execution gets to its own approval.
	f.commit("next")
	next := f.run()
	eventually(t, "the next execution's approval", func() bool {
		return f.action(next.ID, "dev", "Approval").Status == sluice.StatusWaiting
	})
}

// TestStopRecordedWithoutEngine: a stop written to the store by a process with no engine is
// noticed by the engine that drives the execution, which kills its action and writes nothing
// that undoes the stop.
func TestStopRecordedWithoutEngine(t *testing.T) {
	f := newFixture(t, routeHead+`
checks:
  - name: sleepy
    run: "echo started > @OUT@/started; sleep 30"
`+devOnly)
	f.start()
	ex := f.run()
	eventually(t, "the check to start", func() bool { return len(f.lines("started")) > 0 })
	began := time.Now()
	if _, err := engine.Stop(context.Background(), f.db, ex.ID, "dave", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	end := f.wait(ex.ID)
	if end.Status != sluice.StatusStopped || end.Error != "stopped by dave" {
		t.Errorf("execution %s %q, want Stopped by dave", end.Status, end.Error)
	}
	// Not a speed assertion: had the driver not noticed, Wait would have lasted the 30 s sleep.
	if d := time.Since(began); d > 25*time.Second {
		t.Errorf("the driver took %s to notice the stop", d)
	}
	if a := f.action(ex.ID, "Checks", "sleepy"); a.Status != sluice.StatusStopped {
		t.Errorf("the check is %s, want Stopped", a.Status)
	}
	if st := f.stage(ex.ID, "dev"); st.Status != sluice.StatusPending {
		t.Errorf("dev is %s, want Pending (never entered)", st.Status)
	}
}

// TestWaitingSaysWhy: an execution that cannot enter a stage records what holds it, and a
// frozen environment says so too.
func TestWaitingSaysWhy(t *testing.T) {
	f := newFixture(t, approvalRoute("1h")+"execution_mode: queued\n")
	f.start()
	first := f.run()
	f.waitApproval()
	f.commit("second")
	second := f.run()
	want := "waiting: execution " + first.ID + " holds dev (waiting for approval since "
	eventually(t, "the second execution to say why it waits", func() bool {
		return strings.HasPrefix(f.execution(second.ID).Waiting, want)
	})
	if w := f.execution(second.ID).Waiting; !strings.HasSuffix(w, "sluice stop "+first.ID+" to release it") {
		t.Errorf("waiting = %q, want it to say how to release the stage", w)
	}
	if err := f.engine.Freeze(context.Background(), "", "dev", true, "incident 42"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Stop(context.Background(), first.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second execution to say dev is frozen", func() bool {
		return f.execution(second.ID).Waiting == "waiting: dev is frozen (incident 42); sluice unfreeze dev lets executions in"
	})
	if err := f.engine.Freeze(context.Background(), "", "dev", false, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second execution to reach its approval", func() bool {
		return f.action(second.ID, "dev", "Approval").Status == sluice.StatusWaiting
	})
	if w := f.execution(second.ID).Waiting; w != "" {
		t.Errorf("inside the stage, waiting = %q, want empty", w)
	}
}

// TestApprovalBindsTheReviewedChangeSet: approving needs the digest of the change set waiting
// (or a prefix); another one is refused naming both.
func TestApprovalBindsTheReviewedChangeSet(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.start()
	ex := f.run()
	f.waitApproval()
	digest := f.waitingChangeSet("dev")
	decide := func(changeSet string) error {
		_, err := f.engine.Decide(context.Background(), engine.Decision{Environment: "dev", ChangeSet: changeSet, Approve: true, User: "alice"})
		return err
	}
	if err := decide(""); sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "--change-set "+sluice.ShortDigest(digest)) {
		t.Errorf("approve without a change set: %v, want %s naming the waiting one", err, sluice.EINVALID)
	}
	other := "sha256:" + strings.Repeat("e", 64)
	err := decide(other)
	if sluice.ErrorCode(err) != sluice.ECONFLICT || !strings.Contains(err.Error(), digest) || !strings.Contains(err.Error(), other) {
		t.Errorf("approve another change set: %v, want %s naming both digests", err, sluice.ECONFLICT)
	}
	if err := decide("sha256:zz"); sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("approve a malformed digest: %v, want %s", err, sluice.EINVALID)
	}
	if err := decide(strings.TrimPrefix(digest, "sha256:")[:10]); err != nil {
		t.Fatalf("approve by a prefix: %v", err)
	}
	if end := f.wait(ex.ID); end.Status != sluice.StatusSucceeded {
		t.Fatalf("execution %s: %s", end.Status, end.Error)
	}
}

// TestApprovalExpiredWhileNoEngineRan: an approval whose time ran out while no engine ran is a
// rejection when someone tries to approve it, and the execution ends rejected.
func TestApprovalExpiredWhileNoEngineRan(t *testing.T) {
	f := newFixture(t, approvalRoute("2s"))
	f.start()
	ex := f.run()
	f.waitApproval()
	digest := f.waitingChangeSet("dev")
	if err := f.engine.Close(); err != nil {
		t.Fatal(err)
	}
	list, err := f.db.ListApprovals(context.Background(), "t@main", "dev", true)
	if err != nil || len(list) != 1 {
		t.Fatalf("waiting approvals: %v %v", list, err)
	}
	later := list[0].ExpiresAt.Add(time.Second)
	_, _, err = engine.Decide(context.Background(), f.db, engine.Decision{Pipeline: "t@main", Environment: "dev", ChangeSet: digest, Approve: true, User: "alice"}, later)
	if sluice.ErrorCode(err) != sluice.ECONFLICT || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approving an expired approval: %v, want %s saying it expired", err, sluice.ECONFLICT)
	}
	a, err := f.db.Approval(context.Background(), list[0].ID)
	if err != nil || a.Status != sluice.StatusRejected || !a.Expired {
		t.Fatalf("the approval after the attempt: %+v %v, want Rejected and Expired", a, err)
	}
	f.db.Close()
	f.start()
	if end := f.wait(ex.ID); end.Status != sluice.StatusRejected {
		t.Errorf("execution %s, want Rejected", end.Status)
	}
	if n := f.provider.calls(); n != 0 {
		t.Errorf("%d deployments after an expired approval, want none", n)
	}
}

// TestEmptyChangeSetNeedsNoApproval: a revision that changes nothing an environment runs passes
// its approval gate without asking anyone, and deploys nothing.
func TestEmptyChangeSetNeedsNoApproval(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.start()
	first := f.run()
	f.waitApproval()
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if end := f.wait(first.ID); end.Status != sluice.StatusSucceeded {
		t.Fatalf("first execution %s: %s", end.Status, end.Error)
	}
	again := f.run() // the same revision, as run --new: nothing changes
	if end := f.wait(again.ID); end.Status != sluice.StatusSucceeded {
		t.Fatalf("second execution %s: %s", end.Status, end.Error)
	}
	if a := f.action(again.ID, "dev", "Approval"); !strings.Contains(a.Summary, "no changes") {
		t.Errorf("approval summary %q, want it to say there were no changes", a.Summary)
	}
	if list, _ := f.db.ListApprovals(context.Background(), "t@main", "dev", false); len(list) != 1 {
		t.Errorf("%d approvals asked for, want only the first execution's", len(list))
	}
	if n := f.provider.calls(); n != 1 {
		t.Errorf("%d deployments, want 1", n)
	}
}

// TestRestartRepairsInterruptedDeployments: state left between two writes by an engine killed
// mid-deployment (as earlier versions could leave it) is repaired when an engine starts: a
// deployment recorded Succeeded becomes what runs, and one its environment never heard of is
// recorded failed, not InProgress for ever.
func TestRestartRepairsInterruptedDeployments(t *testing.T) {
	f := newFixture(t, routeHead+devOnly)
	f.start()
	ctx := context.Background()
	old := &sluice.Version{Artifact: "sha256:" + strings.Repeat("1", 64), Revision: "old", Command: []string{"dist/app"}}
	next := &sluice.Version{Artifact: "sha256:" + strings.Repeat("2", 64), Revision: "next", Command: []string{"dist/app"}}
	orphan := &sluice.Deployment{Pipeline: "t@main", Environment: "dev", To: next.Artifact, Revision: "next", Strategy: "AllAtOnce", Status: sluice.StatusInProgress, StartedAt: time.Now().UTC()}
	if err := f.db.CreateDeployment(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	done := &sluice.Deployment{Pipeline: "t@main", Environment: "dev", From: old.Artifact, To: next.Artifact, Revision: "next", Strategy: "AllAtOnce", Status: sluice.StatusSucceeded, StartedAt: time.Now().UTC(), EndedAt: time.Now().UTC()}
	if err := f.db.CreateDeployment(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SaveEnvironment(ctx, &sluice.EnvironmentState{Pipeline: "t@main", Name: "dev", Address: "127.0.0.1:1", Live: old, Deploying: next, DeploymentID: done.ID, UpdatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.Close(); err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.start()
	st, err := f.db.Environment(ctx, "t@main", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if st.Live == nil || st.Live.Revision != "next" || st.Previous == nil || st.Previous.Revision != "old" || st.Deploying != nil {
		t.Errorf("dev after restart: live %v, previous %v, deploying %v; want next, old, none", st.Live, st.Previous, st.Deploying)
	}
	list, err := f.db.ListDeployments(ctx, "t@main", "dev", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		switch d.ID {
		case done.ID:
			if d.Status != sluice.StatusSucceeded {
				t.Errorf("the finished deployment is %s, want Succeeded", d.Status)
			}
		case orphan.ID:
			if d.Status != sluice.StatusFailed || d.Reason == "" {
				t.Errorf("the orphaned deployment is %s %q, want Failed with a reason", d.Status, d.Reason)
			}
		}
	}
}

// TestStopLogsNoError: stopping an execution at its approval, as under sluice up, writes
// nothing with a canceled context (it used to log "begin transaction: context canceled" and lose
// the stop).
func TestStopLogsNoError(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.start()
	if err := f.engine.Close(); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	e := f.another(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ex, err := e.Run(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	f.waitApproval()
	if _, err := e.Stop(context.Background(), ex.ID, "erin"); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.execution(ex.ID); got.Status != sluice.StatusStopped {
		t.Errorf("execution %s, want Stopped", got.Status)
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "context canceled") {
		t.Errorf("the engine logged an error around the stop:\n%s", out)
	}
}

// TestTakesOverWhenTheDriverStops: an engine that found an execution driven by another takes
// it over when that one stops, and the execution ends there.
func TestTakesOverWhenTheDriverStops(t *testing.T) {
	f := newFixture(t, routeHead+`
checks:
  - name: gate
    run: "echo run >> @OUT@/trace; test -e @OUT@/go || sleep 30"
`+devOnly)
	first := f.start()
	ex := f.run()
	eventually(t, "the check to start", func() bool { return len(f.lines("trace")) > 0 })
	second := f.another(nil)
	if err := os.WriteFile(filepath.Join(f.out, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil { // pauses the execution and lets it go
		t.Fatal(err)
	}
	eventually(t, "the second engine to finish the execution", func() bool {
		return f.execution(ex.ID).Status.Done()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end, err := second.Wait(ctx, ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Status != sluice.StatusSucceeded {
		t.Fatalf("execution %s: %s", end.Status, end.Error)
	}
}
