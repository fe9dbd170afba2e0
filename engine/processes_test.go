package engine_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
)

// TestKilledEngineLeavesNoProcesses SIGKILLs an engine while a check runs that has started a
// process in its group and one that left it (setsid), and checks that the next engine on the
// same state kills both before it resumes.
func TestKilledEngineLeavesNoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a helper process")
	}
	f := newFixture(t, routeHead+`
checks:
  - name: spawn
    run: |
      if [ -e @OUT@/second ]; then exit 0; fi
      sleep 300 & echo $! > @OUT@/in.tmp; mv @OUT@/in.tmp @OUT@/in
      setsid sh -c 'echo $$ > @OUT@/out.tmp; mv @OUT@/out.tmp @OUT@/out; exec sleep 300' &
      wait
`+devOnly)
	driver := filepath.Join(t.TempDir(), "crashdriver")
	if out, err := exec.Command("go", "build", "-o", driver, "github.com/sluicehq/sluice/internal/crashdriver").CombinedOutput(); err != nil {
		t.Fatalf("build crashdriver: %v\n%s", err, out)
	}
	start := func() (*exec.Cmd, *bytes.Buffer, chan error) {
		var out bytes.Buffer
		cmd := exec.Command(driver, "-f", filepath.Join(f.repo, "sluice.yaml"), "-state", f.state, "-trace", filepath.Join(f.out, "trace"))
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, &out, exited
	}
	pidOf := func(name string) int {
		var pid int
		eventually(t, "pid file "+name, func() bool {
			b, err := os.ReadFile(filepath.Join(f.out, name))
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil && pid > 0
		})
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		return pid
	}

	cmd, _, exited := start()
	inGroup, escaped := pidOf("in"), pidOf("out")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if !running(inGroup) || !running(escaped) {
		t.Fatalf("the check's processes died with the engine (in group %v, escaped %v); the test shows nothing", running(inGroup), running(escaped))
	}

	if err := os.WriteFile(filepath.Join(f.out, "second"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, out, exited := start()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("second engine: %v\n%s", err, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the second engine did not finish the execution\n%s", out)
	}
	if !strings.Contains(out.String(), "Succeeded") {
		t.Fatalf("second engine: %s", out)
	}
	for name, pid := range map[string]int{"in its group": inGroup, "left its group": escaped} {
		if running(pid) {
			t.Errorf("the process that %s (%d) outlived the engine's restart", name, pid)
		}
	}
}

// running reports whether pid exists and has not exited (a zombie has).
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// eventingProvider is a provider that tells events of its own, as the local one does when a
// live version crashes.
type eventingProvider struct {
	*fakeProvider
	tell func(sluice.VersionEvent)
}

func (p *eventingProvider) SetEvents(fn func(sluice.VersionEvent)) { p.tell = fn }

func TestProviderEventsAreStored(t *testing.T) {
	f := newFixture(t, routeHead+devOnly)
	ep := &eventingProvider{fakeProvider: f.provider}
	f.start()
	// start wired the fake; wire the eventing one the same way through a second engine.
	e, err := engine.New(engine.Config{
		Source:    git.Source{},
		RouteFile: filepath.Join(f.repo, "sluice.yaml"), StateDir: t.TempDir(), Store: f.db, Artifacts: f.artifacts,
		Providers: map[string]deploy.Provider{"local": ep},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if ep.tell == nil {
		t.Fatal("the engine did not hand the provider an event sink")
	}
	// The provider names environments by instance: a branch pipeline's dev is dev@<branch>.
	ep.tell(sluice.VersionEvent{Type: sluice.EventVersionRestarted, Environment: "dev", Version: "abc-2", Crashed: "abc-1"})
	ep.tell(sluice.VersionEvent{Type: sluice.EventVersionCrashed, Environment: "dev@feature-x", Version: "def-1"})
	events, err := f.db.ListEvents(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]sluice.VersionEvent{
		"abc-2": {Pipeline: "t@main", Environment: "dev"},
		"def-1": {Pipeline: "t@feature-x", Environment: "dev"},
	}
	for _, ev := range events {
		if !strings.HasPrefix(string(ev.Type), "sluice.version.") {
			continue
		}
		data, err := ev.DecodeData()
		if err != nil {
			t.Fatal(err)
		}
		v := data.(*sluice.VersionEvent)
		if w, ok := want[v.Version]; ok {
			if v.Pipeline != w.Pipeline || v.Environment != w.Environment || ev.Subject != "env/dev" {
				t.Errorf("version %s told of %s of %s (subject %s); want %s of %s", v.Version, v.Environment, v.Pipeline, ev.Subject, w.Environment, w.Pipeline)
			}
			delete(want, v.Version)
		}
	}
	if len(want) > 0 {
		t.Fatalf("version events not stored among %d: %v", len(events), want)
	}
}
