package sluice_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestBranchSlug(t *testing.T) {
	safe := regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	cases := []struct {
		name   string
		branch string
		want   string // exact slug, or a prefix followed by a hash when hashed is true
		hashed bool
	}{
		{"plain name stays", "main", "main", false},
		{"plain with dash and dot stays", "release-1.0", "release-1.0", false},
		{"slash is replaced and hashed", "release/1.0", "release-1.0-", true},
		{"upper case is lowered and hashed", "Main", "main-", true},
		{"looks like a hashed slug", "release-1.0-0123456789", "release-1.0-0123456789-", true},
		{"looks like a pull request", "pr-12", "pr-12-", true},
		{"spaces and symbols", "feature/Add Login!", "feature-add-login-", true},
		{"only symbols", "///", "b-", true},
		{"non-ascii", "fix/ümlaut", "fix-mlaut-", true},
		{"leading dash", "-x", "x-", true},
		{"long name is bounded", strings.Repeat("a", 300), strings.Repeat("a", 29) + "-", true},
		{"forty characters stay", strings.Repeat("b", 40), strings.Repeat("b", 40), false},
		{"forty-one characters are hashed", strings.Repeat("b", 41), strings.Repeat("b", 29) + "-", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sluice.BranchSlug(c.branch)
			if !safe.MatchString(got) || len(got) > 40 {
				t.Fatalf("BranchSlug(%q) = %q: not a safe identifier of at most 40 characters", c.branch, got)
			}
			if !c.hashed {
				if got != c.want {
					t.Fatalf("BranchSlug(%q) = %q, want %q", c.branch, got, c.want)
				}
				return
			}
			if !strings.HasPrefix(got, c.want) || !regexp.MustCompile(`-[0-9a-f]{10}$`).MatchString(got) || len(got) != len(c.want)+10 {
				t.Fatalf("BranchSlug(%q) = %q, want %q followed by a 10-digit hash", c.branch, got, c.want)
			}
			if again := sluice.BranchSlug(c.branch); again != got {
				t.Fatalf("BranchSlug(%q) is not stable: %q then %q", c.branch, got, again)
			}
		})
	}
}

func TestBranchSlugsDoNotCollide(t *testing.T) {
	branches := []string{
		"main", "Main", "MAIN", "release/1.0", "release-1.0", "release_1.0", "release.1.0", "release--1.0",
		"pr-1", "pr/1", "feature/x", "feature-x", "feature/X", "feature x", "feature//x",
		sluice.BranchSlug("release/1.0"), sluice.BranchSlug("Main"),
		strings.Repeat("a", 300), strings.Repeat("a", 301), "///", "//",
	}
	seen := map[string]string{}
	for _, b := range branches {
		id := sluice.PipelineID("hello-api", sluice.KindBranch, b, 0)
		if other, dup := seen[id]; dup {
			t.Fatalf("branches %q and %q both have pipeline ID %q", other, b, id)
		}
		seen[id] = b
	}
	for _, pr := range []int{1, 12} {
		id := sluice.PipelineID("hello-api", sluice.KindPullRequest, "", pr)
		if other, dup := seen[id]; dup {
			t.Fatalf("pull request %d and branch %q both have pipeline ID %q", pr, other, id)
		}
		seen[id] = id
	}
}

func TestMainPipelineKeepsTheFormerPipelineName(t *testing.T) {
	// Executions stored before pipelines existed name their pipeline "<route>@<branch>".
	p := sluice.MainPipeline("hello-api", "main")
	if p.ID != "hello-api@main" || p.Kind != sluice.KindMain || p.State != sluice.PipelineActive {
		t.Fatalf("MainPipeline = %+v", p)
	}
}
