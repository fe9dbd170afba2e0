package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/spec"
	"github.com/sluicehq/sluice/sqlite"
)

// route parses a sluice.yaml with the given notifications block.
func route(t *testing.T, notifications string) *spec.Route {
	t.Helper()
	src := `version: 1
name: hello-api
build: {commands: [make], artifact: [dist/]}
service: {command: [dist/app]}
environments:
  - name: dev
  - name: prod
    approval: {required: true}
notifications:
` + notifications
	rt, diags := spec.Parse("sluice.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("route: %s", diags.Error())
	}
	return rt
}

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// env is a fixed environment for channels.
func env(vars map[string]string) notify.Env {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

const (
	pipeline = "hello-api@main"
	revision = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// history stores what an execution that failed its prod test leaves, with its events:
// created, the failed action (whose log is in logDir) and the failed end.
type history struct {
	db     *sqlite.DB
	logDir string
}

func newHistory(t *testing.T, db *sqlite.DB) *history {
	return &history{db: db, logDir: t.TempDir()}
}

func (h *history) logs(execution, stage, action string) ([]byte, error) {
	return os.ReadFile(filepath.Join(h.logDir, execution, stage+"."+action+".log"))
}

func (h *history) execution(t *testing.T, id string) *sluice.Execution {
	t.Helper()
	ex := &sluice.Execution{ID: id, Pipeline: pipeline, Revision: revision, Subject: "Add the health check", Status: sluice.StatusPending, CreatedAt: now}
	stages := []sluice.StageExecution{{ExecutionID: id, Stage: "prod", Status: sluice.StatusPending}}
	actions := []sluice.ActionExecution{{ExecutionID: id, Stage: "prod", Action: "integration", Kind: sluice.KindTest, RunOrder: 1, Status: sluice.StatusPending}}
	must(t, h.db.CreateExecution(t.Context(), ex, stages, actions, sluice.ExecutionCreated(ex, now)))
	return ex
}

// failTest records that ex's prod integration test failed with output, and ex with it.
func (h *history) failTest(t *testing.T, ex *sluice.Execution, output string) {
	t.Helper()
	dir := filepath.Join(h.logDir, ex.ID)
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "prod.integration.log"), []byte(output), 0o644))
	a := sluice.ActionExecution{ExecutionID: ex.ID, Stage: "prod", Action: "integration", Kind: sluice.KindTest, RunOrder: 1, Status: sluice.StatusFailed, Attempt: 1, Error: "exit status 1"}
	must(t, h.db.SaveAction(t.Context(), &a, sluice.ActionEnded(&a, now)))
	ex.Status, ex.Error = sluice.StatusFailed, "integration: exit status 1"
	must(t, h.db.SaveExecution(t.Context(), ex, sluice.ExecutionEnded(ex, now)))
}

// approveAndRollBack records that alice approved ex's change set for prod and that its
// deployment was rolled back by the api-errors alarm.
func (h *history) approveAndRollBack(t *testing.T, ex *sluice.Execution) {
	t.Helper()
	ctx := t.Context()
	cs := &sluice.ChangeSet{Digest: "sha256:" + strings.Repeat("c", 64), Environment: "prod",
		Changes: []sluice.Change{{Field: "artifact", From: "sha256:aaa", To: "sha256:bbb", Replaces: true}}}
	must(t, h.db.SaveChangeSet(ctx, cs))
	a := &sluice.Approval{ExecutionID: ex.ID, Pipeline: pipeline, Environment: "prod", ChangeSetDigest: cs.Digest, Status: sluice.StatusWaiting, RequestedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, h.db.CreateApproval(ctx, a, func(a *sluice.Approval) []sluice.Event { return []sluice.Event{sluice.ApprovalRequested(a, now)} }))
	a.Status, a.DecidedBy, a.DecidedAt = sluice.StatusSucceeded, "alice", now
	must(t, h.db.DecideApproval(ctx, a, sluice.ApprovalDecided(a, now)))
	d := &sluice.Deployment{Pipeline: pipeline, Environment: "prod", ExecutionID: ex.ID, ChangeSetDigest: cs.Digest,
		From: "sha256:" + strings.Repeat("a", 64), To: "sha256:" + strings.Repeat("b", 64), Revision: revision,
		Strategy: "Linear10PercentEvery1Minute", Status: sluice.StatusInProgress, StartedAt: now}
	must(t, h.db.CreateDeployment(ctx, d, sluice.DeploymentStarted(d, now)))
	d.Status, d.EndedAt = sluice.StatusRolledBack, now.Add(time.Minute)
	d.Rollback = &sluice.Rollback{Cause: sluice.CauseAlarm, Alarm: "api-errors", Metric: sluice.MetricErrorRate, Value: 0.31, Threshold: 0.05,
		BreachedAt: now.Add(50 * time.Second), RestoredAt: now.Add(50*time.Second + 1200*time.Millisecond)}
	must(t, h.db.SaveDeployment(ctx, d, sluice.DeploymentEnded(d, now.Add(time.Minute))))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// receiver is an HTTP receiver on loopback that records each request and answers with the
// status its answer function gives (200 if nil).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	answer   func(n int) int
}

type request struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		// Kept as it arrives; its status once answered (0 until then).
		r.mu.Lock()
		r.requests = append(r.requests, request{header: req.Header.Clone(), body: body})
		n := len(r.requests)
		r.mu.Unlock()
		status := http.StatusOK
		if r.answer != nil {
			status = r.answer(n) // outside the lock: an answer may wait
		}
		r.mu.Lock()
		r.requests[n-1].status = status
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

// accepted returns the requests answered 2xx.
func (r *receiver) accepted() []request {
	var out []request
	for _, q := range r.got() {
		if q.status/100 == 2 {
			out = append(out, q)
		}
	}
	return out
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
