package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

// TestUp runs `sluice up` as users do: `sluice run` hands its execution to it and exits as a
// run of its own would, environments keep serving after the run, the API needs the token,
// /metrics shows the router's traffic, and SIGTERM stops everything.
func TestUp(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	u := startUp(ctx, t, r)

	code, s, res := r.run("--approve")
	if code != cli.ExitOK || s.Status != sluice.StatusSucceeded {
		t.Fatalf("run through up: exit %d\n%s", code, explain(s, res))
	}
	if !strings.Contains(res.stderr, "handing the execution to the engine") {
		t.Errorf("the run did not go through sluice up:\n%s", res.stderr)
	}
	endpoint := prod(t, s).endpoint
	body := get(t, endpoint+"/version", "", http.StatusOK)
	if want := s.Revision[:7]; strings.TrimSpace(body) != want {
		t.Errorf("prod answers version %q after the run, want %q", body, want)
	}

	api := "http://" + u.Address
	get(t, api+"/api/v1/status", "", http.StatusUnauthorized)
	get(t, api+"/api/v1/status", "wrong", http.StatusUnauthorized)
	token, err := os.ReadFile(filepath.Join(r.state, "token"))
	if err != nil {
		t.Fatal(err)
	}
	status := get(t, api+"/api/v1/status", strings.TrimSpace(string(token)), http.StatusOK)
	if !strings.Contains(status, s.Execution) {
		t.Errorf("status does not list execution %s:\n%s", s.Execution, status)
	}
	metrics := get(t, api+"/metrics", "", http.StatusOK)
	if !strings.Contains(metrics, "sluice_requests_total") || !strings.Contains(metrics, `environment="prod"`) {
		t.Errorf("metrics lack prod's request counts:\n%.2000s", metrics)
	}

	logs := sluiceRun(t, r.dir, "logs", "--env", "prod", "--state", r.state)
	if logs.code != 0 || !strings.Contains(logs.stdout, `serving environment "prod"`) {
		t.Errorf("sluice logs --env prod: exit %d\n%s%s", logs.code, logs.stdout, logs.stderr)
	}

	u.stop(t)
	if _, err := http.Get(endpoint + "/"); err == nil {
		t.Error("prod still answers after sluice up stopped")
	}
	if _, err := os.Stat(filepath.Join(r.state, "api.json")); !os.IsNotExist(err) {
		t.Errorf("api.json left behind after a clean stop: %v", err)
	}
}

func get(t *testing.T, url, token string, want int) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d\n%s", url, resp.Status, want, b)
	}
	return string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a whole execution, with a go build, on a loaded machine
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
