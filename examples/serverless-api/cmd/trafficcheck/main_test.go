package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// api answers like the serverless route's API; brokenEvery makes every Nth request to / fail,
// and other makes every Nth greeting come from another artifact.
func api(t *testing.T, brokenEvery, otherEvery int64) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprintln(w, "ok")
		case "/":
			i := n.Add(1)
			artifact := "sha256:new"
			if otherEvery > 0 && i%otherEvery == 0 {
				artifact = "sha256:old"
			}
			if brokenEvery > 0 && i%brokenEvery == 0 {
				http.Error(w, `{"message":"Internal Server Error"}`, 500)
				return
			}
			fmt.Fprintf(w, `{"message":"hello from prod","stage":"prod","version":"2","artifact":%q}`+"\n", artifact)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		message string
	}{
		{"pre passes", []string{"pre"}, map[string]string{"SLUICE_ENDPOINT": api(t, 0, 0)}, 0, "trafficcheck pre: passed"},
		{"post passes", []string{"post"}, map[string]string{"SLUICE_ENDPOINT": api(t, 0, 0) + "/", "SLUICE_ARTIFACT": "sha256:new"}, 0, "trafficcheck post: passed"},
		{"post without an artifact to compare", []string{"post"}, map[string]string{"SLUICE_ENDPOINT": api(t, 0, 7)}, 0, "passed"},
		{"post sees an error", []string{"post"}, map[string]string{"SLUICE_ENDPOINT": api(t, 13, 0)}, 1, "request 13 of 20: GET / answered 500 Internal Server Error"},
		{"post sees the old version", []string{"post"}, map[string]string{"SLUICE_ENDPOINT": api(t, 0, 5), "SLUICE_ARTIFACT": "sha256:new"}, 1, "request 5 of 20: GET / was served by artifact sha256:old, not sha256:new"},
		{"pre on a missing path", []string{"pre"}, map[string]string{"SLUICE_ENDPOINT": api(t, 0, 0) + "/nothing"}, 1, "answered 404"},
		{"no endpoint", []string{"pre"}, nil, 2, "SLUICE_ENDPOINT is not set"},
		{"unknown phase", []string{"during"}, map[string]string{"SLUICE_ENDPOINT": "http://127.0.0.1:1"}, 2, "usage: trafficcheck pre|post"},
		{"unreachable", []string{"pre"}, map[string]string{"SLUICE_ENDPOINT": "127.0.0.1:1"}, 1, "request 1 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, &out)
			if code != tt.code || !strings.Contains(out.String(), tt.message) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), tt.code, tt.message)
			}
		})
	}
}
