package cli_test

import (
	"context"
	"encoding/json"
	"github.com/sluicehq/sluice/internal/syncbuf"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// upProcess is a `sluice up` started by startUp, serving r's state.
type upProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	Address        string // of its API, from api.json
	stopped        bool   // set once the test has waited for it; until then cleanup kills it
}

// startUp starts `sluice up` on a free loopback port without watching for commits, with the
// extra flags given, and waits until it says it serves (its API answers before its
// environments are restored; a signal in between is a stop during start).
func startUp(ctx context.Context, t *testing.T, r *repo, extra ...string) *upProcess {
	t.Helper()
	return startUpEnv(ctx, t, r, nil, extra...)
}

// startUpEnv is startUp with extra variables in sluice up's environment.
func startUpEnv(ctx context.Context, t *testing.T, r *repo, env []string, extra ...string) *upProcess {
	t.Helper()
	args := append([]string{"up", "--listen", "127.0.0.1:0", "--no-watch", "--state", r.state}, extra...)
	cmd, _, _ := sluiceCmd(ctx, r.dir, args...)
	cmd.Env = append(cmd.Env, env...)
	u := &upProcess{cmd: cmd, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	cmd.Stdout, cmd.Stderr = u.stdout, u.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !u.stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	eventually(t, "sluice up to say it serves", func() bool {
		if !strings.Contains(u.stdout.String(), "  API ") {
			return false
		}
		b, err := os.ReadFile(filepath.Join(r.state, "api.json"))
		return err == nil && json.Unmarshal(b, u) == nil && u.Address != ""
	})
	return u
}

// stop sends sluice up SIGTERM and waits for it to exit cleanly.
func (u *upProcess) stop(t *testing.T) {
	t.Helper()
	if err := u.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- u.cmd.Wait() }()
	select {
	case err := <-done:
		u.stopped = true
		if err != nil {
			t.Fatalf("sluice up after SIGTERM: %v\n%s", err, u.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("sluice up did not stop within 60s of SIGTERM")
	}
}

// TestUpMetricsOff starts `sluice up --metrics=false`: /metrics is gone, the API still answers,
// and a request whose Host names another server is refused.
func TestUpMetricsOff(t *testing.T) {
	skipShort(t)
	t.Parallel()
	r := newRepo(t, fastRoute)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	u := startUp(ctx, t, r, "--metrics=false")
	api := "http://" + u.Address
	get(t, api+"/healthz", "", http.StatusOK)
	if body := get(t, api+"/metrics", "", http.StatusNotFound); !strings.Contains(body, "metrics are off") {
		t.Errorf("GET /metrics with --metrics=false: %s", body)
	}
	_, port, err := net.SplitHostPort(u.Address)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, api+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "rebound.example:" + port
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET /healthz with Host %s: %s, want 421", req.Host, resp.Status)
	}

	if err := u.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = u.cmd.Wait()
	u.stopped = true
	if err != nil {
		t.Fatalf("sluice up after SIGTERM: %v\nstdout:\n%s\nstderr:\n%s", err, u.stdout, u.stderr)
	}
	if !strings.Contains(u.stdout.String(), "metrics off") {
		t.Errorf("sluice up does not say that metrics are off:\n%s", u.stdout)
	}
}
