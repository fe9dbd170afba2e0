package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli"
)

// A failed build shows what it printed last and how to see all of it, and the execution can be
// named by a prefix of its ID afterwards.
func TestFailedBuildShowsItsLastLines(t *testing.T) {
	t.Parallel()
	r := newRepo(t, func(yaml string) string {
		return replaceOnce(yaml, "    - go build -o dist/app .\n",
			"    - 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo compiling part $i; done; echo \"main.go:3: undefined: handler\" >&2; exit 3'\n")
	})
	code, sum, res := r.run()
	if code != cli.ExitFailed || sum.Status != sluice.StatusFailed {
		t.Fatalf("exit %d status %s, want 1 and Failed\n%s", code, sum.Status, res.stderr)
	}
	// The progress goes to stderr with --json.
	for _, want := range []string{
		"it printed last:",
		"      | compiling part 12\n      | main.go:3: undefined: handler",
		"all of it: sluice logs " + sum.Execution + " Build.Build --state " + r.state,
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("the run's output does not show %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "compiling part 2\n") {
		t.Errorf("the run's output shows more than the last lines:\n%s", res.stderr)
	}

	if strings.Contains(res.stderr, "not committed") {
		t.Errorf("a committed route file was reported as changed:\n%s", res.stderr)
	}

	logs := sluiceRun(t, r.dir, "logs", sum.Execution[:4], "Build", "--state", r.state)
	if logs.code != 0 || !strings.Contains(logs.stdout, "compiling part 1\n") || !strings.Contains(logs.stdout, "undefined: handler") {
		t.Fatalf("logs by a 4-character prefix: exit %d\nstdout:\n%s\nstderr:\n%s", logs.code, logs.stdout, logs.stderr)
	}
	if c := sluiceRun(t, r.dir, "__complete", "logs", "--state", r.state, ""); !strings.Contains(c.stdout, sum.Execution+"\tFailed") {
		t.Errorf("completion of logs does not offer the execution %s:\n%s%s", sum.Execution, c.stdout, c.stderr)
	}
	missing := sluiceRun(t, r.dir, "logs", "zzzz", "--state", r.state)
	if missing.code != cli.ExitFailed || !regexp.MustCompile(`no execution "zzzz"; sluice status lists them`).MatchString(missing.stderr) {
		t.Errorf("logs of an unknown prefix: exit %d %q", missing.code, missing.stderr)
	}
}

// A route file edited but not committed does not run: the execution reads the route its
// revision holds (a build that fails), not the edit (a build that passes), and says so. A route
// file the commit does not hold runs as it is here, with a warning of its own.
func TestUncommittedRouteFileIsWarnedAbout(t *testing.T) {
	t.Parallel()
	r := newRepo(t, func(yaml string) string {
		return replaceOnce(yaml, "    - go build -o dist/app .\n", "    - exit 3\n")
	})
	r.edit("sluice.yaml", func(yaml string) string { return replaceOnce(yaml, "    - exit 3\n", "    - echo fixed here\n") })
	code, sum, res := r.run()
	if !strings.Contains(res.stderr, "warning: sluice.yaml has changes that are not committed; Sluice runs the route as the revision holds it") {
		t.Errorf("run of an edited, uncommitted route gave no warning:\n%s", res.stderr)
	}
	if code != cli.ExitFailed || sum.Status != sluice.StatusFailed {
		t.Fatalf("exit %d status %s, want the committed route's failing build\n%s", code, sum.Status, res.stderr)
	}

	r.git("checkout", "sluice.yaml")
	committed, err := os.ReadFile(filepath.Join(r.dir, "sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	other := replaceOnce(string(committed), "    - exit 3\n", "    - echo from-the-file-here; exit 7\n")
	if err := os.WriteFile(filepath.Join(r.dir, "other.yaml"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	code, sum, res = r.run("-f", "other.yaml", "--new")
	if !strings.Contains(res.stderr, "warning: other.yaml is not committed; Sluice runs it as it is here") {
		t.Errorf("run of a route file that is not committed gave no warning:\n%s", res.stderr)
	}
	if code != cli.ExitFailed || !strings.Contains(res.stderr, "from-the-file-here") {
		t.Errorf("exit %d status %s, want the file's own failing build\n%s", code, sum.Status, res.stderr)
	}
}
