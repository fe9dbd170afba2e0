package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func envOf(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    config
		wantErr string
	}{
		{
			name:    "port unset",
			vars:    map[string]string{},
			wantErr: "PORT is not set",
		},
		{
			name:    "port not a number",
			vars:    map[string]string{"PORT": "http"},
			wantErr: `PORT="http" is not a port number`,
		},
		{
			name:    "port zero",
			vars:    map[string]string{"PORT": "0"},
			wantErr: "is not a port number",
		},
		{
			name:    "port too large",
			vars:    map[string]string{"PORT": "65536"},
			wantErr: "is not a port number",
		},
		{
			name: "defaults",
			vars: map[string]string{"PORT": "8080"},
			want: config{port: 8080, revision: "dev", environment: "local", breakProd: deliberatelyBreakProd},
		},
		{
			name: "long revision is shortened",
			vars: map[string]string{"PORT": "8080", "SLUICE_REVISION": "0123456789abcdef0123456789abcdef01234567"},
			want: config{port: 8080, revision: "0123456", environment: "local", breakProd: deliberatelyBreakProd},
		},
		{
			name: "short revision is kept",
			vars: map[string]string{"PORT": "8080", "SLUICE_REVISION": "abc"},
			want: config{port: 8080, revision: "abc", environment: "local", breakProd: deliberatelyBreakProd},
		},
		{
			name: "APP_ENV wins over SLUICE_ENVIRONMENT",
			vars: map[string]string{"PORT": "1", "APP_ENV": "prod", "SLUICE_ENVIRONMENT": "staging"},
			want: config{port: 1, revision: "dev", environment: "prod", breakProd: deliberatelyBreakProd},
		},
		{
			name: "SLUICE_ENVIRONMENT when APP_ENV is unset",
			vars: map[string]string{"PORT": "65535", "SLUICE_ENVIRONMENT": "staging"},
			want: config{port: 65535, revision: "dev", environment: "staging", breakProd: deliberatelyBreakProd},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromEnv(envOf(tt.vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("configFromEnv() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("configFromEnv() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("configFromEnv() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name        string
		environment string
		breakProd   bool
		method      string
		path        string
		wantStatus  int
		wantBody    string // exact; empty means "not checked"
		wantJSON    *greeting
	}{
		{
			name: "hello in dev", environment: "dev", path: "/",
			wantStatus: 200, wantJSON: &greeting{Message: "hello from dev", Version: "abc1234", Environment: "dev"},
		},
		{
			name: "hello in prod", environment: "prod", path: "/",
			wantStatus: 200, wantJSON: &greeting{Message: "hello from prod", Version: "abc1234", Environment: "prod"},
		},
		{name: "version", environment: "dev", path: "/version", wantStatus: 200, wantBody: "abc1234\n"},
		{name: "health", environment: "dev", path: "/healthz", wantStatus: 200, wantBody: "ok\n"},
		{name: "unknown path", environment: "dev", path: "/nope", wantStatus: 404},
		{name: "wrong method", environment: "dev", method: http.MethodPost, path: "/", wantStatus: 405},
		{
			name: "broken build in dev still says hello", environment: "dev", breakProd: true, path: "/",
			wantStatus: 200, wantJSON: &greeting{Message: "hello from dev", Version: "abc1234", Environment: "dev"},
		},
		{name: "broken build in dev still has a version", environment: "dev", breakProd: true, path: "/version", wantStatus: 200, wantBody: "abc1234\n"},
		{name: "broken build in staging is fine", environment: "staging", breakProd: true, path: "/", wantStatus: 200},
		{name: "broken build in prod fails hello", environment: "prod", breakProd: true, path: "/", wantStatus: 500},
		{name: "broken build in prod fails version", environment: "prod", breakProd: true, path: "/version", wantStatus: 500},
		{name: "broken build in prod stays healthy", environment: "prod", breakProd: true, path: "/healthz", wantStatus: 200, wantBody: "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(config{port: 1, revision: "abc1234", environment: tt.environment, breakProd: tt.breakProd})
			h.ready.Store(true)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, tt.path, nil))

			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d; body %q", method, tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("X-Version"); got != "abc1234" {
				t.Errorf("X-Version = %q, want %q", got, "abc1234")
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body, tt.wantBody)
			}
			if tt.wantJSON != nil {
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				var got greeting
				dec := json.NewDecoder(rec.Body)
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("decode body: %v", err)
				}
				if got != *tt.wantJSON {
					t.Errorf("body = %+v, want %+v", got, *tt.wantJSON)
				}
			}
		})
	}
}

func TestHealthzBeforeReady(t *testing.T) {
	h := newHandler(config{port: 1, revision: "dev", environment: "dev"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want %d", rec.Code, http.StatusServiceUnavailable)
	}
}

// TestServeDrainsInFlight stops the server while a request is being answered and checks that the
// request still completes and that serve reports a clean stop only after it did.
func TestServeDrainsInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(config{port: 1, revision: "abc1234", environment: "dev"})
	started := make(chan struct{})
	release := make(chan struct{})
	h.mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h) }()

	base := "http://" + ln.Addr().String()
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, body: string(b), err: err}
	}()
	waitFor(t, started, "the slow request to start")

	cancel()
	// The listener closes as soon as the shutdown begins; only then is the slow request released,
	// so it is certainly in flight during the shutdown.
	eventually(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if h.ready.Load() {
		t.Error("handler still ready after shutdown began")
	}
	select {
	case err := <-served:
		t.Fatalf("serve returned %v while a request was still in flight", err)
	default:
	}
	close(release)

	select {
	case a := <-answered:
		if a.err != nil || a.status != 200 || a.body != "done" {
			t.Errorf("in-flight request: status %d body %q err %v; want 200 \"done\"", a.status, a.body, a.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight request never answered")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve() = %v, want nil after a complete drain", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after the drain")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
	}{
		{name: "port unset", vars: map[string]string{}},
		{name: "port invalid", vars: map[string]string{"PORT": "-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), envOf(tt.vars), &stdout, &stderr); code != 2 {
				t.Errorf("run() = %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), "PORT") {
				t.Errorf("stderr = %q, want a message about PORT", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunReportsBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), envOf(map[string]string{"PORT": port}), &stdout, &stderr); code != 1 {
		t.Errorf("run() = %d, want 1; stderr %q", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "listen on 127.0.0.1:"+port) {
		t.Errorf("stderr = %q, want it to name the address", stderr.String())
	}
}

func TestRunServesAndStops(t *testing.T) {
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stdout := &lockedBuffer{}
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	env := envOf(map[string]string{"PORT": port, "APP_ENV": "dev", "SLUICE_REVISION": "feedface00"})
	go func() { exited <- run(ctx, env, stdout, &stderr) }()

	url := "http://127.0.0.1:" + port
	client := &http.Client{Timeout: 5 * time.Second}
	eventually(t, "the service to become healthy", func() bool {
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := client.Get(url + "/version")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "feedfac\n" {
		t.Errorf("/version = %q, want %q", b, "feedfac\n")
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("run() = %d, want 0; stderr %q", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "serving") || !strings.Contains(lines[1], "stopped") {
		t.Errorf("stdout = %q, want one start line and one stop line", stdout.String())
	}
}

// freePort returns a port that was free a moment ago. Another process could take it before the
// test listens on it; that shows up as a clear "listen" failure, not as a wrong result.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
	}
}

// eventually polls cond until it holds; the bound is generous because it only decides when a
// broken test gives up, never whether a working one passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer is written by run's goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
