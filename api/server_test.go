package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/local"
	"github.com/sluicehq/sluice/sqlite"
)

const route = `version: 1
name: api-test
build:
  commands: ["mkdir -p dist && echo app > dist/app"]
  artifact: [dist/]
service:
  command: [dist/app]
environments:
  - name: dev
`

// newServer serves the API of a real engine on an empty state.
func newServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	repo, state := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "sluice.yaml"), []byte(route), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	db, err := sqlite.Open(filepath.Join(state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifact.Open(filepath.Join(state, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	en, err := engine.New(engine.Config{
		RouteFile: filepath.Join(repo, "sluice.yaml"), StateDir: state, Store: db, Artifacts: arts,
		Providers: map[string]deploy.Provider{"local": local.New(filepath.Join(state, "environments"), arts, nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := en.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = en.Close(); _ = db.Close() })
	const token = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer((&api.Server{Engine: en, Token: token}).Handler())
	t.Cleanup(srv.Close)
	return srv, token
}

func TestInputIsValidated(t *testing.T) {
	srv, token := newServer(t)
	tests := []struct {
		name, method, path, body, token string
		status                          int
		says                            string
	}{
		{"no token", "GET", "/api/v1/status", "", "", 401, "token"},
		{"wrong token", "GET", "/api/v1/status", "", "nope", 401, "token"},
		{"status", "GET", "/api/v1/status", "", token, 200, `"executions"`},
		{"body is not JSON", "POST", "/api/v1/executions", "{rev:", token, 400, "not the expected JSON"},
		{"unknown field", "POST", "/api/v1/executions", `{"revision":"main"}`, token, 400, "unknown field"},
		{"unknown revision", "POST", "/api/v1/executions", `{"rev":"no-such-branch"}`, token, 404, "not found"},
		{"unknown execution", "GET", "/api/v1/executions/nope", "", token, 404, "not found"},
		{"unknown execution operation", "POST", "/api/v1/executions/nope/explode", "", token, 404, "use stop or retry"},
		{"retry unknown execution", "POST", "/api/v1/executions/nope/retry", "", token, 404, "not found"},
		{"unknown environment operation", "POST", "/api/v1/environments/dev/launch", "", token, 404, "use approve"},
		{"nothing to approve", "POST", "/api/v1/environments/dev/approve", `{"user":"ann"}`, token, 404, "no approval is waiting"},
		{"approve without identity", "POST", "/api/v1/environments/dev/approve", `{}`, token, 403, "SLUICE_USER"},
		{"nothing to roll back to", "POST", "/api/v1/environments/dev/rollback", "", token, 409, "no earlier good version"},
		{"unknown environment", "POST", "/api/v1/environments/qa/rollback", "", token, 404, "not in"},
		{"metrics need no token", "GET", "/metrics", "", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.says) {
				t.Errorf("%s %s: %d %s, want %d containing %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.says)
			}
		})
	}
}
