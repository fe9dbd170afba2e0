package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
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

// newServer serves the API of a real engine on an empty state, listening on its own Addr.
// configure, if not nil, may change the Server before it serves.
func newServer(t *testing.T, configure func(*api.Server)) (*httptest.Server, string) {
	t.Helper()
	srv, token, _ := newServerOf(t, route, configure)
	return srv, token
}

// newServerOf is newServer for a route of the test's own, in a repository it returns.
func newServerOf(t *testing.T, route string, configure func(*api.Server)) (*httptest.Server, string, string) {
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
		Source:    git.Source{},
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
	s := &api.Server{Engine: en, Token: token, Metrics: func(w io.Writer) error {
		_, err := io.WriteString(w, "sluice_requests_total 0\n")
		return err
	}}
	if configure != nil {
		configure(s)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	s.Addr = srv.Listener.Addr().String()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, token, repo
}

func TestInputIsValidated(t *testing.T) {
	srv, token := newServer(t, nil)
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
		{"events", "GET", "/api/v1/events?after=0&limit=5", "", token, 200, `"next":0`},
		{"events after no number", "GET", "/api/v1/events?after=last", "", token, 400, "not a Seq"},
		{"events after a negative", "GET", "/api/v1/events?after=-1", "", token, 400, "not a Seq"},
		{"events page too large", "GET", "/api/v1/events?limit=5000", "", token, 400, "1 to 1000"},
		{"events page of none", "GET", "/api/v1/events?limit=0", "", token, 400, "1 to 1000"},
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

// TestFrontDoor sends raw requests to the API as a browser page, a script or a mistake would:
// only "Authorization: Bearer TOKEN" opens /api/, and only a Host that names this server (its
// address, localhost or loopback at its port) is answered at all, /metrics and /healthz too, so
// a page whose DNS name is rebound to 127.0.0.1 reads nothing.
func TestFrontDoor(t *testing.T) {
	srv, token := newServer(t, nil)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	otherPort := "1"
	if port == otherPort {
		otherPort = "2"
	}
	tests := []struct {
		name, path, host, authorization string
		status                          int
		says                            string
	}{
		{"bearer token", "/api/v1/status", "", "Bearer " + token, 200, `"executions"`},
		{"scheme in lower case", "/api/v1/status", "", "bearer " + token, 200, `"executions"`},
		{"raw token", "/api/v1/status", "", token, 401, "Authorization: Bearer"},
		{"token after another scheme", "/api/v1/status", "", "Basic " + token, 401, "Authorization: Bearer"},
		{"token with the scheme glued on", "/api/v1/status", "", "Bearer" + token, 401, "Authorization: Bearer"},
		{"bearer without a token", "/api/v1/status", "", "Bearer ", 401, "Authorization: Bearer"},
		{"two spaces", "/api/v1/status", "", "Bearer  " + token, 401, "Authorization: Bearer"},
		{"localhost", "/api/v1/status", "localhost:" + port, "Bearer " + token, 200, `"executions"`},
		{"LOCALHOST", "/api/v1/status", "LOCALHOST:" + port, "Bearer " + token, 200, `"executions"`},
		{"another loopback address", "/api/v1/status", "127.0.0.2:" + port, "Bearer " + token, 200, `"executions"`},
		{"IPv6 loopback", "/api/v1/status", "[::1]:" + port, "Bearer " + token, 200, `"executions"`},
		{"a rebound name", "/api/v1/status", "evil.example:" + port, "Bearer " + token, 421, "names another server"},
		{"a rebound name without a port", "/api/v1/status", "evil.example", "Bearer " + token, 421, "names another server"},
		{"another port", "/api/v1/status", "127.0.0.1:" + otherPort, "Bearer " + token, 421, "names another server"},
		{"localhost at another port", "/api/v1/status", "localhost:" + otherPort, "Bearer " + token, 421, "names another server"},
		{"a public address", "/api/v1/status", "93.184.216.34:" + port, "Bearer " + token, 421, "names another server"},
		{"a name that ends in localhost", "/api/v1/status", "localhost.evil.example:" + port, "Bearer " + token, 421, "names another server"},
		{"metrics need no token", "/metrics", "", "", 200, "sluice_requests_total"},
		{"metrics to a rebound name", "/metrics", "evil.example:" + port, "", 421, "names another server"},
		{"healthz to a rebound name", "/healthz", "evil.example:" + port, "", 421, "names another server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawGet(t, srv, tt.path, tt.host, tt.authorization)
			if status != tt.status || !strings.Contains(body, tt.says) {
				t.Errorf("GET %s (Host %q, Authorization %q): %d %s, want %d containing %q", tt.path, tt.host, tt.authorization, status, body, tt.status, tt.says)
			}
		})
	}
}

// TestFrontDoorListeningEverywhere: an API listening on all addresses answers a request that
// names any address at its port (as a client on another machine sends), but still no name other
// than localhost.
func TestFrontDoorListeningEverywhere(t *testing.T) {
	const port = "7373"
	h := (&api.Server{Token: "t", Addr: "0.0.0.0:" + port}).Handler()
	tests := []struct {
		host   string
		status int
	}{
		{"192.0.2.7:" + port, 404},
		{"0.0.0.0:" + port, 404},
		{"localhost:" + port, 404},
		{"rebound.example:" + port, 421},
		{"192.0.2.7:1", 421},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/nothing-here", nil)
		req.Host = tt.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("Host %s: %d, want %d", tt.host, rec.Code, tt.status)
		}
	}
}

// TestMetricsOff: an engine started with --metrics=false has no /metrics.
func TestMetricsOff(t *testing.T) {
	srv, _ := newServer(t, func(s *api.Server) { s.Metrics = nil })
	status, body := rawGet(t, srv, "/metrics", "", "")
	if status != http.StatusNotFound || !strings.Contains(body, "metrics are off") || strings.Contains(body, "sluice_requests_total") {
		t.Errorf("GET /metrics with metrics off: %d %s, want 404 saying they are off", status, body)
	}
}

// rawGet sends GET path to srv over a plain TCP connection, so that the Host and Authorization
// headers are exactly the bytes given (an empty host sends the server's own address).
func rawGet(t *testing.T, srv *httptest.Server, path, host, authorization string) (int, string) {
	t.Helper()
	if host == "" {
		host = srv.Listener.Addr().String()
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n"
	if authorization != "" {
		req += "Authorization: " + authorization + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
