package git_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/git"
)

func TestUncommitted(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	gitT(t, repo, "init", "-q", "-b", "main")
	writeFiles(t, repo, map[string]string{"sluice.yaml": "version: 1\n", "other.txt": "x"})
	gitT(t, repo, "add", "sluice.yaml", "other.txt")
	gitT(t, repo, "commit", "-q", "-m", "first")
	route := filepath.Join(repo, "sluice.yaml")
	outside := filepath.Join(t.TempDir(), "sluice.yaml")
	writeFiles(t, filepath.Dir(outside), map[string]string{"sluice.yaml": "version: 1\n"})

	check := func(name, path string, want bool) {
		t.Helper()
		got, err := git.Uncommitted(t.Context(), path)
		if err != nil || got != want {
			t.Errorf("%s: Uncommitted = %v, %v; want %v", name, got, err, want)
		}
	}
	tracked := func(name, path string, want bool) {
		t.Helper()
		got, err := git.Tracked(t.Context(), path)
		if err != nil || got != want {
			t.Errorf("%s: Tracked = %v, %v; want %v", name, got, err, want)
		}
	}
	check("committed", route, false)
	writeFiles(t, repo, map[string]string{"other.txt": "changed"})
	check("another file changed", route, false)
	check("outside a repository", outside, false)
	tracked("outside a repository", outside, false)
	writeFiles(t, repo, map[string]string{"sluice.yaml": "version: 1\nname: edited\n"})
	check("edited", route, true)
	tracked("edited", route, true)
	gitT(t, repo, "add", "sluice.yaml")
	check("staged", route, true)
	gitT(t, repo, "commit", "-q", "-m", "second")
	check("committed again", route, false)
	if err := os.MkdirAll(filepath.Join(repo, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, repo, map[string]string{"sub/sluice.yaml": "version: 1\n"})
	check("never added", filepath.Join(repo, "sub", "sluice.yaml"), true)
	tracked("never added", filepath.Join(repo, "sub", "sluice.yaml"), false)
	gitT(t, repo, "add", "sub/sluice.yaml")
	tracked("staged, not committed", filepath.Join(repo, "sub", "sluice.yaml"), false)
}
