package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

const devOnly = `
environments:
  - name: dev
`

// waitFor makes a check wait (bounded) until a file exists, and fail if it never does.
func waitFor(file string) string {
	return "i=0; while [ ! -f " + file + " ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -f " + file + " ]"
}

func TestStageAndRunOrder(t *testing.T) {
	// a and b each wait for the other's start marker: run one after the other, the first would
	// give up waiting and fail. c checks that both had finished before it began.
	f := newFixture(t, routeHead+`
checks:
  - name: a
    run: "touch @OUT@/a.start; `+waitFor("@OUT@/b.start")+` && touch @OUT@/a.done"
  - name: b
    run: "touch @OUT@/b.start; `+waitFor("@OUT@/a.start")+` && touch @OUT@/b.done"
  - name: c
    run_order: 2
    run: "[ -f @OUT@/a.done ] && [ -f @OUT@/b.done ] && touch @OUT@/c.done"
`+devOnly)
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	if !exists(filepath.Join(f.out, "c.done")) {
		t.Error("check c did not see both order-1 checks finished")
	}
	stages, err := f.db.Stages(context.Background(), ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, st := range stages {
		names = append(names, st.Stage)
		if st.Status != sluice.StatusSucceeded {
			t.Errorf("stage %s is %s", st.Stage, st.Status)
		}
		if i > 0 && st.StartedAt.Before(stages[i-1].EndedAt) {
			t.Errorf("stage %s started at %s, before %s ended at %s", st.Stage, st.StartedAt, stages[i-1].Stage, stages[i-1].EndedAt)
		}
	}
	if got, want := strings.Join(names, ","), "Source,Build,Checks,dev"; got != want {
		t.Errorf("stages %s, want %s", got, want)
	}
	a, c := f.action(ex.ID, "Checks", "a"), f.action(ex.ID, "Checks", "c")
	if c.StartedAt.Before(a.EndedAt) {
		t.Errorf("order-2 check started at %s, before order-1 check ended at %s", c.StartedAt, a.EndedAt)
	}
}

func TestFailingCheckEndsExecution(t *testing.T) {
	f := newFixture(t, routeHead+`
checks:
  - name: broken
    run: "echo going down; exit 3"
  - name: later
    run_order: 2
    run: "touch @OUT@/later.ran"
environments:
  - name: dev
    tests:
      - name: smoke
        run: "touch @OUT@/smoke.ran"
`)
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusFailed {
		t.Fatalf("status %s, want Failed", ex.Status)
	}
	if !strings.Contains(ex.Error, "broken") {
		t.Errorf("error %q does not name the failing check", ex.Error)
	}
	if got := f.action(ex.ID, "Checks", "broken").Status; got != sluice.StatusFailed {
		t.Errorf("broken is %s, want Failed", got)
	}
	for _, a := range []struct{ stage, name string }{{"Checks", "later"}, {"dev", "CreateChangeSet"}, {"dev", "ExecuteChangeSet"}, {"dev", "smoke"}} {
		if got := f.action(ex.ID, a.stage, a.name).Status; got != sluice.StatusPending {
			t.Errorf("%s/%s is %s, want Pending", a.stage, a.name, got)
		}
	}
	if got := f.stage(ex.ID, "dev").Status; got != sluice.StatusPending {
		t.Errorf("stage dev is %s, want Pending", got)
	}
	for _, marker := range []string{"later.ran", "smoke.ran"} {
		if exists(filepath.Join(f.out, marker)) {
			t.Errorf("%s exists: an action after the failure ran", marker)
		}
	}
	if n := f.provider.calls(); n != 0 {
		t.Errorf("%d deployments, want none", n)
	}
}

const buildCounting = `version: 1
name: t
source: {repo: ., branch: main}
build:
  commands: ["echo built >> @OUT@/builds", "mkdir -p dist && echo app > dist/app"]
  artifact: [dist/]
service:
  command: [dist/app]
`

func TestBuildOnce(t *testing.T) {
	f := newFixture(t, buildCounting+devOnly)
	f.start()
	first := f.wait(f.run().ID)
	second := f.wait(f.run().ID)
	for _, ex := range []*sluice.Execution{first, second} {
		if ex.Status != sluice.StatusSucceeded {
			t.Fatalf("execution %s: %s (%s)", ex.ID, ex.Status, ex.Error)
		}
	}
	if got := f.lines("builds"); len(got) != 1 {
		t.Errorf("build ran %d times for one revision, want 1", len(got))
	}
	if s := f.action(second.ID, "Build", "Build").Summary; !strings.Contains(s, "reused") {
		t.Errorf("second build summary %q does not say the artifact was reused", s)
	}
	if first.Artifact == "" || first.Artifact != second.Artifact {
		t.Errorf("artifacts %q and %q, want the same one", first.Artifact, second.Artifact)
	}
}

func TestTamperedArtifactStopsExecution(t *testing.T) {
	f := newFixture(t, buildCounting+devOnly)
	f.start()
	first := f.wait(f.run().ID)
	if first.Status != sluice.StatusSucceeded {
		t.Fatalf("first execution %s (%s)", first.Status, first.Error)
	}
	path := f.artifacts.Path(first.Artifact)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	deploys := f.provider.calls()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusFailed {
		t.Fatalf("status %s, want Failed", ex.Status)
	}
	build := f.action(ex.ID, "Build", "Build")
	if build.Status != sluice.StatusFailed || !strings.Contains(build.Error, "verification") {
		t.Errorf("build %s with %q, want Failed with a verification error", build.Status, build.Error)
	}
	if n := f.provider.calls(); n != deploys {
		t.Errorf("%d deployments after tampering, want none", n-deploys)
	}
	if got := f.lines("builds"); len(got) != 1 {
		t.Errorf("build ran %d times, want 1: a damaged artifact is not silently rebuilt", len(got))
	}
}

func TestVariablesAndOutputs(t *testing.T) {
	f := newFixture(t, routeHead+`
checks:
  - name: first
    run: "echo GREETING=hello >> $SLUICE_OUTPUT; env > @OUT@/first.env"
  - name: second
    run_order: 2
    run: "env > @OUT@/second.env"
`+devOnly)
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s)", ex.Status, ex.Error)
	}
	env := map[string]string{}
	for _, kv := range f.lines("second.env") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{"SLUICE_REVISION": ex.Revision, "SLUICE_EXECUTION": ex.ID, "SLUICE_ARTIFACT": ex.Artifact, "GREETING": "hello"} {
		if want == "" || env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if got := f.action(ex.ID, "Checks", "first").Outputs["GREETING"]; got != "hello" {
		t.Errorf("recorded output GREETING=%q, want hello", got)
	}
	for _, kv := range f.lines("first.env") {
		if strings.HasPrefix(kv, "GREETING=") {
			t.Error("an action sees its own output before it ended")
		}
	}
}

func TestSecretsMaskedInLogs(t *testing.T) {
	f := newFixture(t, routeHead+`
secrets: [MY_TOKEN]
checks:
  - name: leak
    run: "echo token is $MY_TOKEN"
`+devOnly)
	f.environ = append(os.Environ(), "MY_TOKEN=supersecretvalue")
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s)", ex.Status, ex.Error)
	}
	b, err := os.ReadFile(filepath.Join(f.engine.LogDir(ex.ID), engine.LogName("Checks", "leak")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "supersecretvalue") {
		t.Errorf("log holds the secret:\n%s", b)
	}
	if !strings.Contains(string(b), "token is ***") {
		t.Errorf("log does not show the masked value:\n%s", b)
	}
}

func approvalRoute(timeout string) string {
	return routeHead + `
environments:
  - name: dev
    approval: {required: true, approvers: [alice], timeout: ` + timeout + `}
`
}

func (f *fixture) waitApproval() {
	f.t.Helper()
	eventually(f.t, "a waiting approval", func() bool {
		list, err := f.db.ListApprovals(context.Background(), "t@main", "dev", true)
		return err == nil && len(list) > 0
	})
}

func TestApprovals(t *testing.T) {
	tests := []struct {
		name    string
		timeout string
		act     func(t *testing.T, f *fixture)
		status  sluice.Status
		errText string
		deploys int
	}{
		{
			name: "approved", timeout: "1h", status: sluice.StatusSucceeded, deploys: 1,
			act: func(t *testing.T, f *fixture) {
				if _, err := f.decide("dev", true, "alice", "ok"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "rejected", timeout: "1h", status: sluice.StatusRejected, errText: "rejected by alice",
			act: func(t *testing.T, f *fixture) {
				if _, err := f.decide("dev", false, "alice", "not today"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "expired", timeout: "1s", status: sluice.StatusRejected, errText: "expired",
			act: func(t *testing.T, f *fixture) {},
		},
		{
			name: "only approvers decide", timeout: "1h", status: sluice.StatusSucceeded, deploys: 1,
			act: func(t *testing.T, f *fixture) {
				_, err := f.decide("dev", true, "bob", "")
				if sluice.ErrorCode(err) != sluice.EUNAUTHORIZED {
					t.Errorf("bob approving: %v, want %s", err, sluice.EUNAUTHORIZED)
				}
				if _, err := f.decide("dev", true, "alice", ""); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "environment changed after the change set", timeout: "1h", status: sluice.StatusFailed, errText: "changed after change set",
			act: func(t *testing.T, f *fixture) { f.approveAfterDevMoved() },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, approvalRoute(tc.timeout))
			f.start()
			ex := f.run()
			f.waitApproval()
			tc.act(t, f)
			ex = f.wait(ex.ID)
			if ex.Status != tc.status {
				t.Fatalf("status %s (%s), want %s", ex.Status, ex.Error, tc.status)
			}
			if !strings.Contains(ex.Error, tc.errText) {
				t.Errorf("error %q does not contain %q", ex.Error, tc.errText)
			}
			if n := f.provider.calls(); n != tc.deploys {
				t.Errorf("%d deployments, want %d", n, tc.deploys)
			}
		})
	}
}

// gateRoute has a Checks stage whose check waits until @OUT@/release exists, recording the order
// executions pass through it.
func gateRoute(mode string) string {
	return routeHead + `
execution_mode: ` + mode + `
checks:
  - name: gate
    run: "echo $SLUICE_EXECUTION >> @OUT@/order; ` + waitFor("@OUT@/release") + `"
` + devOnly
}

func TestExecutionModes(t *testing.T) {
	tests := []struct {
		mode   string
		second sluice.Status
		order  func(ids []string) []string // executions expected through Checks, in order
	}{
		{mode: "superseded", second: sluice.StatusSuperseded, order: func(ids []string) []string { return []string{ids[0], ids[2]} }},
		{mode: "queued", second: sluice.StatusSucceeded, order: func(ids []string) []string { return ids }},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			f := newFixture(t, gateRoute(tc.mode))
			f.start()
			first := f.run()
			eventually(t, "the first execution inside Checks", func() bool { return len(f.lines("order")) == 1 })
			second := f.run()
			eventually(t, "the second execution waiting for Checks", func() bool {
				return f.stage(second.ID, "Build").Status == sluice.StatusSucceeded
			})
			third := f.run()
			if tc.mode == "superseded" {
				if got := f.wait(second.ID).Status; got != tc.second {
					t.Fatalf("second execution %s, want %s", got, tc.second)
				}
			} else {
				eventually(t, "the third execution waiting for Checks", func() bool {
					return f.stage(third.ID, "Build").Status == sluice.StatusSucceeded
				})
			}
			if err := os.WriteFile(filepath.Join(f.out, "release"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			ids := []string{first.ID, second.ID, third.ID}
			want := []sluice.Status{sluice.StatusSucceeded, tc.second, sluice.StatusSucceeded}
			for i, id := range ids {
				if ex := f.wait(id); ex.Status != want[i] {
					t.Errorf("execution %d: %s (%s), want %s", i+1, ex.Status, ex.Error, want[i])
				}
			}
			if got, want := strings.Join(f.lines("order"), ","), strings.Join(tc.order(ids), ","); got != want {
				t.Errorf("executions through Checks %s, want %s", got, want)
			}
		})
	}
}

func TestStopKillsProcessGroup(t *testing.T) {
	f := newFixture(t, routeHead+`
checks:
  - name: sleepy
    run: "sleep 30 & echo $! > @OUT@/pid; wait"
`+devOnly)
	f.start()
	ex := f.run()
	var pid int
	eventually(t, "the check's sleep to start", func() bool {
		lines := f.lines("pid")
		if len(lines) == 0 {
			return false
		}
		pid, _ = strconv.Atoi(lines[0])
		return pid > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	if _, err := f.engine.Stop(ctx, ex.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	// Not a speed assertion: had the check's process group survived, Stop would have waited out
	// the 30 s sleep.
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("Stop took %s: it waited for the check instead of killing it", d)
	}
	got, err := f.db.Execution(context.Background(), ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sluice.StatusStopped {
		t.Errorf("status %s (%s), want Stopped", got.Status, got.Error)
	}
	if a := f.action(ex.ID, "Checks", "sleepy"); a.Status != sluice.StatusStopped {
		t.Errorf("check is %s, want Stopped", a.Status)
	}
	// The sleep was orphaned when its shell died; init reaps it soon after the kill.
	eventually(t, "the sleep to be gone", func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH })
}

func TestRetryRunsOnlyFailedAction(t *testing.T) {
	f := newFixture(t, buildCounting+`
checks:
  - name: steady
    run: "echo ran >> @OUT@/steady"
  - name: flaky
    run: "echo ran >> @OUT@/flaky; [ $(wc -l < @OUT@/flaky) -ge 2 ]"
  - name: after
    run_order: 2
    run: "echo ran >> @OUT@/after"
`+devOnly)
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusFailed {
		t.Fatalf("status %s, want Failed", ex.Status)
	}
	if _, err := f.engine.Retry(context.Background(), ex.ID); err != nil {
		t.Fatal(err)
	}
	ex = f.wait(ex.ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("retried execution %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	for file, want := range map[string]int{"builds": 1, "steady": 1, "flaky": 2, "after": 1} {
		if got := len(f.lines(file)); got != want {
			t.Errorf("%s ran %d times, want %d", file, got, want)
		}
	}
	if a := f.action(ex.ID, "Checks", "flaky"); a.Attempt != 2 {
		t.Errorf("flaky attempt %d, want 2", a.Attempt)
	}
	if _, err := f.engine.Retry(context.Background(), ex.ID); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Errorf("retrying a succeeded execution: %v, want %s", err, sluice.ECONFLICT)
	}
}

// TestApprovalDecidedWhileEngineDown: `sluice approve` writes to the store even when no engine
// runs; the execution resumes with that decision instead of asking again.
func TestApprovalDecidedWhileEngineDown(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.start()
	ex := f.run()
	f.waitApproval()
	if err := f.engine.Close(); err != nil { // the engine stops; the execution pauses
		t.Fatal(err)
	}
	if _, _, err := engine.Decide(context.Background(), f.db, engine.Decision{Pipeline: "t@main", Environment: "dev", ChangeSet: f.waitingChangeSet("dev"), Approve: true, User: "alice", Comment: "approved offline"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.start()
	if got := f.wait(ex.ID); got.Status != sluice.StatusSucceeded {
		t.Fatalf("execution %s: %s", got.Status, got.Error)
	}
	list, err := f.db.ListApprovals(context.Background(), "t@main", "dev", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Comment != "approved offline" {
		t.Fatalf("want the one approval decided offline, got %+v", list)
	}
	if f.provider.calls() != 1 {
		t.Fatalf("deploys = %d, want 1", f.provider.calls())
	}
}

// TestFreeze: a frozen environment holds executions before its stage, and they go on once it is
// unfrozen — also when the freeze is written by another process straight into the store.
func TestFreeze(t *testing.T) {
	f := newFixture(t, routeHead+`
environments:
  - name: dev
  - name: prod
`)
	f.start()
	ctx := context.Background()
	if err := f.engine.Freeze(ctx, "", "prod", true, "change freeze"); err != nil {
		t.Fatal(err)
	}
	ex := f.run()
	eventually(t, "dev to succeed", func() bool { return f.stage(ex.ID, "dev").Status == sluice.StatusSucceeded })
	time.Sleep(300 * time.Millisecond) // time enough to enter prod, were it not frozen
	if st := f.stage(ex.ID, "prod"); st.Status != sluice.StatusPending {
		t.Fatalf("prod stage is %s while frozen, want Pending", st.Status)
	}
	if f.provider.calls() != 1 {
		t.Fatalf("deploys = %d while prod is frozen, want 1 (dev only)", f.provider.calls())
	}
	// As `sluice unfreeze` does when no engine serves the state: a write to the store only.
	if _, err := engine.Freeze(ctx, f.db, "t@main", "prod", false, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := f.wait(ex.ID); got.Status != sluice.StatusSucceeded {
		t.Fatalf("after unfreeze: %s (%s)", got.Status, got.Error)
	}
	if f.provider.calls() != 2 {
		t.Fatalf("deploys = %d, want 2", f.provider.calls())
	}
}

// TestBusPublishesStoredEvents: what the bus publishes about an execution is what the store
// keeps, under the same IDs and once each — subscribers and the history never disagree.
func TestBusPublishesStoredEvents(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.start()
	events, unsubscribe := f.engine.Bus().Subscribe()
	defer unsubscribe()
	ex := f.run()
	f.waitApproval()
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	f.wait(ex.ID)

	stored, err := f.db.ListEvents(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	storedIDs := map[string]bool{}
	for _, ev := range stored {
		storedIDs[ev.ID] = true
	}
	published := map[string]int{}
	requests := 0
	for done := false; !done; {
		select {
		case ev := <-events:
			if ev.Type == "sluice.deployment.progress" {
				continue // traffic progress is published only, by design
			}
			published[ev.ID]++
			if !storedIDs[ev.ID] {
				t.Errorf("published %s (%s) was never stored", ev.Type, ev.ID)
			}
			if ev.Type == "sluice.approval.requested" {
				requests++
			}
		default:
			done = true
		}
	}
	for id, n := range published {
		if n != 1 {
			t.Errorf("event %s published %d times", id, n)
		}
	}
	if requests != 1 {
		t.Errorf("the approval request was published %d times, want 1", requests)
	}
	if len(published) == 0 {
		t.Fatal("nothing was published")
	}
}
