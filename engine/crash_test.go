package engine_test

import (
	"bytes"
	"context"

	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

// crashRoute's actions each leave one line "<stage>/<action>" in @OUT@/trace and take a moment,
// so that kills land inside actions as well as between them. The stand-in provider of
// crashdriver writes "<environment>/ExecuteChangeSet" lines to the same file.
const crashRoute = `version: 1
name: crash
source: {repo: ., branch: main}
build:
  commands: ["echo Build/Build >> @OUT@/trace; sleep 0.15", "mkdir -p dist && echo app > dist/app"]
  artifact: [dist/]
service:
  command: [dist/app]
checks:
  - name: c1
    run: "echo Checks/c1 >> @OUT@/trace; sleep 0.15"
  - name: c2
    run: "echo Checks/c2 >> @OUT@/trace; sleep 0.1"
  - name: c3
    run_order: 2
    run: "echo Checks/c3 >> @OUT@/trace; sleep 0.15"
environments:
  - name: dev
    tests:
      - name: t1
        run: "echo dev/t1 >> @OUT@/trace; sleep 0.15"
  - name: staging
    tests:
      - name: t2
        run: "echo staging/t2 >> @OUT@/trace; sleep 0.1"
`

// TestCrashResume kills the process driving an execution at different moments and starts it
// again until the execution ends. An action recorded as Succeeded before a kill never runs again,
// the execution succeeds, and nothing is left InProgress.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a helper process")
	}
	f := newFixture(t, crashRoute)
	driver := filepath.Join(t.TempDir(), "crashdriver")
	build := exec.Command("go", "build", "-o", driver, "github.com/sluicehq/sluice/internal/crashdriver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build crashdriver: %v\n%s", err, out)
	}
	trace := filepath.Join(f.out, "trace")
	start := func() (*exec.Cmd, *bytes.Buffer) {
		var out bytes.Buffer
		cmd := exec.Command(driver, "-f", filepath.Join(f.repo, "sluice.yaml"), "-state", f.state, "-trace", trace)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	counts := func() map[string]int {
		n := map[string]int{}
		for _, l := range f.lines("trace") {
			n[l]++
		}
		return n
	}
	// done[action] is how many times it had run when it was first seen Succeeded after a kill.
	done := map[string]int{}
	kills := 0
	delays := []time.Duration{60, 200, 120, 330, 90, 260, 170, 400}
	finished := false
	for _, d := range delays {
		cmd, out := start()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("crashdriver: %v\n%s", err, out)
			}
			finished = true
		case <-time.After(d * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			kills++
		}
		if finished {
			break
		}
		now := counts()
		for _, a := range storedActions(t, f.state) {
			key := a.Stage + "/" + a.Action
			if a.Status != sluice.StatusSucceeded {
				continue
			}
			if prev, seen := done[key]; seen && now[key] != prev {
				t.Errorf("after kill %d: %s had ended after %d runs, has now run %d times", kills, key, prev, now[key])
			}
			if _, seen := done[key]; !seen {
				done[key] = now[key]
			}
		}
	}
	if !finished {
		cmd, out := start()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("crashdriver: %v\n%s", err, out)
			}
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("the last run did not finish\n%s", out)
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills landed before the execution ended; the test proves little", kills)
	}
	t.Logf("%d kills; actions ended before a kill: %v", kills, done)

	db, err := sqlite.Open(filepath.Join(f.state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list, err := db.ListExecutions(context.Background(), "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d executions, want 1", len(list))
	}
	if ex := list[0]; ex.Status != sluice.StatusSucceeded {
		t.Fatalf("execution %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	final := counts()
	for key, n := range done {
		if final[key] != n {
			t.Errorf("%s had ended after %d runs before a kill, and ran %d times in all", key, n, final[key])
		}
	}
	for _, a := range storedActions(t, f.state) {
		key := a.Stage + "/" + a.Action
		if a.Status != sluice.StatusSucceeded {
			t.Errorf("%s is %s at the end, want Succeeded", key, a.Status)
		}
		if final[key] == 0 && strings.Contains(crashRoute, key) {
			t.Errorf("%s never ran", key)
		}
	}
	stages, err := db.Stages(context.Background(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stages {
		if st.Status != sluice.StatusSucceeded {
			t.Errorf("stage %s is %s at the end", st.Stage, st.Status)
		}
	}
}

// storedActions reads the actions of the only execution straight from the state database, as
// the killed process left it.
func storedActions(t *testing.T, state string) []sluice.ActionExecution {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list, err := db.ListExecutions(context.Background(), "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		return nil
	}
	actions, err := db.Actions(context.Background(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return actions
}
