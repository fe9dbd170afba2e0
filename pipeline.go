package sluice

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Pipeline is a route bound to a source: its main branch, another branch, or a pull request.
// Every execution, build, approval, deployment, environment state and stage or environment
// lease belongs to one pipeline, so two pipelines of one route with the same environment names
// never see each other's state. Artifacts are shared by digest.
type Pipeline struct {
	// ID names the pipeline everywhere it is keyed: "<route>@<branch slug>" for the main and
	// branch pipelines, "<route>@pr-<number>" for a pull request (see PipelineID).
	ID    string       `json:"id"`
	Route string       `json:"route"`
	Kind  PipelineKind `json:"kind"`
	// Branch is the source branch (for a pull request, its head branch if known).
	Branch string `json:"branch,omitempty"`
	// PullRequest is the pull request's number; zero unless Kind is KindPullRequest.
	PullRequest int           `json:"pull_request,omitempty"`
	State       PipelineState `json:"state"`
	CreatedAt   time.Time     `json:"created_at"`
	RemovedAt   time.Time     `json:"removed_at,omitzero"`
	// RemovedBecause says why the pipeline was removed ("branch release/1.0 was deleted").
	RemovedBecause string `json:"removed_because,omitempty"`
	// ExpiresAt is when the pipeline is removed unless a push comes first (a pull request with
	// an ephemeral environment and a time to live); zero: never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Expired reports whether the pipeline is active and its time to live has run out at now.
func (p *Pipeline) Expired(now time.Time) bool {
	return !p.State.Removed() && !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt)
}

// PipelineKind says what a pipeline follows.
type PipelineKind string

// Every kind of pipeline.
const (
	KindMain        PipelineKind = "main"         // the route's source.branch
	KindBranch      PipelineKind = "branch"       // a copy of the route for another branch
	KindPullRequest PipelineKind = "pull_request" // a copy of the route for a pull request
)

// Valid reports whether k is a known kind.
func (k PipelineKind) Valid() bool {
	return k == KindMain || k == KindBranch || k == KindPullRequest
}

// PipelineState says whether a pipeline still runs.
type PipelineState string

// Every state of a pipeline.
const (
	PipelineActive  PipelineState = "active"  // it runs new revisions
	PipelineRemoved PipelineState = "removed" // its branch or pull request is gone; its history stays
)

// Removed reports whether the pipeline no longer runs.
func (s PipelineState) Removed() bool { return s == PipelineRemoved }

// maxSlug bounds the readable part of a branch slug, so an ID fits in lease keys, file names
// and URLs whatever the branch is called.
const maxSlug = 40

// plainBranch is a branch name that is its own slug: lowercase letters, digits, '.', '_' and
// '-', starting with a letter or digit, at most maxSlug characters.
var plainBranch = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

// hashedSuffix is what BranchSlug appends to a name it had to change; a plain name that already
// ends like that is hashed too, so a plain name can never equal another name's slug.
var hashedSuffix = regexp.MustCompile(`-[0-9a-f]{10}$`)

// pullRequestSlug is the form of a pull request's slug; a branch named like it is hashed so it
// cannot be mistaken for the pull request.
var pullRequestSlug = regexp.MustCompile(`^pr-[0-9]+$`)

// BranchSlug returns a safe, bounded identifier for a branch name that no other branch name
// shares. A plain name (lowercase letters, digits, '.', '_', '-'; at most 40 characters) is
// its own slug: "main" stays "main". Any other name becomes a readable slug of it plus '-' and
// the first 10 hex digits of the name's SHA-256: "release/1.0" becomes "release-1.0-<hash>",
// which "release-1.0" (plain, kept as it is) cannot collide with. A plain name that looks like a
// slug of the second kind, or like a pull request's ("pr-12"), is hashed too.
func BranchSlug(branch string) string {
	if plainBranch.MatchString(branch) && !hashedSuffix.MatchString(branch) && !pullRequestSlug.MatchString(branch) && !strings.Contains(branch, "..") {
		return branch
	}
	var b strings.Builder
	dash := true // no leading '-'
	for _, r := range strings.ToLower(branch) {
		if b.Len() >= maxSlug-11 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r == '.' || r == '_':
			if !dash {
				b.WriteRune(r)
				dash = true
			}
		default:
			if !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	slug := strings.TrimRight(b.String(), "-._")
	sum := sha256.Sum256([]byte(branch))
	if slug == "" {
		return "b-" + hex.EncodeToString(sum[:])[:10]
	}
	return slug + "-" + hex.EncodeToString(sum[:])[:10]
}

// PipelineID returns the ID of route's pipeline for branch (KindMain, KindBranch) or pull
// request number pr (KindPullRequest). A main and a branch pipeline of the same branch share
// an ID: a branch is followed by one pipeline at a time.
func PipelineID(route string, kind PipelineKind, branch string, pr int) string {
	if kind == KindPullRequest {
		return route + "@pr-" + strconv.Itoa(pr)
	}
	return route + "@" + BranchSlug(branch)
}

// MainPipeline returns the main pipeline of route, following branch; the store sets its
// creation time when it first records it.
func MainPipeline(route, branch string) Pipeline {
	return Pipeline{ID: PipelineID(route, KindMain, branch, 0), Route: route, Kind: KindMain, Branch: branch, State: PipelineActive}
}

// PullRequestPipeline returns the pipeline of pull request number of route, whose head is
// branch (may be empty); the store sets its creation time when it first records it.
func PullRequestPipeline(route string, number int, branch string) Pipeline {
	return Pipeline{ID: PipelineID(route, KindPullRequest, branch, number), Route: route, Kind: KindPullRequest, Branch: branch, PullRequest: number, State: PipelineActive}
}

// BranchPipeline returns the pipeline of route for a branch other than its main one.
func BranchPipeline(route, branch string) Pipeline {
	return Pipeline{ID: PipelineID(route, KindBranch, branch, 0), Route: route, Kind: KindBranch, Branch: branch, State: PipelineActive}
}

// Describe says what the pipeline follows, for people: "branch main", "pull request #12".
func (p *Pipeline) Describe() string {
	if p.Kind == KindPullRequest {
		return fmt.Sprintf("pull request #%d", p.PullRequest)
	}
	return "branch " + p.Branch
}
