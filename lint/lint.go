// Package lint checks CloudFormation templates, YAML or JSON, before they reach CloudFormation.
//
// Two kinds of check run over every template:
//
//   - Schema checks (rule IDs T...), against the CloudFormation resource specification in
//     cfnspec, SAM included: resource types, property names, required properties, value types,
//     allowed values, and that every Ref, Fn::GetAtt, Fn::Sub variable, DependsOn, condition and
//     mapping names something the template has.
//
//   - Security rules (IAM001, S3001, ...; see Rules) in the spirit of cfn_nag and the AWS Control
//     Tower guard rules: wildcards in IAM policies, public or unencrypted buckets, keys without
//     rotation, security groups open to the world, and so on. A resource may suppress a rule
//     with a reason in its Metadata:
//
//     Metadata:
//     sluice:
//     suppress:
//
//   - id: IAM002
//     reason: X-Ray takes no resource-level permissions
//
// Check returns Findings sorted by position, each with its rule ID, the resource, the path in
// the template and file:line:col. The package reads template (the parser) and cfnspec (the data),
// and borrows spec's typo suggestions.
package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/lint/cfnspec"
	"github.com/sluicehq/sluice/lint/template"
	"github.com/sluicehq/sluice/spec"
)

// Severity says whether a finding fails the check.
type Severity string

// Severities. Errors fail `sluice lint`; warnings are printed and do not.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one problem in a template.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Severity Severity `json:"severity"`
	Rule     string   `json:"rule"`
	// Resource is the logical ID of the resource the finding is about; empty for findings about
	// other sections.
	Resource string `json:"resource,omitempty"`
	// Path is where in the template, in its own terms: Resources.Bucket.Properties.BucketName.
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String formats f the way compilers do: FILE:LINE:COL: error: RULE: PATH: message.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s: %s: %s", f.File, f.Line, f.Col, f.Severity, f.Rule, f.Path, f.Message)
}

// Options choose what Check runs. The zero value runs every rule that is on by default.
type Options struct {
	// Enable turns on rules that are off by default (see Rule.OptIn), by ID.
	Enable []string
	// Disable turns rules off, by ID, for every resource.
	Disable []string
}

// Validate reports a rule ID in Enable or Disable that names no rule.
func (o Options) Validate() error {
	for _, id := range append(append([]string(nil), o.Enable...), o.Disable...) {
		if _, ok := ruleByID[id]; !ok {
			return fmt.Errorf("no rule %q%s", id, suggestRule(id))
		}
	}
	return nil
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Check reads and checks one template. file names it in findings. A template that cannot be
// read at all is one finding (T000) at the place the parser stopped. The error is only for an
// unknown rule ID in opts or an unreadable embedded specification.
func Check(file string, data []byte, opts Options) ([]Finding, error) {
	db, err := cfnspec.Load()
	if err != nil {
		return nil, err
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	root, err := template.Parse(file, data)
	if err != nil {
		if pe, ok := err.(*template.Error); ok {
			return []Finding{{File: file, Line: pe.Line, Col: pe.Col, Severity: SeverityError, Rule: RuleParse, Path: "(template)", Message: pe.Message}}, nil
		}
		return nil, err
	}
	c := newChecker(file, db, root)
	c.checkSchema()
	c.checkSecurity(enabledRules(opts))
	return c.finish(), nil
}

// checker holds one template's state while it is checked.
type checker struct {
	file     string
	db       *cfnspec.DB
	root     *template.Node
	findings []Finding

	resources  map[string]*resource // by logical ID
	order      []*resource          // in file order
	parameters map[string]*template.Node
	conditions map[string]*template.Node
	mappings   map[string]*template.Node
	sam        bool           // the template names the SAM transform
	macro      *template.Node // a macro the template names, if any
	samIDs     map[string]bool
	// typeGuesses are the suggestions made for unknown resource types, by name.
	typeGuesses map[string]string
}

// resource is one entry of Resources.
type resource struct {
	id         string
	key        *template.Node // the logical ID as written
	node       *template.Node
	typ        string
	def        *cfnspec.Resource // nil for custom and unknown types
	properties *template.Node    // nil when absent
}

func newChecker(file string, db *cfnspec.DB, root *template.Node) *checker {
	return &checker{
		file: file, db: db, root: root,
		resources:  map[string]*resource{},
		parameters: map[string]*template.Node{},
		conditions: map[string]*template.Node{},
		mappings:   map[string]*template.Node{},

		typeGuesses: map[string]string{},
	}
}

// report adds a finding at node n.
func (c *checker) report(sev Severity, rule string, n *template.Node, res, path, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Col
	}
	c.findings = append(c.findings, Finding{
		File: c.file, Line: line, Col: col, Severity: sev, Rule: rule, Resource: res, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

func (c *checker) errorf(rule string, n *template.Node, res, path, format string, args ...any) {
	c.report(SeverityError, rule, n, res, path, format, args...)
}

// finish applies suppressions and sorts the findings by position.
func (c *checker) finish() []Finding {
	out := c.applySuppressions(c.findings)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Rule < b.Rule
	})
	return out
}

// didYouMean returns `; did you mean "X"?` for a close candidate, or "".
func didYouMean(word string, candidates []string) string {
	if s := spec.Suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// knownList returns "; known: a, b, c" for a short candidate list, or "".
func knownList(candidates []string) string {
	if len(candidates) == 0 || len(candidates) > 12 {
		return ""
	}
	return "; known: " + strings.Join(candidates, ", ")
}
