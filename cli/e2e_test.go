package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/cli/demo"
	"github.com/sluicehq/sluice/sqlite"
)

// sluiceBin is the command line built once per test binary, so the tests run it as users do.
var sluiceBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cli-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, "../cmd/sluice")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is how one sluice command ended.
type result struct {
	code           int
	stdout, stderr string
}

// sluiceCmd returns the command sluice args, run in dir.
func sluiceCmd(ctx context.Context, dir string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, sluiceBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_STATE=")
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func sluiceRun(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd, stdout, stderr := sluiceCmd(ctx, dir, args...)
	return wait(t, cmd, stdout, stderr, cmd.Run())
}

func wait(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer, err error) result {
	t.Helper()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return result{0, stdout.String(), stderr.String()}
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return result{exit.ExitCode(), stdout.String(), stderr.String()}
	}
	t.Fatalf("sluice %v: %v\nstderr:\n%s", cmd.Args[1:], err, stderr)
	return result{}
}

// repo is a git repository holding the bundled example, with its own state directory.
type repo struct {
	t     *testing.T
	dir   string
	state string
}

// fastRoute makes the example quick to run: no checks, prod shifts half the traffic per second.
func fastRoute(yaml string) string {
	yaml = replaceOnce(yaml, "checks:\n  - name: unit\n    run: go vet ./... && go test . ./cmd/...\n", "")
	yaml = replaceOnce(yaml, "strategy: {type: linear, percent: 20, interval: 2s}", "strategy: {type: linear, percent: 50, interval: 1s}")
	return yaml
}

func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic(fmt.Sprintf("the example's sluice.yaml no longer contains %q; update the test", old))
	}
	return strings.Replace(s, old, new, 1)
}

func newRepo(t *testing.T, patch func(string) string) *repo {
	t.Helper()
	root := t.TempDir()
	r := &repo{t: t, dir: filepath.Join(root, "hello-api"), state: filepath.Join(root, "state")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := demo.Extract(r.dir); err != nil {
		t.Fatalf("extract the example: %v", err)
	}
	if patch != nil {
		r.edit("sluice.yaml", patch)
	}
	r.git("init", "-q", "-b", "main")
	r.commit("the example")
	return r
}

func (r *repo) git(args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = r.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func (r *repo) commit(msg string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
}

func (r *repo) edit(name string, fn func(string) string) {
	r.t.Helper()
	path := filepath.Join(r.dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fn(string(b))), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// run runs `sluice run --json` with args and decodes its summary.
func (r *repo) run(args ...string) (int, cli.Summary, result) {
	r.t.Helper()
	res := sluiceRun(r.t, r.dir, append([]string{"run", "--json", "--state", r.state}, args...)...)
	return res.code, decodeSummary(r.t, res), res
}

func decodeSummary(t *testing.T, res result) cli.Summary {
	t.Helper()
	var s cli.Summary
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatalf("decode the --json summary (exit %d): %v\nstdout:\n%s\nstderr:\n%s", res.code, err, res.stdout, res.stderr)
	}
	return s
}

func stage(t *testing.T, s cli.Summary, name string) cli.StageSummary {
	t.Helper()
	for _, st := range s.Stages {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no stage %q in the summary: %+v", name, s.Stages)
	return cli.StageSummary{}
}

func action(t *testing.T, s cli.Summary, stageName string, kind sluice.ActionKind) sluice.ActionExecution {
	t.Helper()
	for _, a := range stage(t, s, stageName).Actions {
		if a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s action in stage %s", kind, stageName)
	return sluice.ActionExecution{}
}

func prod(t *testing.T, s cli.Summary) envView {
	t.Helper()
	for _, e := range s.Environments {
		if e.Name == "prod" {
			return envView{e.Endpoint, e.Live, e.LastDeployment, e.Pending}
		}
	}
	t.Fatalf("no prod environment in the summary: %+v", s.Environments)
	return envView{}
}

type envView struct {
	endpoint string
	live     string
	last     *sluice.Deployment
	pending  *sluice.Approval
}

func explain(s cli.Summary, res result) string {
	b, _ := json.MarshalIndent(s.Stages, "", "  ")
	return fmt.Sprintf("status %s, error %q\nstages: %s\nstderr:\n%s", s.Status, s.Error, b, res.stderr)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and deploys the example")
	}
}

func TestRunSucceeds(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	code, s, res := r.run("--approve")
	if code != cli.ExitOK || s.Status != sluice.StatusSucceeded {
		t.Fatalf("exit %d, want 0\n%s", code, explain(s, res))
	}
	p := prod(t, s)
	if s.Artifact == "" || p.live != s.Artifact {
		t.Errorf("prod runs %q, want the execution's artifact %q", p.live, s.Artifact)
	}
	if p.last == nil || p.last.Status != sluice.StatusSucceeded {
		t.Errorf("prod's last deployment = %+v, want Succeeded", p.last)
	}
	for _, st := range s.Stages {
		if st.Status != sluice.StatusSucceeded {
			t.Errorf("stage %s is %s, want Succeeded", st.Name, st.Status)
		}
	}
}

func TestFailingIntegrationTestStopsBeforeProd(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, func(y string) string {
		return replaceOnce(fastRoute(y), "run: go test -count=1 ./integration/...", "run: exit 1")
	})
	code, s, res := r.run("--approve")
	if code != cli.ExitFailed || s.Status != sluice.StatusFailed {
		t.Fatalf("exit %d, want 1 and Failed\n%s", code, explain(s, res))
	}
	if a := action(t, s, "dev", sluice.KindTest); a.Status != sluice.StatusFailed {
		t.Errorf("dev's test is %s, want Failed", a.Status)
	}
	if st := stage(t, s, "prod"); st.Status != sluice.StatusPending {
		t.Errorf("prod stage is %s, want Pending (never started)", st.Status)
	}
}

// startRun starts `sluice run --json` with no terminal on stdin and returns a function that waits
// for it and decodes its summary.
func (r *repo) startRun(args ...string) func() (int, cli.Summary, result) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 3*time.Minute)
	cmd, stdout, stderr := sluiceCmd(ctx, r.dir, append([]string{"run", "--json", "--state", r.state}, args...)...)
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Start(); err != nil {
		cancel()
		r.t.Fatal(err)
	}
	var once sync.Once
	var res result
	r.t.Cleanup(func() { once.Do(func() { _ = cmd.Wait() }); cancel() })
	return func() (int, cli.Summary, result) {
		r.t.Helper()
		once.Do(func() { res = wait(r.t, cmd, stdout, stderr, cmd.Wait()) })
		return res.code, decodeSummary(r.t, res), res
	}
}

// status is `sluice status --json`.
func (r *repo) status() (api.Status, bool) {
	r.t.Helper()
	res := sluiceRun(r.t, r.dir, "status", "--json", "--state", r.state)
	var st api.Status
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &st) != nil {
		return st, false
	}
	return st, true
}

// waitPending waits until env has an approval waiting, and returns it.
func (r *repo) waitPending(env string) *sluice.Approval {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last result
	for time.Now().Before(deadline) {
		last = sluiceRun(r.t, r.dir, "status", "--json", "--state", r.state)
		var st api.Status
		if last.code == 0 && json.Unmarshal([]byte(last.stdout), &st) == nil {
			for _, e := range st.Environments {
				if e.Name == env && e.Pending != nil {
					return e.Pending
				}
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	r.t.Fatalf("no approval became pending in %s; the last status said (exit %d):\n%s%s", env, last.code, last.stdout, last.stderr)
	return nil
}

func TestRejectedApproval(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	done := r.startRun()
	r.waitPending("prod")
	if res := sluiceRun(t, r.dir, "reject", "prod", "--comment", "no", "--state", r.state); res.code != 0 {
		t.Fatalf("reject: exit %d\n%s", res.code, res.stderr)
	}
	code, s, res := done()
	if code != cli.ExitFailed || s.Status != sluice.StatusRejected {
		t.Fatalf("exit %d, want 1 and Rejected\n%s", code, explain(s, res))
	}
	hist := sluiceRun(t, r.dir, "history", "prod", "--json", "--state", r.state)
	var h struct {
		Approvals []sluice.Approval `json:"approvals"`
	}
	if err := json.Unmarshal([]byte(hist.stdout), &h); err != nil {
		t.Fatalf("history --json: %v\n%s", err, hist.stdout)
	}
	if len(h.Approvals) != 1 || h.Approvals[0].Status != sluice.StatusRejected || h.Approvals[0].Comment != "no" || h.Approvals[0].DecidedBy == "" {
		t.Fatalf("history approvals = %+v, want one rejection with comment %q", h.Approvals, "no")
	}
}

func TestExpiredApproval(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, func(y string) string {
		return replaceOnce(fastRoute(y), "approval:\n      required: true\n", "approval:\n      required: true\n      timeout: 1s\n")
	})
	done := r.startRun()
	code, s, res := done()
	if code != cli.ExitFailed || s.Status != sluice.StatusRejected {
		t.Fatalf("exit %d, want 1 and Rejected\n%s", code, explain(s, res))
	}
	if a := action(t, s, "prod", sluice.KindApproval); a.Status != sluice.StatusRejected {
		t.Errorf("prod approval is %s, want Rejected", a.Status)
	}
	hist := sluiceRun(t, r.dir, "history", "prod", "--json", "--state", r.state)
	var h struct {
		Approvals []sluice.Approval `json:"approvals"`
	}
	if err := json.Unmarshal([]byte(hist.stdout), &h); err != nil {
		t.Fatalf("history --json: %v\n%s", err, hist.stdout)
	}
	if len(h.Approvals) != 1 || !h.Approvals[0].Expired {
		t.Fatalf("history approvals = %+v, want one expired", h.Approvals)
	}
}

func TestApprovalInvalidatedByChange(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	done := r.startRun()
	pending := r.waitPending("prod")
	// Change what prod runs behind the waiting approval's back, as another run or a manual
	// rollback would.
	db, err := sqlite.Open(filepath.Join(r.state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Environment(t.Context(), "hello-api@main", "prod")
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		st, err = &sluice.EnvironmentState{Pipeline: "hello-api@main", Name: "prod"}, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	st.Live = &sluice.Version{Artifact: "sha256:" + strings.Repeat("0", 64), Revision: "elsewhere", Command: []string{"dist/app"}, PortEnv: "PORT", HealthPath: "/healthz"}
	st.UpdatedAt = time.Now()
	err = db.SaveEnvironment(t.Context(), st)
	db.Close()
	if err != nil {
		t.Fatalf("save environment: %v", err)
	}
	if res := sluiceRun(t, r.dir, "approve", "prod", "--change-set", pending.ChangeSetDigest, "--state", r.state); res.code != 0 {
		t.Fatalf("approve: exit %d\n%s", res.code, res.stderr)
	}
	code, s, res := done()
	if code != cli.ExitFailed || s.Status != sluice.StatusFailed {
		t.Fatalf("exit %d, want 1 and Failed\n%s", code, explain(s, res))
	}
	a := action(t, s, "prod", sluice.KindExecuteChangeSet)
	if a.Status != sluice.StatusFailed || !strings.Contains(a.Error, "changed after change set") {
		t.Fatalf("prod's ExecuteChangeSet = %s %q, want Failed because prod changed", a.Status, a.Error)
	}
}

func TestBrokenProdRollsBack(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	code, s, res := r.run("--approve")
	if code != cli.ExitOK {
		t.Fatalf("the good run: exit %d\n%s", code, explain(s, res))
	}
	good := s.Artifact
	endpoint := prod(t, s).endpoint
	if endpoint == "" {
		t.Fatal("the summary names no prod endpoint")
	}
	r.edit("breakprod.go", func(src string) string {
		return replaceOnce(src, "deliberatelyBreakProd = false", "deliberatelyBreakProd = true")
	})
	r.commit("break prod")
	stop := sendTraffic(endpoint)
	code, s, res = r.run("--approve")
	served, failed := stop()
	t.Logf("clients got %d answers from prod, %d of them errors", served, failed)
	if code != cli.ExitFailed || s.Status != sluice.StatusRolledBack {
		t.Fatalf("exit %d, want 1 and RolledBack\n%s", code, explain(s, res))
	}
	p := prod(t, s)
	if p.last == nil || p.last.Status != sluice.StatusRolledBack || p.last.Rollback == nil || p.last.Rollback.Cause != "alarm" {
		t.Fatalf("prod's last deployment = %+v, want rolled back by an alarm", p.last)
	}
	t.Logf("reaction %s", p.last.Rollback.Reaction())
	if p.live != good {
		t.Errorf("prod runs %s after the rollback, want the good %s", p.live, good)
	}
}

// sendTraffic asks endpoint for / until the returned stop is called, which says how many answers
// came and how many were errors. Prod's router listens only while an engine lives; refused
// connections before then are expected and not counted.
func sendTraffic(endpoint string) (stop func() (served, failed int)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var served, failed int
	wg.Go(func() {
		c := &http.Client{Timeout: 2 * time.Second}
		url := endpoint
		if !strings.Contains(url, "://") {
			url = "http://" + url
		}
		for {
			select {
			case <-done:
				return
			default:
			}
			resp, err := c.Get(url + "/")
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			served++
			if resp.StatusCode >= 500 {
				failed++
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return func() (int, int) {
		close(done)
		wg.Wait()
		return served, failed
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	example := filepath.Join(root, "hello-api")
	if err := os.MkdirAll(example, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := demo.Extract(example); err != nil {
		t.Fatal(err)
	}
	invalid := filepath.Join(root, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("version: 1\nname: x\nbuild:\n  commands: [make]\n  artifact: [dist/]\nenvironments:\n  - name: Prod\n    deploy:\n      strategy: Sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("validate an invalid file", func(t *testing.T) {
		res := sluiceRun(t, root, "validate", "-f", invalid)
		if res.code != cli.ExitFailed && res.code != cli.ExitUsage {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		out := res.stdout + res.stderr
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(invalid) + `:\d+:\d+: `).MatchString(out) {
			t.Fatalf("want FILE:LINE:COL diagnostics, got:\n%s", out)
		}
		if res.code != cli.ExitFailed {
			t.Errorf("exit %d, want %d", res.code, cli.ExitFailed)
		}
	})
	t.Run("plan the example", func(t *testing.T) {
		res := sluiceRun(t, example, "plan", "--json")
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		var p struct {
			Stages []struct {
				Name    string `json:"name"`
				Actions []struct {
					Kind sluice.ActionKind `json:"kind"`
				} `json:"actions"`
			} `json:"stages"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
			t.Fatalf("plan --json: %v\n%s", err, res.stdout)
		}
		want := map[string][]sluice.ActionKind{
			"Source": {sluice.KindSource},
			"Build":  {sluice.KindBuild},
			"Checks": {sluice.KindCheck},
			"dev":    {sluice.KindCreateChangeSet, sluice.KindExecuteChangeSet, sluice.KindTest},
			"prod":   {sluice.KindCreateChangeSet, sluice.KindApproval, sluice.KindExecuteChangeSet},
		}
		var names []string
		for _, st := range p.Stages {
			names = append(names, st.Name)
			var kinds []sluice.ActionKind
			for _, a := range st.Actions {
				kinds = append(kinds, a.Kind)
			}
			if fmt.Sprint(kinds) != fmt.Sprint(want[st.Name]) {
				t.Errorf("stage %s has actions %v, want %v", st.Name, kinds, want[st.Name])
			}
		}
		if got := strings.Join(names, ","); got != "Source,Build,Checks,dev,prod" {
			t.Errorf("stages = %s, want Source,Build,Checks,dev,prod", got)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		res := sluiceRun(t, root, "deploy")
		if res.code != cli.ExitUsage || !strings.Contains(res.stderr, "unknown command") {
			t.Fatalf("exit %d %q, want 2 and unknown command", res.code, res.stderr)
		}
	})
}

func TestDemoBundleIsCurrent(t *testing.T) {
	t.Parallel()
	for example, bundle := range map[string][]byte{"hello-api": demo.Bundle, "serverless-api": demo.ServerlessBundle} {
		var buf bytes.Buffer
		if err := demo.Pack(&buf, filepath.Join("..", "examples", example)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), bundle) {
			t.Errorf("cli/demo/%s.tar differs from examples/%s; run `make bundle`", example, example)
		}
	}
}
