package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/engine"
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
// sluice run waiting for approval, then a sluice up) and with none (the run killed, the up
// stopped), status, history, changeset, logs and pipelines say the same, and stop, approve,
// freeze, unfreeze, retry, rollback and run answer alike.
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

	// The commands that drive and deploy, and logs, pipelines and freezes, with a sluice up
	// serving the state, and then with none. The up resumes the fourth execution, which puts
	// the new revision in prod; retries of the two executions stopped at prod's approval then
	// put the first revision back, and rollbacks the new one.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	up := startUp(ctx, t, r)
	eventually(t, "the up to finish the approved fourth execution", func() bool { return r.execution(fourth.ExecutionID).Status.Done() })
	if !r.serving(t) {
		t.Fatal("status does not say that sluice up serves the state")
	}
	served := r.operate(t, first.ExecutionID, fourth.ExecutionID)
	versionServed := sluiceRun(t, r.dir, "logs", "--env", "prod", "--state", r.state)
	if err := up.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := up.cmd.Wait(); err != nil {
		t.Fatalf("sluice up after SIGTERM: %v\n%s", err, up.stderr)
	}
	up.stopped = true
	if r.serving(t) {
		t.Fatal("status says an engine serves the state after sluice up stopped")
	}
	versionUnserved := sluiceRun(t, r.dir, "logs", "--env", "prod", "--state", r.state)
	unserved := r.operate(t, second.ExecutionID, fourth.ExecutionID)
	for what, pair := range map[string][2]string{
		"run (the revision ran already)": {served.run, unserved.run},
		"logs of an execution":           {served.logs, unserved.logs},
		"logs of one action":             {served.actionLog, unserved.actionLog},
		"pipelines":                      {served.pipelines, unserved.pipelines},
		"freeze":                         {served.freeze, unserved.freeze},
		"unfreeze":                       {served.unfreeze, unserved.unfreeze},
		"rollback":                       {served.rollback, unserved.rollback},
		"retry":                          {strings.ReplaceAll(served.retry, first.ExecutionID, "X"), strings.ReplaceAll(unserved.retry, second.ExecutionID, "X")},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s answers differ:\nwith an engine: %s\nwithout:        %s", what, pair[0], pair[1])
		}
	}
	// A version's output only grows: what the up showed of prod's live version begins what is
	// there after it stopped.
	if versionServed.code != 0 || versionUnserved.code != 0 || !strings.HasPrefix(versionUnserved.stdout, versionServed.stdout) || !strings.HasPrefix(versionServed.stdout, "==> prod: version ") {
		t.Errorf("logs --env prod differ:\nwith an engine: %.300s%s\nwithout:        %.300s%s", versionServed.stdout, versionServed.stderr, versionUnserved.stdout, versionUnserved.stderr)
	}
	if !strings.Contains(served.logs, "==> Build / Build <==") || !strings.Contains(served.actionLog, "go build") {
		t.Errorf("logs of the fourth execution do not show its build:\n%.500s", served.logs)
	}
	if !strings.Contains(served.rollback, "prod rolled back to") {
		t.Errorf("rollback: %s", served.rollback)
	}
}

// operations are what the commands that act answered, normalized where they name what differs
// from one run to the next (times, addresses).
type operations struct {
	run, logs, actionLog, pipelines, freeze, unfreeze, rollback, retry string
}

// operate runs each command that reads logs and pipelines, freezes, retries, rolls back and runs
// once: retry of the stopped execution retried, logs and run of the one that ended, ended.
func (r *repo) operate(t *testing.T, retried, ended string) operations {
	t.Helper()
	ask := func(args ...string) result {
		t.Helper()
		res := sluiceRun(t, r.dir, append(args, "--state", r.state)...)
		if res.code != 0 {
			t.Fatalf("sluice %v: exit %d\n%s%s", args, res.code, res.stdout, res.stderr)
		}
		return res
	}
	var o operations
	// The revision ran already: run says so and shows it, whoever runs it.
	run := ask("run", "--json")
	o.run = lineWith(run.stderr, "already ran") + " " + decodeSummary(t, run).Execution
	o.logs = ask("logs", ended).stdout
	o.actionLog = ask("logs", ended, "Build").stdout
	o.pipelines = ask("pipelines", "--json").stdout
	o.freeze = ask("freeze", "dev", "--comment", "hold").stdout
	if st, ok := r.status(); !ok || !st.Environments[0].Frozen {
		t.Errorf("status does not show dev frozen after sluice freeze: %+v", st.Environments)
	}
	o.unfreeze = ask("unfreeze", "dev").stdout
	if st, ok := r.status(); !ok || st.Environments[0].Frozen {
		t.Errorf("status shows dev frozen after sluice unfreeze: %+v", st.Environments)
	}
	retry := sluiceRun(t, r.dir, "retry", retried, "--approve", "--json", "--state", r.state)
	sum := decodeSummary(t, retry)
	if retry.code != 0 || sum.Status != sluice.StatusSucceeded {
		t.Fatalf("retry %s: exit %d\n%s", retried, retry.code, explain(sum, retry))
	}
	var stages []string
	for _, st := range sum.Stages {
		stages = append(stages, st.Name+" "+string(st.Status))
	}
	o.retry = fmt.Sprintf("%s: %s %s, %s", lineWith(retry.stderr, "retrying"), sum.Execution, sum.Status, strings.Join(stages, ", "))
	o.rollback = ask("rollback", "prod", "--comment", "back").stdout
	return o
}

// lineWith is the first line of text that holds part, or "".
func lineWith(text, part string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, part) {
			return line
		}
	}
	return ""
}

// TestCommandsAskTheServingEngine: with an engine serving the state, commands ask it over the
// API and read nothing of the state themselves. The engine here is a stand-in on loopback that
// knows the token and answers what the state does not hold: what the commands print can only
// have come from it.
func TestCommandsAskTheServingEngine(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t)
	state := filepath.Join(t.TempDir(), "state")
	if res := sluiceRun(t, dir, "freeze", "dev", "--state", state); res.code != 0 {
		t.Fatalf("freeze: exit %d\n%s", res.code, res.stderr)
	}
	token := strings.Repeat("5a", 32)
	if err := os.WriteFile(filepath.Join(state, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const id = "feedfacecafe"
	asked := map[string]int{}
	var mu sync.Mutex
	mux := http.NewServeMux()
	answer := func(pattern string, body any) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, `{"error":"token","code":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			mu.Lock()
			asked[pattern]++
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(body)
		})
	}
	mux.HandleFunc("GET /api/v1/identity", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"proof": api.Proof(token, r.URL.Query().Get("challenge"))})
	})
	answer("GET /api/v1/pipelines", api.PipelineList{Pipelines: []engine.PipelineView{{Pipeline: sluice.Pipeline{ID: "only-the-engine@main", Route: "only-the-engine", Kind: sluice.KindMain, Branch: "main", State: sluice.PipelineActive}}}})
	answer("GET /api/v1/executions", api.ExecutionList{Executions: []sluice.Execution{{ID: id, Pipeline: "only-the-engine@main", Status: sluice.StatusSucceeded}}})
	answer("GET /api/v1/executions/{id}/logs", engine.LogPage{Chunks: []engine.LogChunk{{Stage: "Build", Action: "Build", Text: "printed where the engine runs\n"}}, Cursor: "c1", Ended: true})
	answer("GET /api/v1/environments/{env}/log", engine.VersionLogPage{Environment: "dev", Version: "v-1", Text: "a version the engine runs\n", Next: 26})
	answer("POST /api/v1/environments/{env}/{op}", map[string]any{"environment": "dev", "frozen": false})
	answer("GET /api/v1/notifications", api.DeliveryList{Deliveries: []sluice.Delivery{{ID: 1, Channel: "ops-by-engine", EventID: "e1", EventType: "sluice.execution.failed",
		Subject: "execution/x", Status: sluice.DeliveryDelivered, Attempts: 1}}})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	info, err := json.Marshal(map[string]any{"address": strings.TrimPrefix(srv.URL, "http://"), "pid": os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "api.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"pipelines"}, "only-the-engine@main"},
		{[]string{"logs", "feed"}, "==> Build / Build <==\nprinted where the engine runs\n"},
		{[]string{"logs", "--env", "dev"}, "==> dev: version v-1 <==\na version the engine runs\n"},
		{[]string{"unfreeze", "dev"}, "dev unfrozen"},
		{[]string{"notify", "log"}, "ops-by-engine"},
	} {
		res := sluiceRun(t, dir, append(tt.args, "--state", state)...)
		if res.code != 0 || !strings.Contains(res.stdout, tt.want) {
			t.Errorf("sluice %s: exit %d, stdout %q, stderr %q; want %q from the engine", strings.Join(tt.args, " "), res.code, res.stdout, res.stderr, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["POST /api/v1/environments/{env}/{op}"] != 1 {
		t.Errorf("unfreeze did not ask the engine: %v", asked)
	}
}
