// Package sluice holds the domain of Sluice, a route-to-live engine: the words every other
// package speaks (executions, stages, actions, artifacts, change sets, deployments, strategies,
// alarms, events) and the error codes. It imports nothing of ours.
//
// The map of the repository:
//
//	spec/      sluice.yaml → Route, with positioned diagnostics
//	plan/      Route → Plan, the stage/action graph (pure)
//	engine/    runs a Plan for one revision; writes state before acting; resumes after a crash
//	sqlite/    the store behind the engine's small interfaces
//	artifact/  deterministic packing, AES-256-GCM at rest, verified on every read
//	git/       revision resolution and clean checkouts
//	runner/    commands in process groups, with timeouts, logs and secret masking
//	rollout/   strategies and alarms as pure functions of time and metrics
//	router/    the weighted reverse proxy with per-version metrics
//	local/     the local deploy provider: versions behind a router
//	http/      the API of `sluice up`
//	cli/       the command line
package sluice

import (
	"slices"
	"strings"
)

// ActionKind names what an action does. The set is closed: plan compiles only these.
type ActionKind string

// The action kinds, in the order they appear in a route.
const (
	KindSource           ActionKind = "source"
	KindBuild            ActionKind = "build"
	KindCheck            ActionKind = "check"
	KindCreateChangeSet  ActionKind = "create_change_set"
	KindApproval         ActionKind = "approval"
	KindExecuteChangeSet ActionKind = "execute_change_set"
	KindTest             ActionKind = "test"
)

// Status is the state of an execution, a stage or an action.
type Status string

// Statuses. Only Pending, InProgress and Waiting are not final.
const (
	StatusPending    Status = "Pending"
	StatusInProgress Status = "InProgress"
	StatusWaiting    Status = "Waiting" // an approval waits for a person
	StatusSucceeded  Status = "Succeeded"
	StatusFailed     Status = "Failed"
	StatusRejected   Status = "Rejected"
	StatusRolledBack Status = "RolledBack"
	StatusStopped    Status = "Stopped"
	StatusSuperseded Status = "Superseded"
)

// ActiveStatuses are the statuses that are not final; the empty status counts as Pending.
var ActiveStatuses = []Status{"", StatusPending, StatusInProgress, StatusWaiting}

// Done reports whether s is final: nothing will change it again.
func (s Status) Done() bool { return !slices.Contains(ActiveStatuses, s) }

// OK reports whether s is a successful final status.
func (s Status) OK() bool { return s == StatusSucceeded }

// ExecutionMode says what happens to an execution that waits to enter a busy stage.
type ExecutionMode string

// Execution modes, as in CodePipeline.
const (
	ModeSuperseded ExecutionMode = "superseded" // a newer execution replaces a waiting one
	ModeQueued     ExecutionMode = "queued"     // executions wait in order
)

// ShortRevision is the 7-character form of a commit sha people read, as git shows it.
func ShortRevision(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// RemoteRepo reports whether repo (a source.repo) is a URL rather than a local path, by git's
// own rule: a scheme, or a colon before the first slash (the scp-like user@host:path).
func RemoteRepo(repo string) bool {
	if strings.Contains(repo, "://") {
		return true
	}
	colon := strings.IndexByte(repo, ':')
	slash := strings.IndexByte(repo, '/')
	return colon > 0 && (slash < 0 || colon < slash)
}

// ShortDigest is "sha256:" and the first 12 hex digits of an artifact or change-set digest.
func ShortDigest(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}
