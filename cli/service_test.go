package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
)

// answers are what the commands that read and decide say about the state, as --json.
type answers struct {
	status, history, changeSet string
}

// readAnswers asks status, history and changeset of prod. What only a serving engine can know
// (what its provider serves now) is left out of status.
func (r *repo) readAnswers(t *testing.T) answers {
	t.Helper()
	ask := func(args ...string) string {
		t.Helper()
		res := sluiceRun(t, r.dir, append(args, "--json", "--state", r.state)...)
		if res.code != 0 {
			t.Fatalf("sluice %v: exit %d\n%s", args, res.code, res.stderr)
		}
		return res.stdout
	}
	var st api.Status
	if err := json.Unmarshal([]byte(ask("status")), &st); err != nil {
		t.Fatal(err)
	}
	for i := range st.Environments {
		st.Environments[i].Serving = nil
	}
	status, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return answers{status: string(status), history: ask("history", "prod"), changeSet: ask("changeset", "prod")}
}

// serving reports whether status says an engine serves the state.
func (r *repo) serving(t *testing.T) bool {
	t.Helper()
	return strings.Contains(sluiceRun(t, r.dir, "status", "--state", r.state).stdout, "an engine is serving this state")
}

// The commands are written once against one service: with an engine serving the state (a
// sluice run waiting for approval) and with none (the run killed), status, history and
// changeset say the same, and stop and approve answer alike.
func TestSameAnswersWithAndWithoutEngine(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)

	// An execution waits for approval in prod, with its engine serving the state.
	run := r.startSluice(nil, "run", "--json", "--state", r.state)
	first := r.waitPending("prod")
	if !r.serving(t) {
		t.Fatal("status does not say that the waiting run's engine serves the state")
	}
	withEngine := r.readAnswers(t)
	stopServed := sluiceRun(t, r.dir, "stop", first.ExecutionID, "--state", r.state)
	run.wait(t)

	// Another waits, and its engine is killed: nobody serves the state.
	run = r.startSluice(nil, "run", "--new", "--json", "--state", r.state)
	second := r.waitPending("prod")
	if second.ExecutionID == first.ExecutionID {
		t.Fatal("run --new did not start another execution")
	}
	withEngine2 := r.readAnswers(t)
	if err := run.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	run.once.Do(func() { _ = run.cmd.Wait() })
	if r.serving(t) {
		t.Fatal("status says an engine serves the state after the run was killed")
	}
	withoutEngine := r.readAnswers(t)
	if withoutEngine != withEngine2 {
		t.Errorf("status, history and changeset differ without an engine:\nwith:    %+v\nwithout: %+v", withEngine2, withoutEngine)
	}
	if withEngine.changeSet != withoutEngine.changeSet {
		t.Errorf("the change set waiting in prod differs:\nwith:    %s\nwithout: %s", withEngine.changeSet, withoutEngine.changeSet)
	}
	stopUnserved := sluiceRun(t, r.dir, "stop", second.ExecutionID, "--state", r.state)
	same := func(what string, served, unserved result, served1, unserved1 string) {
		t.Helper()
		if served.code != 0 || unserved.code != 0 {
			t.Fatalf("%s: exit %d with an engine, %d without\n%s\n%s", what, served.code, unserved.code, served.stderr, unserved.stderr)
		}
		if a, b := strings.ReplaceAll(served.stdout, served1, "X"), strings.ReplaceAll(unserved.stdout, unserved1, "X"); a != b {
			t.Errorf("%s answers differ:\nwith an engine: %s\nwithout:        %s", what, a, b)
		}
	}
	same("stop", stopServed, stopUnserved, first.ExecutionID, second.ExecutionID)
	if !strings.Contains(stopUnserved.stdout, "waiting for approval in prod") {
		t.Errorf("stop without an engine did not say what it stopped: %s", stopUnserved.stdout)
	}

	// Approvals, decided with an engine serving and without.
	run = r.startSluice(nil, "run", "--new", "--json", "--state", r.state)
	third := r.waitPending("prod")
	approveServed := sluiceRun(t, r.dir, "approve", "prod", "--change-set", third.ChangeSetDigest, "--state", r.state)
	if res := run.wait(t); res.code != 0 {
		t.Fatalf("the approved run: exit %d\n%s", res.code, res.stderr)
	}
	// prod runs that revision now: a new commit makes a change set to approve again.
	r.edit("sluice.yaml", func(y string) string { return y + "# a new revision\n" })
	r.commit("a new revision")
	run = r.startSluice(nil, "run", "--json", "--state", r.state)
	fourth := r.waitPending("prod")
	if err := run.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	run.once.Do(func() { _ = run.cmd.Wait() })
	approveUnserved := sluiceRun(t, r.dir, "approve", "prod", "--change-set", fourth.ChangeSetDigest, "--state", r.state)
	same("approve", approveServed, approveUnserved, third.ChangeSetDigest, fourth.ChangeSetDigest)
	if ex := r.execution(fourth.ExecutionID); ex.Status.Done() {
		t.Errorf("the approved execution whose engine was killed is %s; it waits for an engine to go on", ex.Status)
	}
	var h struct {
		Approvals []sluice.Approval `json:"approvals"`
	}
	if err := json.Unmarshal([]byte(sluiceRun(t, r.dir, "history", "prod", "--json", "--state", r.state).stdout), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Approvals) != 4 || h.Approvals[0].Status != sluice.StatusSucceeded {
		t.Errorf("history of prod shows %d approvals, newest %+v; want 4, the newest approved", len(h.Approvals), h.Approvals)
	}
}
