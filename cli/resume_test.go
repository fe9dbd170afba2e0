package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

// TestRunAfterKillResumes: `sluice run` killed with SIGKILL in the middle of its checks, then
// run again, resumes the interrupted execution: the check that had finished does not run again,
// the one that was running does, and the execution succeeds.
func TestRunAfterKillResumes(t *testing.T) {
	skipShort(t)
	t.Parallel()
	trace := filepath.Join(t.TempDir(), "trace")
	r := newRepo(t, func(y string) string {
		y = fastRoute(y)
		return replaceOnce(y, "service:", `checks:
  - {name: first, run: "echo first >> `+trace+`", run_order: 1}
  - {name: second, run: "echo second >> `+trace+` && sleep 2", run_order: 2}

service:`)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd, _, stderr := sluiceCmd(ctx, r.dir, "run", "--approve", "--json", "--state", r.state)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second check to start", func() bool {
		b, _ := os.ReadFile(trace)
		return strings.Contains(string(b), "second")
	})
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()

	code, s, res := r.run("--approve")
	if code != cli.ExitOK || s.Status != sluice.StatusSucceeded {
		t.Fatalf("run after the kill: exit %d\n%s\nfirst run's stderr:\n%s", code, explain(s, res), stderr)
	}
	if !strings.Contains(res.stderr, "resuming execution "+s.Execution) {
		t.Errorf("the second run did not resume the interrupted execution:\n%s", res.stderr)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	count := map[string]int{}
	for _, l := range lines {
		count[l]++
	}
	if count["first"] != 1 {
		t.Errorf("the finished check ran %d times, want 1 (trace: %v)", count["first"], lines)
	}
	if count["second"] != 2 {
		t.Errorf("the interrupted check ran %d times, want 2: once cut short, once to the end (trace: %v)", count["second"], lines)
	}
	if a := action(t, s, "Checks", sluice.KindCheck); a.Status != sluice.StatusSucceeded {
		t.Errorf("checks: %+v", a)
	}
}
