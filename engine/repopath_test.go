package engine_test

import (
	"testing"

	"github.com/sluicehq/sluice/engine"
)

func TestRepoPath(t *testing.T) {
	tests := []struct{ repo, want string }{
		{".", "/work/app"},
		{"../shared", "/work/shared"},
		{"/srv/git/app", "/srv/git/app"},
		{"https://git.example.com/org/app.git", "https://git.example.com/org/app.git"},
		{"git@git.example.com:org/app.git", "git@git.example.com:org/app.git"},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			if got := engine.RepoPath("/work/app/sluice.yaml", tt.repo); got != tt.want {
				t.Errorf("RepoPath(%q) = %q, want %q", tt.repo, got, tt.want)
			}
		})
	}
}
