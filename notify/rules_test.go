package notify

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
)

func TestChannels(t *testing.T) {
	rules := []spec.NotifyRule{
		{Events: []string{"execution.failed"}, Channels: []string{"team"}},
		{Events: []string{"deployment.*"}, Environments: []string{"prod"}, Channels: []string{"ops", "team"}},
		{Events: []string{"*"}, Pipelines: []string{"pull_request"}, Channels: []string{"pr"}},
		{Events: []string{"approval.requested"}, Pipelines: []string{"release-*"}, Channels: []string{"release"}},
	}
	tests := []struct {
		name  string
		typ   sluice.EventType
		about About
		want  []string
	}{
		{"failure on main", sluice.EventExecutionFailed, About{Pipeline: "hello-api@main"}, []string{"team"}},
		{"prod rollback", sluice.EventDeploymentRolledBack, About{Pipeline: "hello-api@main", Environment: "prod"}, []string{"ops", "team"}},
		{"dev rollback", sluice.EventDeploymentRolledBack, About{Pipeline: "hello-api@main", Environment: "dev"}, nil},
		{"pull request", sluice.EventDeploymentStarted, About{Pipeline: "hello-api@pr-12", Environment: "prod"}, []string{"ops", "team", "pr"}},
		{"branch named like a pr", sluice.EventExecutionCreated, About{Pipeline: "hello-api@pr-x"}, nil},
		{"release branch", sluice.EventApprovalRequested, About{Pipeline: "hello-api@release-1.2", Environment: "prod"}, []string{"release"}},
		{"no pipeline known", sluice.EventApprovalRequested, About{Environment: "prod"}, nil},
		{"unmatched", sluice.EventArtifactCreated, About{Pipeline: "hello-api@main"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Channels(rules, sluice.Event{Type: tt.typ}, tt.about, "main")
			if !slices.Equal(got, tt.want) {
				t.Errorf("Channels = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPipelineKind(t *testing.T) {
	tests := []struct {
		id, main string
		want     sluice.PipelineKind
	}{
		{"hello-api@main", "main", sluice.KindMain},
		{"hello-api@trunk", "trunk", sluice.KindMain},
		{"hello-api@main", "trunk", sluice.KindBranch},
		{"hello-api@pr-7", "main", sluice.KindPullRequest},
		{"hello-api@pr-", "main", sluice.KindBranch},
		{"hello-api@" + sluice.BranchSlug("release/1.0"), "release/1.0", sluice.KindMain},
	}
	for _, tt := range tests {
		if got := PipelineKind(tt.id, tt.main); got != tt.want {
			t.Errorf("PipelineKind(%q, %q) = %s, want %s", tt.id, tt.main, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 2500 * time.Millisecond},
		{1, 0.999999, 5 * time.Second},
		{2, 0, 5 * time.Second},
		{3, 1, 20 * time.Second},
		{8, 1, 10 * time.Minute},                  // 5s·2^7 = 640s, capped at 10m
		{60, 0.5, 7*time.Minute + 30*time.Second}, // no overflow however many attempts
		{1, -3, 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		got := Backoff(tt.attempt, 0, 0, tt.jitter)
		if d := got - tt.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("Backoff(%d, jitter %g) = %s, want %s", tt.attempt, tt.jitter, got, tt.want)
		}
	}
}
