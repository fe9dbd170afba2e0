package trigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/webhooktest"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/trigger"
)

// pipelines records what deliveries asked of the pipelines.
type pipelines struct {
	mu    sync.Mutex
	calls []string
}

func (p *pipelines) record(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprintf(format, args...))
}

func (p *pipelines) BranchPushed(_ context.Context, branch, rev string) (engine.Triggered, error) {
	p.record("pushed %s %s", branch, rev)
	return engine.Triggered{Pipeline: &sluice.Pipeline{ID: "t@" + branch}, Execution: &sluice.Execution{ID: "ex1"}}, nil
}

func (p *pipelines) BranchDeleted(_ context.Context, branch string) (*sluice.Pipeline, error) {
	p.record("deleted %s", branch)
	return &sluice.Pipeline{ID: "t@" + branch}, nil
}

func (p *pipelines) PullRequestUpdated(_ context.Context, number int, branch, rev string) (engine.Triggered, error) {
	p.record("pr updated %d %s %s", number, branch, rev)
	return engine.Triggered{Pipeline: &sluice.Pipeline{ID: fmt.Sprintf("t@pr-%d", number)}}, nil
}

func (p *pipelines) PullRequestClosed(_ context.Context, number int, why string) (*sluice.Pipeline, error) {
	p.record("pr closed %d %s", number, why)
	return &sluice.Pipeline{ID: fmt.Sprintf("t@pr-%d", number)}, nil
}

func (p *pipelines) taken() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.calls
	p.calls = nil
	return out
}

const (
	sha    = "9c1f0a7be0f3a4e1c2d5b6a79801c2d3e4f5a6b7"
	before = "1111111111111111111111111111111111111111"
	zeros  = "0000000000000000000000000000000000000000"
)

var secret = []byte("It's a Secret to Everybody")

func newWebhooks(t *testing.T) (*httptest.Server, *pipelines, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &pipelines{}
	wh := &trigger.Webhooks{Secret: secret, Deliveries: db, Pipelines: p, MaxBody: 64 << 10}
	srv := httptest.NewServer(wh.Handler())
	t.Cleanup(srv.Close)
	return srv, p, db
}

func deliver(t *testing.T, srv *httptest.Server, provider, event, id string, body, key []byte) (int, string) {
	t.Helper()
	path := provider
	r, err := webhooktest.Request(srv.URL+"/webhooks/"+path, provider, event, id, body, key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Each host's documented events, signed as the host signs them, reach the pipelines as the
// git event they are, and each is recorded with what it did.
func TestWebhookEventsOfEachHost(t *testing.T) {
	vars := func(kv ...string) map[string]string {
		m := map[string]string{"SHA": sha, "BEFORE": before, "BRANCH": "release/1.0", "NUMBER": "12", "MERGED": "false", "ACTION": "opened", "STATE": "opened"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		provider, event, file string
		vars                  map[string]string
		want                  string // the call made; "" for none
	}{
		{"github", "push", "github/push.json", vars(), "pushed release/1.0 " + sha},
		{"github", "create", "github/create.json", vars(), "pushed release/1.0 "},
		{"github", "delete", "github/delete.json", vars(), "deleted release/1.0"},
		{"github", "pull_request", "github/pull_request.json", vars("BRANCH", "fix/typo"), "pr updated 12 fix/typo " + sha},
		{"github", "pull_request", "github/pull_request.json", vars("ACTION", "synchronize"), "pr updated 12 release/1.0 " + sha},
		{"github", "pull_request", "github/pull_request.json", vars("ACTION", "closed", "MERGED", "true"), "pr closed 12 merged"},
		{"github", "pull_request", "github/pull_request.json", vars("ACTION", "labeled"), ""},
		{"github", "ping", "github/delete.json", vars(), ""},
		{"gitlab", "Push Hook", "gitlab/push.json", vars(), "pushed release/1.0 " + sha},
		{"gitlab", "Push Hook", "gitlab/push.json", vars("SHA", zeros), "deleted release/1.0"},
		{"gitlab", "Merge Request Hook", "gitlab/merge_request.json", vars("ACTION", "open"), "pr updated 12 release/1.0 " + sha},
		{"gitlab", "Merge Request Hook", "gitlab/merge_request.json", vars("ACTION", "merge", "STATE", "merged"), "pr closed 12 merged"},
		{"gitlab", "Merge Request Hook", "gitlab/merge_request.json", vars("ACTION", "close", "STATE", "closed"), "pr closed 12 closed"},
		{"gitea", "push", "gitea/push.json", vars(), "pushed release/1.0 " + sha},
		{"gitea", "create", "gitea/create.json", vars(), "pushed release/1.0 " + sha},
		{"gitea", "delete", "gitea/delete.json", vars(), "deleted release/1.0"},
		{"gitea", "pull_request", "gitea/pull_request.json", vars("ACTION", "synchronized"), "pr updated 12 release/1.0 " + sha},
		{"forgejo", "pull_request", "gitea/pull_request.json", vars("ACTION", "closed"), "pr closed 12 closed"},
	}
	srv, p, db := newWebhooks(t)
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %d", tt.provider, tt.event, i), func(t *testing.T) {
			id := fmt.Sprintf("delivery-%d", i)
			code, body := deliver(t, srv, tt.provider, tt.event, id, webhooktest.Payload(tt.file, tt.vars), secret)
			if code != http.StatusAccepted {
				t.Fatalf("status %d %s, want 202", code, body)
			}
			calls := p.taken()
			switch {
			case tt.want == "" && len(calls) != 0:
				t.Errorf("calls %q, want none", calls)
			case tt.want != "" && (len(calls) != 1 || calls[0] != tt.want):
				t.Errorf("calls %q, want %q", calls, tt.want)
			}
			var res struct{ Outcome string }
			if err := json.Unmarshal([]byte(body), &res); err != nil || res.Outcome == "" {
				t.Errorf("answer %s: want the outcome", body)
			}
		})
	}
	list, err := db.ListWebhookDeliveries(context.Background(), 0)
	if err != nil || len(list) != len(tests) {
		t.Fatalf("recorded %d deliveries (%v), want %d", len(list), err, len(tests))
	}
	for _, d := range list {
		if d.Outcome == "" {
			t.Errorf("delivery %s %s recorded without its outcome", d.Provider, d.ID)
		}
	}
}

// Unsigned, wrongly signed, replayed, oversized and malformed deliveries are refused with
// their status and change nothing: nothing is called and nothing recorded.
func TestWebhookRefusals(t *testing.T) {
	srv, p, db := newWebhooks(t)
	push := webhooktest.Payload("github/push.json", map[string]string{"SHA": sha, "BRANCH": "release/1.0"})
	code, body := deliver(t, srv, "github", "push", "first", push, secret)
	if code != http.StatusAccepted {
		t.Fatalf("a good delivery: %d %s", code, body)
	}
	p.taken()
	huge := append([]byte(`{"ref":"refs/heads/x","pad":"`), append([]byte(strings.Repeat("a", 70<<10)), `"}`...)...)
	tests := []struct {
		name                string
		provider, event, id string
		body, key           []byte
		status              int
		raw                 func(r *http.Request) // changes the request after signing
	}{
		{"github unsigned", "github", "push", "d1", push, nil, http.StatusUnauthorized, nil},
		{"github signed with another secret", "github", "push", "d2", push, []byte("guess"), http.StatusForbidden, nil},
		{"github body changed after signing", "github", "push", "d3", push, secret, http.StatusForbidden, func(r *http.Request) {
			changed := strings.Replace(string(push), "release/1.0", "release/6.6", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(changed)), int64(len(changed))
		}},
		{"github signature without its prefix", "github", "push", "d4", push, secret, http.StatusForbidden, func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="))
		}},
		{"gitlab without its token", "gitlab", "Push Hook", "d5", push, nil, http.StatusUnauthorized, nil},
		{"gitlab with a wrong token", "gitlab", "Push Hook", "d6", push, []byte("It's a Secret to Everybody!"), http.StatusForbidden, nil},
		{"gitea unsigned", "gitea", "push", "d7", push, nil, http.StatusUnauthorized, nil},
		{"gitea wrongly signed", "gitea", "push", "d8", push, []byte("nope"), http.StatusForbidden, nil},
		{"replayed", "github", "push", "first", push, secret, http.StatusConflict, nil},
		{"oversized", "github", "push", "d9", huge, secret, http.StatusRequestEntityTooLarge, nil},
		{"oversized without a length", "github", "push", "d10", huge, secret, http.StatusRequestEntityTooLarge, func(r *http.Request) {
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(string(huge)))
		}},
		{"malformed JSON", "github", "push", "d11", []byte(`{"ref": "refs/heads/x",`), secret, http.StatusBadRequest, nil},
		{"two JSON values", "gitea", "push", "d12", []byte(`{} {}`), secret, http.StatusBadRequest, nil},
		{"a pull request without a number", "github", "pull_request", "d13", []byte(`{"action":"opened"}`), secret, http.StatusBadRequest, nil},
		{"no delivery ID", "github", "push", "", push, secret, http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := webhooktest.Request(srv.URL+"/webhooks/"+tt.provider, tt.provider, tt.event, tt.id, tt.body, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if tt.raw != nil {
				tt.raw(r)
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d %s, want %d", resp.StatusCode, b, tt.status)
			}
			if !strings.Contains(string(b), `"error"`) {
				t.Errorf("answer %s names no error", b)
			}
			if calls := p.taken(); len(calls) != 0 {
				t.Errorf("a refused delivery acted: %q", calls)
			}
		})
	}
	list, err := db.ListWebhookDeliveries(context.Background(), 0)
	if err != nil || len(list) != 1 || list[0].ID != "first" {
		t.Errorf("deliveries recorded: %+v, %v; want only the first good one", list, err)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/webhooks/github", http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/v1/status", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
	} {
		r, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
}
