package git_test

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/git"
)

func TestReadFile(t *testing.T) {
	f := newFixture(t)
	sub := commit(t, f.repo, "a route in a folder", map[string]string{"sub/sluice.yaml": "name: sub\n"})
	writeFiles(t, f.repo, map[string]string{"untracked.txt": "not committed\n"})
	bare := filepath.Join(t.TempDir(), "bare.git")
	gitT(t, t.TempDir(), "clone", "--quiet", "--bare", f.repo, bare)
	other := t.TempDir()
	gitT(t, other, "init", "--quiet", "-b", "main")
	otherHead := commit(t, other, "another repository", map[string]string{"app.txt": "other\n"})
	tests := []struct {
		name      string
		repo, sha string
		file      string
		want      string
		code, err string // the error's code and a part of it; "" means none
	}{
		{name: "the commit's copy, not the edited working tree", repo: f.repo, sha: f.second, file: filepath.Join(f.repo, "app.txt"), want: "v2\n"},
		{name: "an older commit", repo: f.repo, sha: f.first, file: filepath.Join(f.repo, "app.txt"), want: "v1\n"},
		{name: "bytes as committed", repo: f.repo, sha: f.first, file: filepath.Join(f.repo, "crlf.txt"), want: "one\r\ntwo\n"},
		{name: "in a folder", repo: f.repo, sha: sub, file: filepath.Join(f.repo, "sub", "sluice.yaml"), want: "name: sub\n"},
		{name: "repository given as a folder of the work tree", repo: filepath.Join(f.repo, "sub"), sha: f.second, file: filepath.Join(f.repo, "app.txt"), want: "v2\n"},
		{name: "not in that commit", repo: f.repo, sha: f.first, file: filepath.Join(f.repo, "sub", "new.txt"), code: sluice.ENOTFOUND, err: "does not hold sub/new.txt; commit it"},
		{name: "never committed", repo: f.repo, sha: f.second, file: filepath.Join(f.repo, "untracked.txt"), code: sluice.ENOTFOUND, err: "does not hold untracked.txt"},
		{name: "outside any work tree", repo: f.repo, sha: f.second, file: filepath.Join(t.TempDir(), "sluice.yaml"), code: sluice.ENOTFOUND, err: "not in a git work tree"},
		{name: "in another repository", repo: f.repo, sha: f.second, file: filepath.Join(other, "app.txt"), code: sluice.ENOTFOUND, err: "not in the repository"},
		{name: "beside a bare repository", repo: bare, sha: otherHead, file: filepath.Join(other, "app.txt"), code: sluice.ENOTFOUND, err: "not in the repository"},
		{name: "a URL", repo: fileURL(f.repo), sha: f.second, file: filepath.Join(f.repo, "app.txt"), code: sluice.ENOTFOUND, err: "a remote repository"},
		{name: "no commit", repo: f.repo, sha: "", file: filepath.Join(f.repo, "app.txt"), code: sluice.EINVALID, err: "no commit given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := git.ReadFile(t.Context(), tt.repo, tt.sha, tt.file)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("ReadFile = %q, want an error", got)
				}
				wantError(t, err, tt.code, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("ReadFile = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBranches(t *testing.T) {
	f := newFixture(t)
	want := map[string]string{"main": f.second, "feature": f.first}
	for _, repo := range []string{f.repo, fileURL(f.repo)} {
		got, err := git.Branches(t.Context(), repo)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("Branches(%s) = %v, want %v", repo, got, want)
		}
	}
	if _, err := git.Branches(t.Context(), filepath.Join(t.TempDir(), "missing")); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("Branches of a missing repository: %v, want ENOTFOUND", err)
	}
}
