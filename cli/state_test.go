package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/cli/demo"
	"github.com/sluicehq/sluice/sqlite"
)

// exampleDir is a folder holding the bundled example's sluice.yaml (environments dev and prod),
// with no state.
func exampleDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello-api")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := demo.Extract(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadOnlyCommandsNeverCreateState(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t)
	for _, args := range [][]string{
		{"status"}, {"status", "--json"}, {"history", "prod"}, {"changeset", "prod"}, {"logs", "abc123"},
		{"logs", "--env", "dev"}, {"approve", "prod"}, {"reject", "prod"}, {"stop", "abc123"},
		{"retry", "abc123"}, {"rollback", "prod"},
	} {
		res := sluiceRun(t, dir, args...)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "no state here") || !strings.Contains(res.stderr, "sluice run first") {
			t.Errorf("sluice %s: exit %d, stderr %q; want 1 and no state here: run sluice run first", strings.Join(args, " "), res.code, res.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, ".sluice")); err == nil {
			t.Fatalf("sluice %s created .sluice/", strings.Join(args, " "))
		}
	}
}

func TestStateDirectoryIsPrivate(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t)

	t.Run("an existing loose directory is tightened", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(state, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(state, 0o755); err != nil {
			t.Fatal(err)
		}
		if res := sluiceRun(t, dir, "freeze", "prod", "--state", state); res.code != 0 {
			t.Fatalf("freeze: exit %d\n%s", res.code, res.stderr)
		}
		st, err := os.Stat(state)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("state directory mode %04o, want 0700", st.Mode().Perm())
		}
	})

	t.Run("a loose directory holding other files is refused", func(t *testing.T) {
		state := t.TempDir()
		if err := os.Chmod(state, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(state, "notes.txt"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		res := sluiceRun(t, dir, "freeze", "prod", "--state", state)
		if res.code != cli.ExitUsage || !strings.Contains(res.stderr, "notes.txt") || !strings.Contains(res.stderr, "directory of its own") {
			t.Fatalf("exit %d %q; want 2 naming notes.txt", res.code, res.stderr)
		}
		if st, _ := os.Stat(state); st.Mode().Perm() != 0o755 {
			t.Errorf("the refused directory's mode changed to %04o", st.Mode().Perm())
		}
	})

	t.Run("a token others can read is refused", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		if res := sluiceRun(t, dir, "freeze", "prod", "--state", state); res.code != 0 {
			t.Fatalf("freeze: exit %d\n%s", res.code, res.stderr)
		}
		token := filepath.Join(state, "token")
		if err := os.WriteFile(token, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(token, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"status"}, {"unfreeze", "prod"}, {"run", "--approve"}} {
			res := sluiceRun(t, dir, append(args, "--state", state)...)
			if res.code != cli.ExitUsage || !strings.Contains(res.stderr, "chmod 600 "+token) {
				t.Errorf("sluice %s: exit %d %q; want 2 and chmod 600", args[0], res.code, res.stderr)
			}
		}
	})
}

func TestEnvironmentsOutsideTheRouteAreRefused(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t)
	state := filepath.Join(t.TempDir(), "state")
	if res := sluiceRun(t, dir, "freeze", "dev", "--state", state); res.code != 0 {
		t.Fatalf("freeze dev: exit %d\n%s", res.code, res.stderr)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(state), "x.log"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"freeze", "../../evil"}, {"unfreeze", "staging"}, {"approve", "Prod"}, {"reject", "x"},
		{"history", "../x"}, {"changeset", "qa"}, {"rollback", "qa"}, {"logs", "--env", "../../../x"},
	} {
		res := sluiceRun(t, dir, append(args, "--state", state)...)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "no such environment") || !strings.Contains(res.stderr, "known: dev, prod") {
			t.Errorf("sluice %s: exit %d %q; want 1 and no such environment; known: dev, prod", strings.Join(args, " "), res.code, res.stderr)
		}
		if strings.Contains(res.stdout, "secret") {
			t.Errorf("sluice %s printed a file outside the state", strings.Join(args, " "))
		}
	}
	db, err := sqlite.Open(filepath.Join(state, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	states, err := db.ListEnvironments(t.Context(), "hello-api@main")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Name != "dev" {
			t.Errorf("environment %q was recorded", st.Name)
		}
	}
}

func TestRouteFileMustBeRegular(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fifo := filepath.Join(root, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, kind string }{
		{fifo, "a named pipe"}, {"/dev/zero", "a device"}, {root, "a directory"},
	} {
		for _, command := range []string{"validate", "plan", "run", "up"} {
			// A command that blocks in open would hit this deadline and fail the test.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			args := []string{command, "-f", c.file}
			if command == "run" || command == "up" {
				args = append(args, "--state", filepath.Join(root, "state"))
			}
			cmd, stdout, stderr := sluiceCmd(ctx, root, args...)
			res := wait(t, cmd, stdout, stderr, cmd.Run())
			cancel()
			if res.code != cli.ExitUsage || !strings.Contains(res.stderr, c.kind) || !strings.Contains(res.stderr, "-f FILE") {
				t.Errorf("sluice %s -f %s: exit %d %q; want 2 and %q", command, c.file, res.code, res.stderr, c.kind)
			}
		}
	}
}
