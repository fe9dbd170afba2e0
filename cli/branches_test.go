package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/webhooktest"
)

// branchRoute is the fast example with dev's integration test left out, release branches
// deploying to dev only and pull requests to an environment of their own copied from dev.
func branchRoute(yaml string) string {
	yaml = fastRoute(yaml)
	yaml = replaceOnce(yaml, "    tests:\n      - name: integration\n        run: go test -count=1 ./integration/...\n        timeout: 2m\n", "")
	return yaml + `
pipelines:
  branches:
    - match: release/*
      environments: [dev]
  pull_requests:
    ephemeral: {from: dev, ttl: 1h}
`
}

const webhookSecret = "a webhook secret for tests"

// pipelineEntry is one pipeline of sluice pipelines --json.
type pipelineEntry struct {
	sluice.Pipeline
	LastExecution *struct {
		ID     string        `json:"id"`
		Status sluice.Status `json:"status"`
	} `json:"last_execution"`
	Environments []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
		Live    string `json:"live"`
	} `json:"environments"`
}

func (r *repo) pipelines() map[string]pipelineEntry {
	r.t.Helper()
	m, err := r.tryPipelines()
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// tryPipelines is pipelines for a state that may not be served yet (sluice up starting).
func (r *repo) tryPipelines() (map[string]pipelineEntry, error) {
	r.t.Helper()
	res := sluiceRun(r.t, r.dir, "pipelines", "--json", "--state", r.state)
	var out struct{ Pipelines []pipelineEntry }
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		return nil, fmt.Errorf("sluice pipelines --json: %v\n%s%s", err, res.stdout, res.stderr)
	}
	m := map[string]pipelineEntry{}
	for _, p := range out.Pipelines {
		m[p.ID] = p
	}
	return m, nil
}

// waitPipeline waits until pipeline id's last execution ended, and returns the pipeline.
func (r *repo) waitPipeline(id string, want sluice.Status) pipelineEntry {
	r.t.Helper()
	var p pipelineEntry
	eventually(r.t, "pipeline "+id+" to end its execution "+string(want), func() bool {
		m, err := r.tryPipelines()
		p = m[id]
		return err == nil && p.LastExecution != nil && p.LastExecution.Status.Done()
	})
	if p.LastExecution.Status != want {
		r.t.Fatalf("pipeline %s: execution %s %s, want %s", id, p.LastExecution.ID, p.LastExecution.Status, want)
	}
	return p
}

// head returns the commit at the head of branch.
func (r *repo) head(branch string) string {
	r.t.Helper()
	cmd := exec.Command("git", "rev-parse", branch)
	cmd.Dir = r.dir
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git rev-parse %s: %v", branch, err)
	}
	return strings.TrimSpace(string(out))
}

type hook struct {
	t    *testing.T
	base string
}

// send delivers a sample payload as provider would, signed with key, and returns the status
// and body of the answer.
func (h hook) send(provider, event, id, file string, vars map[string]string, key []byte) (int, string) {
	h.t.Helper()
	return h.sendBody(provider, event, id, webhooktest.Payload(file, vars), key)
}

func (h hook) sendBody(provider, event, id string, body, key []byte) (int, string) {
	h.t.Helper()
	req, err := webhooktest.Request(h.base+"/webhooks/"+provider, provider, event, id, body, key)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h hook) want(status int, provider, event, id, file string, vars map[string]string, key []byte) string {
	h.t.Helper()
	code, body := h.send(provider, event, id, file, vars, key)
	if code != status {
		h.t.Fatalf("%s %s delivery %s: %d %s, want %d", provider, event, id, code, body, status)
	}
	return body
}

var webhookAddress = regexp.MustCompile(`webhooks http://([0-9.:]+)/webhooks/`)

func (u *upProcess) webhooks(t *testing.T) hook {
	t.Helper()
	var m []string
	eventually(t, "sluice up to say where webhooks are served", func() bool {
		m = webhookAddress.FindStringSubmatch(u.stdout.String())
		return m != nil
	})
	return hook{t: t, base: "http://" + m[1]}
}

func serves(url string) bool {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url + "/version")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestBranchAndPullRequestPipelinesFromWebhooks drives `sluice up --webhook-listen` with
// signed deliveries in each host's format against a real git repository: a release branch and
// a pull request get pipelines whose environments answer, forged, unsigned, replayed and
// oversized deliveries change nothing, everything survives a restart, and deleting the branch
// and merging the pull request remove their pipelines: their environments stop answering.
func TestBranchAndPullRequestPipelinesFromWebhooks(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, branchRoute)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	env := []string{"SLUICE_WEBHOOK_SECRET=" + webhookSecret}
	key := []byte(webhookSecret)

	// Without a secret, --webhook-listen is refused.
	if res := sluiceRun(t, r.dir, "up", "--listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0", "--state", r.state); res.code != 2 || !strings.Contains(res.stderr, "SLUICE_WEBHOOK_SECRET") {
		t.Fatalf("up --webhook-listen without a secret: exit %d\n%s", res.code, res.stderr)
	}

	u := startUpEnv(ctx, t, r, env, "--webhook-listen", "127.0.0.1:0")
	h := u.webhooks(t)
	if code, _ := (hook{t, "http://" + u.Address}).send("github", "push", "x", "github/delete.json", map[string]string{"BRANCH": "x"}, key); code != http.StatusNotFound && code != http.StatusUnauthorized {
		t.Errorf("the API serves webhooks: %d", code)
	}

	// A release branch is created: GitHub says so.
	r.git("branch", "release/1.0")
	vars := map[string]string{"BRANCH": "release/1.0", "SHA": r.head("release/1.0")}
	body := h.want(http.StatusAccepted, "github", "create", "gh-1", "github/create.json", vars, key)
	release := sluice.PipelineID("hello-api", sluice.KindBranch, "release/1.0", 0)
	if !strings.Contains(body, release) {
		t.Fatalf("the create delivery's answer does not name pipeline %s: %s", release, body)
	}
	rel := r.waitPipeline(release, sluice.StatusSucceeded)
	if len(rel.Environments) != 1 || rel.Environments[0].Name != "dev" || !serves(rel.Environments[0].Address) {
		t.Fatalf("the release branch's environments: %+v; want its own dev, answering", rel.Environments)
	}
	relDev := rel.Environments[0].Address

	// Forged, unsigned, replayed and oversized deliveries change nothing.
	del := map[string]string{"BRANCH": "release/1.0"}
	h.want(http.StatusForbidden, "github", "delete", "gh-2", "github/delete.json", del, []byte("a guessed secret, not ours"))
	h.want(http.StatusUnauthorized, "gitea", "delete", "gt-1", "gitea/delete.json", del, nil)
	h.want(http.StatusForbidden, "gitlab", "Push Hook", "gl-1", "gitlab/push.json", map[string]string{"BRANCH": "release/1.0", "BEFORE": vars["SHA"], "SHA": strings.Repeat("0", 40)}, []byte("wrong token"))
	h.want(http.StatusConflict, "github", "create", "gh-1", "github/create.json", vars, key)
	huge := []byte(`{"ref": "release/1.0", "ref_type": "branch", "pad": "` + strings.Repeat("x", 5<<20) + `"}`)
	if code, body := h.sendBody("github", "delete", "gh-3", huge, key); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized delivery: %d %s", code, body)
	}
	if code, body := h.sendBody("gitea", "delete", "gt-2", []byte(`{"ref": "release/1.0",`), key); code != http.StatusBadRequest {
		t.Errorf("a malformed delivery: %d %s", code, body)
	}
	if p := r.pipelines()[release]; p.State != sluice.PipelineActive || !serves(relDev) {
		t.Fatalf("after refused deliveries the release pipeline is %s, dev answering %v", p.State, serves(relDev))
	}

	// A pull request is opened (Gitea), then pushed to (GitHub's format for the same event).
	r.git("checkout", "-q", "-b", "fix/typo")
	r.edit("README.md", func(s string) string { return s + "\nA typo fixed.\n" })
	r.commit("fix a typo")
	r.git("checkout", "-q", "main")
	pr := map[string]string{"BRANCH": "fix/typo", "SHA": r.head("fix/typo"), "NUMBER": "7", "ACTION": "opened", "MERGED": "false"}
	h.want(http.StatusAccepted, "gitea", "pull_request", "gt-3", "gitea/pull_request.json", pr, key)
	prPipe := r.waitPipeline("hello-api@pr-7", sluice.StatusSucceeded)
	if len(prPipe.Environments) != 1 || prPipe.Environments[0].Name != "pr-7" || !serves(prPipe.Environments[0].Address) || prPipe.ExpiresAt.IsZero() {
		t.Fatalf("the pull request's pipeline: %+v; want its own pr-7, answering, with an expiry", prPipe)
	}
	prEnv := prPipe.Environments[0].Address
	if prEnv == relDev {
		t.Fatalf("the pull request and the release branch share %s", prEnv)
	}

	// A push to the release branch runs its pipeline again (GitLab's push format).
	r.git("checkout", "-q", "release/1.0")
	r.edit("README.md", func(s string) string { return s + "\nRelease notes.\n" })
	r.commit("release notes")
	r.git("checkout", "-q", "main")
	before := rel.LastExecution.ID
	push := map[string]string{"BRANCH": "release/1.0", "BEFORE": vars["SHA"], "SHA": r.head("release/1.0")}
	h.want(http.StatusAccepted, "gitlab", "Push Hook", "gl-2", "gitlab/push.json", push, key)
	eventually(t, "a second execution of the release branch", func() bool {
		p := r.pipelines()[release]
		return p.LastExecution != nil && p.LastExecution.ID != before
	})
	rel = r.waitPipeline(release, sluice.StatusSucceeded)
	if rel.Environments[0].Live != push["SHA"] {
		t.Fatalf("the release branch's dev runs %s after the push, want %s", rel.Environments[0].Live, push["SHA"])
	}

	// status, history and run take --pipeline (through the API of sluice up).
	st := sluiceRun(t, r.dir, "status", "--pipeline", "release/1.0", "--json", "--state", r.state)
	if st.code != 0 || !strings.Contains(st.stdout, relDev) || strings.Contains(st.stdout, prEnv) {
		t.Errorf("status --pipeline release/1.0: exit %d; want the branch's dev (%s), not pr-7's\n%s%s", st.code, relDev, st.stdout, st.stderr)
	}
	hist := sluiceRun(t, r.dir, "history", "dev", "--pipeline", release, "--json", "--state", r.state)
	var hd struct{ Deployments []sluice.Deployment }
	if err := json.Unmarshal([]byte(hist.stdout), &hd); err != nil || len(hd.Deployments) != 2 || hd.Deployments[0].Pipeline != release {
		t.Errorf("history dev --pipeline %s: %v; want its 2 deployments\n%s%s", release, err, hist.stdout, hist.stderr)
	}
	if res := sluiceRun(t, r.dir, "history", "pr-7", "--pipeline", "pr-7", "--json", "--state", r.state); res.code != 0 || !strings.Contains(res.stdout, "hello-api@pr-7") {
		t.Errorf("history pr-7 --pipeline pr-7: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := sluiceRun(t, r.dir, "approve", "dev", "--pipeline", "hotfix/9", "--change-set", "abcdef", "--state", r.state); res.code == 0 || !strings.Contains(res.stderr, "no pipeline is called") {
		t.Errorf("approve --pipeline of an unknown pipeline: exit %d\n%s", res.code, res.stderr)
	}
	code, sum, res := r.run("--pipeline", "pr-7")
	if code != 0 || sum.Pipeline != "hello-api@pr-7" || sum.Status != sluice.StatusSucceeded {
		t.Fatalf("run --pipeline pr-7: exit %d, pipeline %s, %s\n%s", code, sum.Pipeline, sum.Status, res.stderr)
	}

	// Restart: everything comes back, and a delivery accepted before is still a replay.
	u.stop(t)
	if serves(relDev) || serves(prEnv) {
		t.Fatal("environments answer while sluice up is stopped")
	}
	u = startUpEnv(ctx, t, r, env, "--webhook-listen", "127.0.0.1:0")
	h = u.webhooks(t)
	eventually(t, "the branch's and the pull request's environments to answer after the restart", func() bool {
		return serves(relDev) && serves(prEnv)
	})
	h.want(http.StatusConflict, "gitea", "pull_request", "gt-3", "gitea/pull_request.json", pr, key)

	// The pull request is merged (GitLab's format): its pipeline goes, and its environment.
	mr := map[string]string{"BRANCH": "fix/typo", "SHA": pr["SHA"], "NUMBER": "7", "ACTION": "merge", "STATE": "merged"}
	h.want(http.StatusAccepted, "gitlab", "Merge Request Hook", "gl-3", "gitlab/merge_request.json", mr, key)
	if p := r.pipelines()["hello-api@pr-7"]; p.State != sluice.PipelineRemoved || !strings.Contains(p.RemovedBecause, "merged") {
		t.Fatalf("the merged pull request's pipeline: %s (%s)", p.State, p.RemovedBecause)
	}
	if serves(prEnv) {
		t.Fatalf("pr-7 still answers at %s after the pull request was merged", prEnv)
	}
	if !serves(relDev) {
		t.Fatal("the release branch's dev stopped answering when the pull request was merged")
	}

	// The branch is deleted (GitHub): its pipeline goes, its history stays.
	r.git("branch", "-D", "release/1.0")
	h.want(http.StatusAccepted, "github", "delete", "gh-4", "github/delete.json", del, key)
	p := r.pipelines()[release]
	if p.State != sluice.PipelineRemoved || p.LastExecution == nil || p.LastExecution.Status != sluice.StatusSucceeded {
		t.Fatalf("the deleted branch's pipeline: %+v; want removed, its history kept", p)
	}
	if serves(relDev) {
		t.Fatalf("the deleted branch's dev still answers at %s", relDev)
	}
	text := sluiceRun(t, r.dir, "pipelines", "--state", r.state)
	for _, want := range []string{"branch release/1.0 was deleted", "pull request #7 was merged"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("sluice pipelines does not say %q:\n%s", want, text.stdout)
		}
	}
	u.stop(t)
}

// TestBranchPipelinesFromPolling: where no webhook reaches, sluice up's poller does the same
// from the repository's branches: a release branch gets its pipeline and an environment that
// answers, a branch no rule matches gets none, and deleting the branch removes its pipeline
// and stops its environment.
func TestBranchPipelinesFromPolling(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, branchRoute)
	r.git("branch", "release/2.0")
	r.git("branch", "experiment")
	r.startSluice(nil, "up", "--listen", "127.0.0.1:0", "--poll", "200ms", "--state", r.state)
	release := sluice.PipelineID("hello-api", sluice.KindBranch, "release/2.0", 0)
	rel := r.waitPipeline(release, sluice.StatusSucceeded)
	if len(rel.Environments) != 1 || !serves(rel.Environments[0].Address) {
		t.Fatalf("the release branch's environments: %+v; want its own dev, answering", rel.Environments)
	}
	for id := range r.pipelines() {
		if strings.Contains(id, "experiment") {
			t.Errorf("a branch no rule matches got pipeline %s", id)
		}
	}
	r.git("branch", "-D", "release/2.0")
	eventually(t, "the deleted branch's pipeline to be removed", func() bool {
		return r.pipelines()[release].State == sluice.PipelineRemoved
	})
	if serves(rel.Environments[0].Address) {
		t.Fatalf("the deleted branch's dev still answers at %s", rel.Environments[0].Address)
	}
	if p := r.pipelines()["hello-api@main"]; p.State != sluice.PipelineActive {
		t.Errorf("the main pipeline is %s", p.State)
	}
}
