package git_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/git"
)

func TestMain(m *testing.M) {
	// The machine's own git configuration must not decide what these tests see; tests that
	// are about user configuration set their own.
	os.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	os.Setenv("GIT_AUTHOR_NAME", "Sluice Test")
	os.Setenv("GIT_AUTHOR_EMAIL", "test@sluice.invalid")
	os.Setenv("GIT_COMMITTER_NAME", "Sluice Test")
	os.Setenv("GIT_COMMITTER_EMAIL", "test@sluice.invalid")
	os.Exit(m.Run())
}

// gitT runs git in dir and returns its trimmed output, failing the test on error.
func gitT(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeFiles writes files (path → content) under dir; a content starting with "->" makes a
// symlink to the rest, and a path ending in "*" an executable file.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, path)
		} else {
			err = os.WriteFile(path, []byte(content), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// commit writes files into the working tree of repo, commits all changes and returns the sha.
func commit(t testing.TB, repo, subject string, files map[string]string) string {
	t.Helper()
	writeFiles(t, repo, files)
	gitT(t, repo, "add", "-A")
	gitT(t, repo, "commit", "--quiet", "-m", subject+"\n\nThe body is not part of the subject.")
	return gitT(t, repo, "rev-parse", "HEAD")
}

// fixture is a repository with history, tags, a branch and a dirty working tree.
type fixture struct {
	repo   string // the working tree
	first  string // sha of the first commit
	second string // sha of the second commit, main's head
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	gitT(t, t.TempDir(), "init", "--quiet", "-b", "main", repo)
	first := commit(t, repo, "first commit", map[string]string{
		"app.txt":         "v1\n",
		"crlf.txt":        "one\r\ntwo\n",
		"scripts/run.sh*": "#!/bin/sh\necho run\n",
		"link":            "->app.txt",
		".gitignore":      "build/\n*.log\n",
	})
	gitT(t, repo, "tag", "v1")
	gitT(t, repo, "tag", "-a", "-m", "release one", "v1-annotated")
	gitT(t, repo, "branch", "feature")
	second := commit(t, repo, "second commit", map[string]string{
		"app.txt":     "v2\n",
		"sub/new.txt": "added in the second commit\n",
	})
	// The working tree now has everything a checkout must not pick up.
	writeFiles(t, repo, map[string]string{
		"app.txt":       "uncommitted edit\n",
		"untracked.txt": "not committed\n",
		"build/out.bin": "ignored build output\n",
		"debug.log":     "ignored log\n",
	})
	return fixture{repo: repo, first: first, second: second}
}

// fileURL is repo as a file:// URL, which git reads through its transport like a remote.
func fileURL(repo string) string { return "file://" + filepath.ToSlash(repo) }

// wantError checks err's code and that its message contains want.
func wantError(t *testing.T, err error, code, want string) {
	t.Helper()
	if got := sluice.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	bare := filepath.Join(t.TempDir(), "bare.git")
	gitT(t, t.TempDir(), "clone", "--quiet", "--bare", f.repo, bare)
	tests := []struct {
		name string
		repo string
		rev  string
		want string
	}{
		{name: "branch", repo: f.repo, rev: "main", want: f.second},
		{name: "other branch", repo: f.repo, rev: "feature", want: f.first},
		{name: "HEAD", repo: f.repo, rev: "HEAD", want: f.second},
		{name: "tag", repo: f.repo, rev: "v1", want: f.first},
		{name: "annotated tag peeled to its commit", repo: f.repo, rev: "v1-annotated", want: f.first},
		{name: "short sha", repo: f.repo, rev: f.first[:7], want: f.first},
		{name: "full sha", repo: f.repo, rev: f.first, want: f.first},
		{name: "relative revision", repo: f.repo, rev: "main~1", want: f.first},
		{name: "full ref name", repo: f.repo, rev: "refs/heads/feature", want: f.first},
		{name: "subdirectory of the working tree", repo: filepath.Join(f.repo, "sub"), rev: "main", want: f.second},
		{name: "bare repository", repo: bare, rev: "v1", want: f.first},
		{name: "URL branch", repo: fileURL(f.repo), rev: "main", want: f.second},
		{name: "URL HEAD", repo: fileURL(f.repo), rev: "HEAD", want: f.second},
		{name: "URL annotated tag", repo: fileURL(f.repo), rev: "v1-annotated", want: f.first},
		{name: "URL full ref name", repo: fileURL(f.repo), rev: "refs/heads/feature", want: f.first},
		{name: "URL full tag name peeled", repo: fileURL(f.repo), rev: "refs/tags/v1-annotated", want: f.first},
		{name: "URL full sha as given", repo: fileURL(f.repo), rev: strings.ToUpper(f.first), want: f.first},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := git.Resolve(context.Background(), tt.repo, tt.rev)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %s, want %s", tt.rev, got, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	f := newFixture(t)
	plain := t.TempDir()
	empty := filepath.Join(t.TempDir(), "empty")
	gitT(t, t.TempDir(), "init", "--quiet", empty)
	file := filepath.Join(t.TempDir(), "file")
	writeFiles(t, filepath.Dir(file), map[string]string{"file": "x"})
	tests := []struct {
		name string
		repo string
		rev  string
		code string
		want string
	}{
		{name: "unknown revision", repo: f.repo, rev: "nope", code: sluice.ENOTFOUND, want: `revision "nope" not found in ` + f.repo},
		{name: "not a repository", repo: plain, rev: "main", code: sluice.EINVALID, want: plain + " is not a git repository; run git init or fix source.repo"},
		{name: "a file", repo: file, rev: "main", code: sluice.EINVALID, want: "is not a git repository"},
		{name: "missing path", repo: filepath.Join(plain, "missing"), rev: "main", code: sluice.ENOTFOUND, want: "does not exist; fix source.repo"},
		{name: "empty repository", repo: empty, rev: "HEAD", code: sluice.ENOTFOUND, want: "has no commits yet"},
		{name: "empty revision", repo: f.repo, rev: "", code: sluice.EINVALID, want: "no revision given"},
		{name: "revision like an option", repo: f.repo, rev: "--all", code: sluice.EINVALID, want: `revision "--all" is not a valid name`},
		{name: "repository like an option", repo: "-x", rev: "main", code: sluice.EINVALID, want: "starts with '-'"},
		{name: "empty repository name", repo: "", rev: "main", code: sluice.EINVALID, want: "no repository given"},
		{name: "URL unknown revision", repo: fileURL(f.repo), rev: "nope", code: sluice.ENOTFOUND, want: `revision "nope" not found`},
		{name: "URL short sha", repo: fileURL(f.repo), rev: f.first[:7], code: sluice.ENOTFOUND, want: "give a full commit sha"},
		{name: "URL not a repository", repo: fileURL(plain), rev: "main", code: sluice.EINVALID, want: "is not a git repository or cannot be read"},
		{name: "URL empty repository", repo: fileURL(empty), rev: "main", code: sluice.ENOTFOUND, want: "has no commits yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sha, err := git.Resolve(context.Background(), tt.repo, tt.rev)
			if err == nil {
				t.Fatalf("Resolve = %s, want an error", sha)
			}
			wantError(t, err, tt.code, tt.want)
		})
	}
}

func TestResolveCanceled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := git.Resolve(ctx, f.repo, "main"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		repo   string
		branch string
		want   string
		err    string // in the error; "" means none
	}{
		{name: "main", repo: f.repo, branch: "main", want: f.second},
		{name: "other branch", repo: f.repo, branch: "feature", want: f.first},
		{name: "full ref name", repo: f.repo, branch: "refs/heads/feature", want: f.first},
		{name: "URL", repo: fileURL(f.repo), branch: "main", want: f.second},
		{name: "a tag is not a branch", repo: f.repo, branch: "v1", err: `branch "v1" not found in ` + f.repo + "; check source.branch"},
		{name: "URL unknown branch", repo: fileURL(f.repo), branch: "nope", err: `branch "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := git.Head(context.Background(), tt.repo, tt.branch)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("Head = %s, want an error", got)
				}
				wantError(t, err, sluice.ENOTFOUND, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Head(%q) = %s, want %s", tt.branch, got, tt.want)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		repo string
		rev  string
		want string
	}{
		{name: "first", repo: f.repo, rev: f.first, want: "first commit"},
		{name: "head", repo: f.repo, rev: f.second, want: "second commit"},
		{name: "annotated tag", repo: f.repo, rev: "v1-annotated", want: "first commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := git.Subject(context.Background(), tt.repo, tt.rev)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("unknown commit", func(t *testing.T) {
		_, err := git.Subject(context.Background(), f.repo, strings.Repeat("0", 40))
		wantError(t, err, sluice.ENOTFOUND, "not found")
	})
	t.Run("URL", func(t *testing.T) {
		_, err := git.Subject(context.Background(), fileURL(f.repo), f.first)
		wantError(t, err, sluice.EINVALID, "ask a checkout")
	})
	t.Run("not a repository", func(t *testing.T) {
		_, err := git.Subject(context.Background(), t.TempDir(), f.first)
		wantError(t, err, sluice.EINVALID, "is not a git repository")
	})
}
