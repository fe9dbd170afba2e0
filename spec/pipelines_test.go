package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPipelineRoutes(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("testdata", "valid", "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	route, diags := Parse("pipelines.yaml", text)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	names := func(r *Route) []string { return r.environmentNames() }
	tests := []struct {
		name   string
		branch string
		want   []string
	}{
		{"a release branch deploys to qa only", "release/1.0", []string{"qa"}},
		{"hotfix keeps promotion order", "hotfix/x", []string{"qa", "prod"}},
		{"feature branches build and check only", "feature/login", nil},
		{"a pattern's * does not cross '/'", "release/1.0/rc", []string{"dev", "qa", "prod"}},
		{"no rule: the route as it is", "main", []string{"dev", "qa", "prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(route.ForBranch(tt.branch)); !slices.Equal(got, tt.want) {
				t.Errorf("environments of %s: %v, want %v", tt.branch, got, tt.want)
			}
		})
	}
	if got := names(route); !slices.Equal(got, []string{"dev", "qa", "prod"}) {
		t.Errorf("ForBranch changed the route itself: %v", got)
	}
	pr := route.ForPullRequest(12)
	if got := names(pr); !slices.Equal(got, []string{"pr-12"}) {
		t.Fatalf("pull request environments %v, want [pr-12]", got)
	}
	eph := pr.Environments[0]
	if eph.Listen != "" || eph.Env["LOG_LEVEL"] != "debug" {
		t.Errorf("pr-12 copies dev's settings but not its address: listen %q, env %v", eph.Listen, eph.Env)
	}
	if route.Environment("dev").Listen != "127.0.0.1:8081" {
		t.Error("ForPullRequest changed dev")
	}
}
