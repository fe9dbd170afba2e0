package local_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/local"
	"github.com/sluicehq/sluice/runner"
)

// TestCrashedLiveVersionIsRestarted kills the live version from outside, as kill -9 would, and
// checks that it is restarted, told as events, shown in Status and counted in the metrics.
func TestCrashedLiveVersionIsRestarted(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var events []string
	f.provider.SetEvents(func(v sluice.VersionEvent) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, v.Environment+" "+strings.TrimPrefix(string(v.Type), "sluice."))
	})
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, ", ")
	}
	ctx := context.Background()
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != "Succeeded" {
		t.Fatalf("deploy: %+v", res)
	}
	wantServes(t, addr, "v1")
	st := status(t, f.provider)
	pid := st.Versions[0].Pid
	if pid <= 0 {
		t.Fatalf("status gives no pid: %+v", st)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the crashed version to be restarted", func() bool {
		st := status(t, f.provider)
		return st.Restarts == 1 && st.Problem == "" && len(st.Versions) == 1 && st.Versions[0].Pid != pid && st.Versions[0].Pid > 0
	})
	wantServes(t, addr, "v1")
	if got := seen(); got != "prod version.crashed, prod version.restarted" {
		t.Errorf("events %q, want a crash and a restart", got)
	}
	var metrics bytes.Buffer
	if err := f.provider.WriteMetrics(&metrics); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`sluice_version_restarts_total{environment="prod"} 1`, `sluice_live_version_up{environment="prod"} 1`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics.String())
		}
	}

	// The restarted version is supervised in turn, and a deployment after it works as usual.
	if res := f.deploy(ctx, f.version("v2", allAtOnce)); res.Status != "Succeeded" {
		t.Fatalf("deploy after restart: %+v", res)
	}
	wantServes(t, addr, "v2")
	// Versions Sluice stops itself (the replaced one, and all of them at Close) are not crashes.
	if err := f.provider.Close(); err != nil {
		t.Fatal(err)
	}
	if got := seen(); got != "prod version.crashed, prod version.restarted" {
		t.Errorf("events after a deployment and Close: %q; a version Sluice stopped counted as a crash", got)
	}
}

// eventually polls cond until it holds, failing the test after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVersionPortTakenIsRetried: the port found free for a version is taken before the version
// binds it (here: held by the test), so the version exits; it is started again on another port
// rather than failing the deployment.
func TestVersionPortTakenIsRetried(t *testing.T) {
	f := newFixture(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	local.SetFreePort(f.provider, func() (int, error) {
		calls++
		if calls == 1 {
			return taken.Addr().(*net.TCPAddr).Port, nil
		}
		return runner.FreePort()
	})
	ctx := context.Background()
	addr := f.addr(ctx)
	if res := f.deploy(ctx, f.version("v1", allAtOnce)); res.Status != "Succeeded" {
		t.Fatalf("deploy with its first port taken: %+v\n%s", res, f.logs)
	}
	wantServes(t, addr, "v1")
	if calls != 2 || !strings.Contains(f.logs.String(), "was taken by another process") {
		t.Errorf("%d ports asked for; log:\n%s", calls, f.logs)
	}
}
