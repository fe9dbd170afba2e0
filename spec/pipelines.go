package spec

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pipelines says which branches and pull requests get a pipeline of their own besides the main
// one (source.branch), and which of the route's environments each runs. Each such pipeline has
// its own executions, environments (their own addresses; on AWS, their own stacks), stage locks,
// approvals and history; they share artifacts by digest.
type Pipelines struct {
	// Branches are tried in order; the first whose match names a branch gives it a pipeline.
	// A branch no rule matches gets none (except source.branch, the main pipeline).
	Branches []BranchRule `json:"branches,omitempty"`
	// PullRequests, when the key is present, gives every open pull request a pipeline.
	PullRequests PullRequests `json:"pull_requests,omitzero"`
}

// BranchRule gives the branches that match a pattern a pipeline.
type BranchRule struct {
	// Match is a pattern of branch names: '*' is any run of characters other than '/', '?'
	// one such character, [a-z] a class (Go's path.Match), so release/* matches release/1.0.
	Match string `json:"match"`
	// Environments are the route's environments the pipeline deploys to, in the route's
	// promotion order. If empty, the pipeline builds and runs the checks only.
	Environments []string `json:"environments,omitempty"`
}

// PullRequests says what the pipeline of a pull request runs.
type PullRequests struct {
	// Enabled is true when the file has the pull_requests key.
	Enabled bool `json:"-"`
	// Environments are the route's environments the pipeline deploys to (its own copies of
	// them), after the ephemeral one. If empty, only the ephemeral one, if any.
	Environments []string `json:"environments,omitempty"`
	// Ephemeral, when From is set, gives each pull request an environment of its own, named
	// pr-<number>, that is torn down when the pull request is closed or merged, or TTL after
	// its last push.
	Ephemeral Ephemeral `json:"ephemeral,omitzero"`
}

// Ephemeral is the environment a pull request gets for itself.
type Ephemeral struct {
	// From names the route's environment whose settings (target, env, deploy, tests,
	// approval) the ephemeral one copies; its listen address is not copied: the provider picks
	// a free one.
	From string `json:"from"`
	// TTL is how long the pull request's pipeline lives after its last push before it is
	// removed like a closed one. If zero, DefaultEphemeralTTL.
	TTL time.Duration `json:"ttl"`
}

// DefaultEphemeralTTL is how long a pull request's pipeline with an ephemeral environment lives
// after its last push, unless ttl says otherwise.
const DefaultEphemeralTTL = 24 * time.Hour

var (
	pipelinesKeys    = []string{"branches", "pull_requests"}
	branchRuleKeys   = []string{"match", "environments"}
	pullRequestsKeys = []string{"environments", "ephemeral"}
	ephemeralKeys    = []string{"from", "ttl"}
)

// ephemeralName is the form of an ephemeral environment's name.
var ephemeralName = regexp.MustCompile(`^pr-[0-9]+$`)

// EphemeralName is the name of pull request number's ephemeral environment.
func EphemeralName(number int) string { return "pr-" + strconv.Itoa(number) }

// MatchBranch returns the first branch rule whose pattern matches branch, or nil.
func (p *Pipelines) MatchBranch(branch string) *BranchRule {
	for i := range p.Branches {
		if ok, _ := path.Match(p.Branches[i].Match, branch); ok {
			return &p.Branches[i]
		}
	}
	return nil
}

// ForBranch returns the route a pipeline of branch runs: its environments cut down to those of
// the first branch rule that matches. With no matching rule, the route as it is.
func (r *Route) ForBranch(branch string) *Route {
	rule := r.Pipelines.MatchBranch(branch)
	if rule == nil {
		return r
	}
	out := *r
	out.Environments = r.only(rule.Environments)
	return &out
}

// ForPullRequest returns the route the pipeline of pull request number runs: its ephemeral
// environment pr-<number> (a copy of ephemeral.from) first, if the route has one, then the
// environments pull_requests names.
func (r *Route) ForPullRequest(number int) *Route {
	out := *r
	out.Environments = nil
	if eph := r.Pipelines.PullRequests.Ephemeral; eph.From != "" {
		if from := r.Environment(eph.From); from != nil {
			env := *from
			env.Name, env.Listen = EphemeralName(number), ""
			out.Environments = append(out.Environments, env)
		}
	}
	out.Environments = append(out.Environments, r.only(r.Pipelines.PullRequests.Environments)...)
	return &out
}

// environmentNames returns the names of the route's environments, in promotion order.
func (r *Route) environmentNames() []string {
	out := make([]string, 0, len(r.Environments))
	for _, env := range r.Environments {
		out = append(out, env.Name)
	}
	return out
}

// only returns the route's environments named in names, in promotion order.
func (r *Route) only(names []string) []Environment {
	var out []Environment
	for _, env := range r.Environments {
		if slices.Contains(names, env.Name) {
			out = append(out, env)
		}
	}
	return out
}

func (r *reader) readPipelines(f field, rt *Route) {
	fs, ok := r.fields(f, pipelinesKeys)
	if !ok {
		return
	}
	p := &rt.Pipelines
	if f, ok := fs["branches"]; ok {
		items, ok := r.list(f, "a list of {match: PATTERN, environments: [...]}")
		if ok && len(items) == 0 {
			r.errorf(f.pos(), f.path, "empty list; add a rule such as - {match: release/*, environments: [qa]}, or remove the key")
		}
		for _, it := range items {
			bfs, ok := r.fields(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}, branchRuleKeys)
			if !ok {
				continue
			}
			p.Branches = append(p.Branches, r.readBranchRule(it.path, bfs, rt))
		}
	}
	if f, ok := fs["pull_requests"]; ok {
		p.PullRequests.Enabled = true
		pfs, ok := r.fields(f, pullRequestsKeys)
		if !ok {
			return
		}
		if f, ok := pfs["environments"]; ok {
			p.PullRequests.Environments = r.environmentNames(f, rt)
		}
		if f, ok := pfs["ephemeral"]; ok {
			r.readEphemeral(f, &p.PullRequests.Ephemeral, rt)
		}
	}
}

func (r *reader) readBranchRule(at string, fs map[string]field, rt *Route) BranchRule {
	var rule BranchRule
	if f, ok := fs["match"]; ok {
		if s, ok := r.str(f); ok {
			if msg := checkBranchPattern(s, rt.Source.Branch); msg != "" {
				r.errorf(f.pos(), f.path, "%s", msg)
			} else {
				rule.Match = s
			}
		}
	} else {
		r.missing(joinPath(at, "match"), "add match: a branch pattern such as release/*")
	}
	if f, ok := fs["environments"]; ok {
		rule.Environments = r.environmentNames(f, rt)
	}
	return rule
}

// checkBranchPattern returns what is wrong with a branch pattern, or "".
func checkBranchPattern(s, mainBranch string) string {
	if strings.TrimSpace(s) == "" {
		return "empty pattern; write one such as release/* or hotfix/*"
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Sprintf("%q is not a valid branch pattern (%v); use * for any characters but '/', ? for one, [a-z] for a class, e.g. release/*", s, err)
	}
	if s == mainBranch {
		return fmt.Sprintf("%q is source.branch, which the main pipeline follows; name other branches here", s)
	}
	return ""
}

// environmentNames reads a list of names of the route's environments.
func (r *reader) environmentNames(f field, rt *Route) []string {
	items, _ := r.strItems(f, "a list of environment names, e.g. [qa]")
	known := rt.environmentNames()
	var out []string
	for _, it := range items {
		switch {
		case !slices.Contains(known, it.s):
			r.errorf(it.pos, it.path, "no environment is named %q%s", it.s, didYouMean(it.s, known))
		case slices.Contains(out, it.s):
			r.errorf(it.pos, it.path, "%q is listed twice", it.s)
		default:
			out = append(out, it.s)
		}
	}
	return out
}

func (r *reader) readEphemeral(f field, eph *Ephemeral, rt *Route) {
	fs, ok := r.fields(f, ephemeralKeys)
	if !ok {
		return
	}
	eph.TTL = DefaultEphemeralTTL
	if f, ok := fs["from"]; ok {
		if s, ok := r.str(f); ok {
			if known := rt.environmentNames(); rt.Environment(s) == nil {
				r.errorf(f.pos(), f.path, "no environment is named %q%s", s, didYouMean(s, known))
			} else {
				eph.From = s
			}
		}
	} else {
		r.missing(joinPath(f.path, "from"), "add from: the environment whose settings each pull request's own environment copies, e.g. from: dev")
	}
	if f, ok := fs["ttl"]; ok {
		if d, ok := r.duration(f); ok {
			eph.TTL = d
		}
	}
	for _, env := range rt.Environments {
		if ephemeralName.MatchString(env.Name) {
			r.errorf(f.pos(), f.path, "environment %q is named like a pull request's own environment (pr-<number>); rename it to use ephemeral environments", env.Name)
		}
	}
}
