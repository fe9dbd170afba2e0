package lint

import (
	"fmt"

	"github.com/sluicehq/sluice/lint/template"
)

// suppression is one entry of a resource's Metadata.sluice.suppress.
type suppression struct {
	id     string
	reason string
	at     *template.Node
	used   bool
}

// suppressions reads Metadata.sluice.suppress of every resource, reporting malformed entries.
func (c *checker) suppressions() map[string][]*suppression {
	out := map[string][]*suppression{}
	for _, r := range c.order {
		if r.node.Kind != template.Mapping {
			continue
		}
		sl := r.node.Get("Metadata").Get("sluice")
		if sl == nil {
			continue
		}
		path := "Resources." + r.id + ".Metadata.sluice"
		list := sl.Get("suppress")
		if list == nil || list.Kind != template.Sequence {
			c.errorf(RuleSuppression, sl, r.id, path, "Metadata.sluice takes suppress: a list of {id: RULE, reason: why}")
			continue
		}
		for i, it := range list.Items {
			p := fmt.Sprintf("%s.suppress[%d]", path, i)
			id, reason := it.Get("id"), it.Get("reason")
			switch {
			case it.Kind != template.Mapping || id == nil || !id.IsString():
				c.errorf(RuleSuppression, it, r.id, p, "a suppression is {id: RULE, reason: why}, with the rule's ID")
			case reason == nil || reason.Kind != template.Scalar || reason.Type == template.Null || reason.Value == "":
				c.errorf(RuleSuppression, it, r.id, p, "the suppression of %s gives no reason; add reason: saying why the rule does not apply here", id.Value)
			default:
				if _, known := ruleByID[id.Value]; !known || id.Value == RuleParse || id.Value == RuleSuppression {
					// A warning: what it meant to suppress is reported anyway.
					c.report(SeverityWarning, RuleSuppression, id, r.id, p+".id", "no rule %q to suppress%s", id.Value, suggestRule(id.Value))
					continue
				}
				out[r.id] = append(out[r.id], &suppression{id: id.Value, reason: reason.Value, at: id})
			}
		}
	}
	return out
}

// applySuppressions drops the findings a resource suppresses, and warns about suppressions
// that suppress nothing, so stale ones do not pile up.
func (c *checker) applySuppressions(findings []Finding) []Finding {
	sup := c.suppressions()
	findings = c.findings // suppressions() may have added findings
	if len(sup) == 0 {
		return findings
	}
	out := findings[:0:0]
	for _, f := range findings {
		dropped := false
		for _, s := range sup[f.Resource] {
			if s.id == f.Rule {
				s.used, dropped = true, true
			}
		}
		if !dropped {
			out = append(out, f)
		}
	}
	for _, r := range c.order {
		for _, s := range sup[r.id] {
			if !s.used {
				out = append(out, Finding{File: c.file, Line: s.at.Line, Col: s.at.Col, Severity: SeverityWarning, Rule: RuleSuppression, Resource: r.id,
					Path: "Resources." + r.id + ".Metadata.sluice.suppress", Message: fmt.Sprintf("%s is suppressed but %s has no such finding; remove the suppression", s.id, r.id)})
			}
		}
	}
	return out
}
