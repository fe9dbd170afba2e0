package cli_test

import (
	"os/exec"
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		res := sluiceRun(t, dir, "completion", shell)
		if res.code != 0 || !strings.Contains(res.stdout, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes\n%s", shell, res.code, len(res.stdout), res.stderr)
		}
		if shell == "bash" {
			check := exec.Command("bash", "-n")
			check.Stdin = strings.NewReader(res.stdout)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("bash -n on the bash completion: %v\n%s", err, out)
			}
		}
	}
	// What the shells ask: commands, and environments of the route for an ENV argument.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "ap"}, []string{"approve"}},
		{[]string{"__complete", "approve", ""}, []string{"dev", "prod"}},
		{[]string{"__complete", "history", "p"}, []string{"prod"}},
		{[]string{"__complete", "run", "--"}, []string{"--approve", "--rev", "--state", "--json"}},
	} {
		res := sluiceRun(t, dir, c.args...)
		for _, w := range c.want {
			if !strings.Contains(res.stdout, w) {
				t.Errorf("sluice %s: %q does not offer %q", strings.Join(c.args, " "), res.stdout, w)
			}
		}
	}
}

func TestHelpPerCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"reject", "-h"}, []string{"Reject the change set", "Usage:\n  sluice reject ENV", "--comment"}},
		{[]string{"unfreeze", "-h"}, []string{"Let executions into an environment again", "Usage:\n  sluice unfreeze ENV"}},
		{[]string{"help", "run"}, []string{"Run one execution end to end", "Usage:\n  sluice run", "--rev"}},
		{[]string{"logs", "--help"}, []string{"-f, --follow", "--file FILE"}},
	} {
		res := sluiceRun(t, dir, c.args...)
		if res.code != 0 {
			t.Errorf("sluice %s: exit %d", strings.Join(c.args, " "), res.code)
		}
		for _, w := range c.want {
			if !strings.Contains(res.stdout, w) {
				t.Errorf("sluice %s does not say %q:\n%s", strings.Join(c.args, " "), w, res.stdout)
			}
		}
		if strings.Contains(res.stdout, "Usage of") {
			t.Errorf("sluice %s prints another command's usage:\n%s", strings.Join(c.args, " "), res.stdout)
		}
	}
	if res := sluiceRun(t, dir, "help", "stauts"); res.code != 2 || !strings.Contains(res.stderr, `no command "stauts" (did you mean status?)`) {
		t.Errorf("help of a command that does not exist: exit %d %q", res.code, res.stderr)
	}
	version := sluiceRun(t, dir, "--version")
	if version.code != 0 || !strings.HasPrefix(version.stdout, "sluice ") || !strings.Contains(version.stdout, "commit") {
		t.Errorf("sluice --version: exit %d %q", version.code, version.stdout)
	}
	for _, args := range [][]string{{"logs", "abc", "--json"}, {"up", "--json"}, {"freeze", "prod", "--json"}, {"unfreeze", "prod", "--json"}} {
		res := sluiceRun(t, dir, args...)
		if res.code != 2 || !strings.Contains(res.stderr, "unknown flag: --json") {
			t.Errorf("sluice %s: exit %d %q; want --json refused", strings.Join(args, " "), res.code, res.stderr)
		}
	}
}

// sluice --version prints what the build was stamped with (make build stamps the commit).
func TestVersionFromBuild(t *testing.T) {
	t.Parallel()
	bin := t.TempDir() + "/sluice"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/sluicehq/sluice/cli.Version=1.2.3 -X github.com/sluicehq/sluice/cli.Commit=0123456789abcdef0123",
		"../cmd/sluice")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != "sluice 1.2.3 (commit 0123456789ab)\n" {
			t.Errorf("sluice %s = %q, %v; want sluice 1.2.3 (commit 0123456789ab)", args[0], out, err)
		}
	}
}
