package notify

import (
	"path"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
)

// About is what an event concerns, as rules filter it: its pipeline and environment, each
// empty when the event says nothing of it (an execution's end concerns no one environment).
type About struct {
	Pipeline    string // the pipeline's ID, such as hello-api@main
	Environment string
}

// PipelineKind returns the kind of pipeline id ("<route>@<slug>") given the route's main branch:
// a slug "pr-N" is a pull request, the main branch's slug is main, any other is a branch.
func PipelineKind(id, mainBranch string) sluice.PipelineKind {
	_, slug, _ := strings.Cut(id, "@")
	switch {
	case strings.HasPrefix(slug, "pr-") && strings.Trim(slug[3:], "0123456789") == "" && len(slug) > 3:
		return sluice.KindPullRequest
	case slug == sluice.BranchSlug(mainBranch):
		return sluice.KindMain
	}
	return sluice.KindBranch
}

// Channels returns the names of the channels the rules send ev to, each once, in the order the
// rules first name them. about is what ev concerns; mainBranch is the route's source branch,
// which tells a main pipeline from a branch's.
func Channels(rules []spec.NotifyRule, ev sluice.Event, about About, mainBranch string) []string {
	var out []string
	for _, r := range rules {
		if !ruleMatches(r, ev.Type, about, mainBranch) {
			continue
		}
		for _, c := range r.Channels {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func ruleMatches(r spec.NotifyRule, t sluice.EventType, about About, mainBranch string) bool {
	if !slices.ContainsFunc(r.Events, t.Matches) {
		return false
	}
	if len(r.Environments) > 0 && !slices.Contains(r.Environments, about.Environment) {
		return false
	}
	if len(r.Pipelines) == 0 {
		return true
	}
	if about.Pipeline == "" {
		return false
	}
	kind := PipelineKind(about.Pipeline, mainBranch)
	_, slug, _ := strings.Cut(about.Pipeline, "@")
	for _, p := range r.Pipelines {
		if p == string(kind) {
			return true
		}
		if ok, err := path.Match(p, slug); err == nil && ok {
			return true
		}
	}
	return false
}
