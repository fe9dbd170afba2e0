package git_test

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/git"
)

// tree reads every file under dir except .git: path → content, with "*" after the path of an
// executable file and "->target" as the content of a symlink.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			files[rel] = "->" + target
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&0o111 != 0 {
			rel += "*"
		}
		b, err := os.ReadFile(path)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestCheckout(t *testing.T) {
	f := newFixture(t)
	atFirst := map[string]string{
		"app.txt":         "v1\n",
		"crlf.txt":        "one\r\ntwo\n",
		"scripts/run.sh*": "#!/bin/sh\necho run\n",
		"link":            "->app.txt",
		".gitignore":      "build/\n*.log\n",
	}
	atSecond := maps.Clone(atFirst)
	atSecond["app.txt"] = "v2\n"
	atSecond["sub/new.txt"] = "added in the second commit\n"
	tests := []struct {
		name string
		repo string
		sha  string
		want map[string]string
	}{
		{name: "head commit", repo: f.repo, sha: f.second, want: atSecond},
		{name: "older commit", repo: f.repo, sha: f.first, want: atFirst},
		{name: "from a subdirectory path", repo: filepath.Join(f.repo, "sub"), sha: f.first, want: atFirst},
		{name: "URL head commit", repo: fileURL(f.repo), sha: f.second, want: atSecond},
		{name: "URL older commit", repo: fileURL(f.repo), sha: f.first, want: atFirst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "checkout")
			if err := git.Checkout(context.Background(), tt.repo, tt.sha, dir); err != nil {
				t.Fatal(err)
			}
			got := tree(t, dir)
			for _, name := range slices.Sorted(maps.Keys(got)) {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("checkout has %s, which is not in the commit", name)
				}
			}
			for _, name := range slices.Sorted(maps.Keys(tt.want)) {
				if got[name] != tt.want[name] {
					t.Errorf("%s = %q, want %q", name, got[name], tt.want[name])
				}
			}
			// The checkout is a repository at that commit, clean, and can answer Subject.
			if head := gitT(t, dir, "rev-parse", "HEAD"); head != tt.sha {
				t.Errorf("HEAD of the checkout = %s, want %s", head, tt.sha)
			}
			if status := gitT(t, dir, "status", "--porcelain", "--ignored"); status != "" {
				t.Errorf("checkout is not clean:\n%s", status)
			}
			if _, err := git.Subject(context.Background(), dir, tt.sha); err != nil {
				t.Errorf("Subject of the checkout: %v", err)
			}
		})
	}
	t.Run("source repository unchanged", func(t *testing.T) {
		if b, err := os.ReadFile(filepath.Join(f.repo, "app.txt")); err != nil || string(b) != "uncommitted edit\n" {
			t.Errorf("app.txt in the source = %q, %v; want the uncommitted edit kept", b, err)
		}
		if head := gitT(t, f.repo, "rev-parse", "HEAD"); head != f.second {
			t.Errorf("HEAD of the source = %s, want %s", head, f.second)
		}
		if wt := gitT(t, f.repo, "worktree", "list", "--porcelain"); strings.Count(wt, "worktree ") != 1 {
			t.Errorf("the source has new worktrees:\n%s", wt)
		}
	})
}

func TestCheckoutDirectory(t *testing.T) {
	f := newFixture(t)
	t.Run("existing empty directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := git.Checkout(context.Background(), f.repo, f.first, dir); err != nil {
			t.Fatal(err)
		}
		if got := tree(t, dir)["app.txt"]; got != "v1\n" {
			t.Errorf("app.txt = %q, want %q", got, "v1\n")
		}
	})
	t.Run("non-empty directory refused and untouched", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"keep.txt": "mine"})
		err := git.Checkout(context.Background(), f.repo, f.first, dir)
		wantError(t, err, sluice.EINVALID, "is not empty")
		if got := tree(t, dir); len(got) != 1 || got["keep.txt"] != "mine" {
			t.Errorf("directory now holds %v, want only keep.txt", got)
		}
	})
	unknown := strings.Repeat("0", 40)
	for _, repo := range []string{f.repo, fileURL(f.repo)} {
		t.Run("unknown commit leaves nothing behind "+repo[:4], func(t *testing.T) {
			newDir := filepath.Join(t.TempDir(), "checkout")
			err := git.Checkout(context.Background(), repo, unknown, newDir)
			wantError(t, err, sluice.ENOTFOUND, "not found")
			if _, err := os.Stat(newDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(%s) = %v, want it removed", newDir, err)
			}
			emptyDir := t.TempDir()
			if err := git.Checkout(context.Background(), repo, unknown, emptyDir); sluice.ErrorCode(err) != sluice.ENOTFOUND {
				t.Errorf("err = %v, want %s", err, sluice.ENOTFOUND)
			}
			if entries, err := os.ReadDir(emptyDir); err != nil || len(entries) != 0 {
				t.Errorf("ReadDir(%s) = %d entries, %v; want it kept and empty", emptyDir, len(entries), err)
			}
		})
	}
	t.Run("not a repository", func(t *testing.T) {
		err := git.Checkout(context.Background(), t.TempDir(), f.first, filepath.Join(t.TempDir(), "c"))
		wantError(t, err, sluice.EINVALID, "is not a git repository")
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dir := filepath.Join(t.TempDir(), "c")
		if err := git.Checkout(ctx, f.repo, f.first, dir); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want it to wrap context.Canceled", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Stat(%s) = %v, want it removed", dir, err)
		}
	})
}

// TestUserSettingsDoNotLeak checks that the environment and configuration of the person running
// the engine cannot change which repository is read or what a checkout contains.
func TestUserSettingsDoNotLeak(t *testing.T) {
	f := newFixture(t)
	t.Run("environment of another repository", func(t *testing.T) {
		other := newFixture(t)
		otherHead := commit(t, other.repo, "only in the other repository", map[string]string{"other.txt": "other\n"})
		// As if the engine were started from a git hook of another repository.
		t.Setenv("GIT_DIR", filepath.Join(other.repo, ".git"))
		t.Setenv("GIT_WORK_TREE", other.repo)
		t.Setenv("GIT_INDEX_FILE", filepath.Join(other.repo, ".git", "index"))
		if got, err := git.Resolve(context.Background(), f.repo, "main"); err != nil || got != f.second {
			t.Errorf("Resolve = %s, %v; want %s from the repository asked for, not %s", got, err, f.second, otherHead)
		}
		dir := filepath.Join(t.TempDir(), "checkout")
		if err := git.Checkout(context.Background(), f.repo, f.first, dir); err != nil {
			t.Fatal(err)
		}
		if got := tree(t, dir)["app.txt"]; got != "v1\n" {
			t.Errorf("app.txt = %q, want %q", got, "v1\n")
		}
	})
	t.Run("global configuration", func(t *testing.T) {
		home := t.TempDir()
		hooks := filepath.Join(home, "hooks")
		writeFiles(t, hooks, map[string]string{"post-checkout*": "#!/bin/sh\necho hooked > hook-ran.txt\n"})
		writeFiles(t, home, map[string]string{".gitconfig": "[core]\n\tautocrlf = true\n\thooksPath = " + hooks + "\n"})
		t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, ".gitconfig"))
		dir := filepath.Join(t.TempDir(), "checkout")
		if err := git.Checkout(context.Background(), f.repo, f.first, dir); err != nil {
			t.Fatal(err)
		}
		got := tree(t, dir)
		if _, ok := got["hook-ran.txt"]; ok {
			t.Error("the user's post-checkout hook ran in the checkout")
		}
		if got["app.txt"] != "v1\n" {
			t.Errorf("app.txt = %q, want %q: line endings changed", got["app.txt"], "v1\n")
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	f := newFixture(b)
	for b.Loop() {
		if _, err := git.Resolve(context.Background(), f.repo, "main"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckout checks out a commit of 500 files of 4 KiB.
func BenchmarkCheckout(b *testing.B) {
	repo := filepath.Join(b.TempDir(), "repo")
	gitT(b, b.TempDir(), "init", "--quiet", "-b", "main", repo)
	files := map[string]string{}
	for i := range 500 {
		files[filepath.Join("pkg"+string(rune('a'+i%20)), "file"+strings.Repeat("x", i%7)+string(rune('a'+i/20))+".go")] = strings.Repeat("package x // line\n", 230)
	}
	sha := commit(b, repo, "many files", files)
	base := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if err := git.Checkout(context.Background(), repo, sha, filepath.Join(base, strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
}
