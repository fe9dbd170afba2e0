package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// This file turns the payloads of the git hosts' webhooks into GitEvents. It reads only what
// Sluice acts on, as each host documents it:
//
//	GitHub  X-GitHub-Event: push, create, delete, pull_request (ping is answered and ignored)
//	GitLab  X-Gitlab-Event: Push Hook, Merge Request Hook
//	Gitea   X-Gitea-Event (Forgejo: X-Forgejo-Event): push, create, delete, pull_request
//
// It runs only on deliveries whose signature was verified.

// GitEventKind says what happened in the repository.
type GitEventKind string

// Every kind of git event Sluice acts on.
const (
	BranchPushed       GitEventKind = "branch_pushed"  // a branch was created or pushed to
	BranchDeleted      GitEventKind = "branch_deleted" // a branch was deleted
	PullRequestUpdated GitEventKind = "pull_request_updated"
	PullRequestClosed  GitEventKind = "pull_request_closed" // closed or merged
	Ignored            GitEventKind = "ignored"             // an event Sluice has nothing to do with
)

// GitEvent is one git host event, as Sluice reads it.
type GitEvent struct {
	Kind GitEventKind
	// Branch is the branch pushed, created or deleted, or a pull request's head branch.
	Branch string
	// Revision is the commit the branch or pull request's head is at now, if the host said.
	Revision string
	// PullRequest is the pull request's (GitLab: merge request's) number in its repository.
	PullRequest int
	// Why says, for Ignored, why; for PullRequestClosed, "closed" or "merged".
	Why string
}

// zeroSHA is the commit a push names for a branch that did not exist before or does not any
// more.
func zeroSHA(s string) bool { return s != "" && strings.Trim(s, "0") == "" }

// branchOf returns the branch of a full ref name, and false for tags and other refs.
func branchOf(ref string) (string, bool) {
	b, ok := strings.CutPrefix(ref, "refs/heads/")
	return b, ok && b != ""
}

// decode reads body into v, refusing what is not one JSON object.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return sluice.Errorf(sluice.EINVALID, "the payload is not valid JSON: %v", err)
	}
	if dec.More() {
		return sluice.Errorf(sluice.EINVALID, "the payload has more than one JSON value")
	}
	return nil
}

// pushPayload is the part of a push event Sluice reads; GitHub, GitLab and Gitea share it.
type pushPayload struct {
	Ref     string `json:"ref"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"` // GitHub
}

func (p pushPayload) event() GitEvent {
	branch, ok := branchOf(p.Ref)
	switch {
	case !ok:
		return GitEvent{Kind: Ignored, Why: fmt.Sprintf("%q is not a branch", p.Ref)}
	case p.Deleted || zeroSHA(p.After):
		return GitEvent{Kind: BranchDeleted, Branch: branch}
	}
	return GitEvent{Kind: BranchPushed, Branch: branch, Revision: p.After}
}

// refPayload is a create or delete event of GitHub and Gitea: ref is the short name.
type refPayload struct {
	Ref     string `json:"ref"`
	RefType string `json:"ref_type"`
	SHA     string `json:"sha"` // Gitea's create
}

func (p refPayload) event(kind GitEventKind) GitEvent {
	if p.RefType != "branch" || p.Ref == "" {
		return GitEvent{Kind: Ignored, Why: fmt.Sprintf("a %s of a %s", kind, p.RefType)}
	}
	return GitEvent{Kind: kind, Branch: strings.TrimPrefix(p.Ref, "refs/heads/"), Revision: p.SHA}
}

// pullRequestPayload is a pull_request event of GitHub and Gitea.
type pullRequestPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Number int  `json:"number"`
		Merged bool `json:"merged"`
		Head   struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
}

func (p pullRequestPayload) event() (GitEvent, error) {
	number := p.Number
	if number == 0 {
		number = p.PullRequest.Number
	}
	if number <= 0 {
		return GitEvent{}, sluice.Errorf(sluice.EINVALID, "the pull_request payload has no number")
	}
	ev := GitEvent{PullRequest: number, Branch: p.PullRequest.Head.Ref, Revision: p.PullRequest.Head.SHA}
	switch p.Action {
	case "opened", "reopened", "synchronize", "synchronized":
		ev.Kind = PullRequestUpdated
	case "closed":
		ev.Kind, ev.Why = PullRequestClosed, "closed"
		if p.PullRequest.Merged {
			ev.Why = "merged"
		}
	default:
		ev.Kind, ev.Why = Ignored, "pull request action "+p.Action
	}
	return ev, nil
}

// mergeRequestPayload is GitLab's Merge Request Hook.
type mergeRequestPayload struct {
	ObjectKind       string `json:"object_kind"`
	ObjectAttributes struct {
		IID          int    `json:"iid"`
		Action       string `json:"action"`
		State        string `json:"state"`
		SourceBranch string `json:"source_branch"`
		LastCommit   struct {
			ID string `json:"id"`
		} `json:"last_commit"`
	} `json:"object_attributes"`
}

func (p mergeRequestPayload) event() (GitEvent, error) {
	a := p.ObjectAttributes
	if a.IID <= 0 {
		return GitEvent{}, sluice.Errorf(sluice.EINVALID, "the merge request payload has no object_attributes.iid")
	}
	ev := GitEvent{PullRequest: a.IID, Branch: a.SourceBranch, Revision: a.LastCommit.ID}
	switch a.Action {
	case "open", "reopen", "update":
		ev.Kind = PullRequestUpdated
	case "close", "merge":
		ev.Kind, ev.Why = PullRequestClosed, a.Action+"d"
	default:
		ev.Kind, ev.Why = Ignored, "merge request action "+a.Action
	}
	return ev, nil
}

// parseGitHub reads a GitHub delivery of event (X-GitHub-Event).
func parseGitHub(event string, body []byte) (GitEvent, error) {
	return parseHub(event, body)
}

// parseGitea reads a Gitea or Forgejo delivery: the same event names and, for what Sluice
// reads, the same payloads as GitHub's.
func parseGitea(event string, body []byte) (GitEvent, error) {
	return parseHub(event, body)
}

// parseHub reads the GitHub-shaped events that GitHub and Gitea send.
func parseHub(event string, body []byte) (GitEvent, error) {
	switch event {
	case "push":
		return parsePush(body)
	case "create", "delete":
		var p refPayload
		if err := decode(body, &p); err != nil {
			return GitEvent{}, err
		}
		kind := BranchPushed
		if event == "delete" {
			kind = BranchDeleted
		}
		return p.event(kind), nil
	case "pull_request":
		var p pullRequestPayload
		if err := decode(body, &p); err != nil {
			return GitEvent{}, err
		}
		return p.event()
	}
	return parseIgnored(event, body)
}

// parseGitLab reads a GitLab delivery of event (X-Gitlab-Event).
func parseGitLab(event string, body []byte) (GitEvent, error) {
	switch event {
	case "Push Hook":
		return parsePush(body)
	case "Merge Request Hook":
		var p mergeRequestPayload
		if err := decode(body, &p); err != nil {
			return GitEvent{}, err
		}
		return p.event()
	}
	return parseIgnored(event, body)
}

// parsePush reads a push event, which GitHub, GitLab and Gitea shape alike.
func parsePush(body []byte) (GitEvent, error) {
	var p pushPayload
	if err := decode(body, &p); err != nil {
		return GitEvent{}, err
	}
	return p.event(), nil
}

// parseIgnored checks that an event Sluice does not act on is a JSON object all the same.
func parseIgnored(event string, body []byte) (GitEvent, error) {
	var obj map[string]json.RawMessage
	if err := decode(body, &obj); err != nil {
		return GitEvent{}, err
	}
	return GitEvent{Kind: Ignored, Why: "event " + event}, nil
}

// provider is what differs between the git hosts: where the event name, the delivery ID and
// the signature are, how the signature is checked, and how payloads read.
type provider struct {
	name string
	// event and delivery return the event name and the delivery ID of a request.
	event    func(http.Header) string
	delivery func(http.Header) string
	// verify checks the request's signature of body against secret: a *refusal with 401 when
	// it is missing, 403 when it is wrong.
	verify func(h http.Header, body, secret []byte) error
	parse  func(event string, body []byte) (GitEvent, error)
}

// first returns the first of the named headers that is set.
func first(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

var providers = map[string]provider{
	"github": {
		name:     "github",
		event:    func(h http.Header) string { return h.Get("X-GitHub-Event") },
		delivery: func(h http.Header) string { return h.Get("X-GitHub-Delivery") },
		verify: func(h http.Header, body, secret []byte) error {
			return verifyHMAC(h.Get("X-Hub-Signature-256"), "sha256=", "X-Hub-Signature-256", body, secret)
		},
		parse: parseGitHub,
	},
	"gitlab": {
		name:  "gitlab",
		event: func(h http.Header) string { return h.Get("X-Gitlab-Event") },
		// Idempotency-Key stays the same when GitLab retries a delivery; older GitLab sends
		// only X-Gitlab-Event-UUID.
		delivery: func(h http.Header) string { return first(h, "Idempotency-Key", "X-Gitlab-Event-UUID") },
		verify: func(h http.Header, _, secret []byte) error {
			return verifyToken(h.Get("X-Gitlab-Token"), secret)
		},
		parse: parseGitLab,
	},
	"gitea": {
		name:     "gitea",
		event:    func(h http.Header) string { return first(h, "X-Gitea-Event", "X-Forgejo-Event") },
		delivery: func(h http.Header) string { return first(h, "X-Gitea-Delivery", "X-Forgejo-Delivery") },
		verify: func(h http.Header, body, secret []byte) error {
			name, sig := "X-Gitea-Signature", h.Get("X-Gitea-Signature")
			if sig == "" {
				name, sig = "X-Forgejo-Signature", h.Get("X-Forgejo-Signature")
			}
			return verifyHMAC(sig, "", name, body, secret)
		},
		parse: parseGitea,
	},
}
