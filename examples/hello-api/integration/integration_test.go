// Package integration tests a deployed hello-api through the environment's address. Sluice runs it
// after each deploy with SLUICE_ENDPOINT set (and SLUICE_REVISION, the revision just deployed);
// without SLUICE_ENDPOINT every test skips, so `go test ./...` stays usable on a laptop.
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

// endpoint returns the base URL of the environment under test, or skips the test.
func endpoint(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SLUICE_ENDPOINT")
	if base == "" {
		t.Skip("SLUICE_ENDPOINT is not set; set it to a running hello-api, e.g. http://127.0.0.1:8080")
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/")
}

// get fetches path and fails the test unless the answer is 200. The client's timeout keeps a hung
// environment from hanging the test run until the gate's own timeout.
func get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	url := endpoint(t) + path
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %q", url, resp.StatusCode, body)
	}
	return resp, string(body)
}

// wantRevision is the short revision the environment should be running, or "" if unknown.
func wantRevision() string {
	rev := os.Getenv("SLUICE_REVISION")
	if len(rev) > 7 {
		rev = rev[:7]
	}
	return rev
}

func TestHealthz(t *testing.T) {
	_, body := get(t, "/healthz")
	if strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz body = %q, want %q", body, "ok")
	}
}

func TestVersion(t *testing.T) {
	_, body := get(t, "/version")
	got := strings.TrimSpace(body)
	if got == "" {
		t.Fatal("/version body is empty")
	}
	if want := wantRevision(); want != "" && got != want {
		t.Errorf("/version = %q, want %q (the first 7 characters of SLUICE_REVISION)", got, want)
	}
}

func TestHello(t *testing.T) {
	// A few requests rather than one, so that an environment where some answers fail is caught.
	for range 5 {
		resp, body := get(t, "/")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var got struct {
			Message     *string `json:"message"`
			Version     *string `json:"version"`
			Environment *string `json:"environment"`
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("/ body %q is not the expected JSON: %v", body, err)
		}
		if got.Message == nil || got.Version == nil || got.Environment == nil {
			t.Fatalf("/ body %q: want the keys message, version and environment", body)
		}
		if *got.Environment == "" {
			t.Errorf("/ environment is empty")
		}
		if want := "hello from " + *got.Environment; *got.Message != want {
			t.Errorf("/ message = %q, want %q", *got.Message, want)
		}
		if want := wantRevision(); want != "" && *got.Version != want {
			t.Errorf("/ version = %q, want %q (the first 7 characters of SLUICE_REVISION)", *got.Version, want)
		}
		if header := resp.Header.Get("X-Version"); header != *got.Version {
			t.Errorf("X-Version header = %q, body version = %q; want them equal", header, *got.Version)
		}
		if t.Failed() {
			return // the same complaint four more times would add nothing
		}
	}
}
