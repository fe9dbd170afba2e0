// Package integration tests a deployed serverless-api through its HTTP API. Sluice runs it
// after each deploy to dev with SLUICE_ENDPOINT set to the stack's ApiUrl output (and
// SLUICE_ENVIRONMENT, SLUICE_ARTIFACT); without SLUICE_ENDPOINT every test skips, so
// `go test ./...` stays usable on a laptop.
package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func endpoint(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SLUICE_ENDPOINT")
	if base == "" {
		t.Skip("SLUICE_ENDPOINT is not set; set it to the stack's ApiUrl output")
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/")
}

func do(t *testing.T, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, endpoint(t)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return res, string(body)
}

func TestGreeting(t *testing.T) {
	res, body := do(t, http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / answered %s: %s", res.Status, body)
	}
	var g struct{ Message, Stage, Version, Artifact string }
	if err := json.Unmarshal([]byte(body), &g); err != nil {
		t.Fatalf("GET / answered %q, not JSON: %v", body, err)
	}
	// A branch pipeline's environment is dev@BRANCH; its stage is still dev.
	if env, _, _ := strings.Cut(os.Getenv("SLUICE_ENVIRONMENT"), "@"); env != "" && g.Stage != env {
		t.Errorf("stage %q, want %q", g.Stage, env)
	}
	if g.Message != "hello from "+g.Stage || g.Version == "" {
		t.Errorf("greeting %+v", g)
	}
	if want := os.Getenv("SLUICE_ARTIFACT"); want != "" && g.Artifact != want {
		t.Errorf("served by artifact %q, want the one just deployed, %q", g.Artifact, want)
	}
	if res.Header.Get("X-Version") != g.Version {
		t.Errorf("X-Version %q, body says version %q", res.Header.Get("X-Version"), g.Version)
	}
}

func TestHealth(t *testing.T) {
	if res, body := do(t, http.MethodGet, "/healthz"); res.StatusCode != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /healthz answered %s %q", res.Status, body)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	if res, body := do(t, http.MethodGet, "/no-such-page"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /no-such-page answered %s %q, want 404", res.Status, body)
	}
	if res, body := do(t, http.MethodPost, "/"); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET" {
		t.Errorf("POST / answered %s %q (Allow %q), want 405 with Allow: GET", res.Status, body, res.Header.Get("Allow"))
	}
}
