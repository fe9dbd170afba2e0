package spec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
)

// Severity says whether a diagnostic stops a run.
type Severity string

// Severities. An error makes the file unusable; a warning is printed and the run goes on.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// RootPath is the Path of diagnostics about the file as a whole rather than one key: YAML syntax
// errors, an empty file, a document that is not a mapping.
const RootPath = "(root)"

// Diagnostic is one problem in a sluice.yaml, with where it is and what would be right.
//
// Line and Col are 1-based and point at the offending value, at an unknown key, or, for a
// missing key, at the mapping that should hold it. Path names the key in the file's own terms:
// environments[1].deploy.strategy, build.commands[0], or RootPath.
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Severity Severity `json:"severity"`
	Path     string   `json:"path"`
	Message  string   `json:"message"`
}

// String formats d the way compilers do, so editors and terminals can jump to it:
// FILE:LINE:COL: error: PATH: message.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s: %s", d.File, d.Line, d.Col, d.Severity, d.Path, d.Message)
}

// Diagnostics are all the problems found in one file, sorted by position. A nil Diagnostics
// means the file is fine.
//
// Diagnostics has an Error method so it can travel as an error, but a nil Diagnostics stored
// in an error interface is not a nil error: use Err to get an error value.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error (warnings do not count).
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Error returns every diagnostic, one per line, errors and warnings alike.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns nil when ds holds no errors, and otherwise a terminal *sluice.Error with code
// EINVALID whose message lists the errors (not the warnings) and whose cause is ds.
func (ds Diagnostics) Err() error {
	var errs Diagnostics
	for _, d := range ds {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &sluice.Error{Code: sluice.EINVALID, Message: errs.Error(), Terminal: true, Err: ds}
}

// sorted orders ds by position, keeping the order of discovery for equal positions, and drops
// exact repeats, which appear when one anchored mapping is used in several places.
func (ds Diagnostics) sorted() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Line != ds[j].Line {
			return ds[i].Line < ds[j].Line
		}
		return ds[i].Col < ds[j].Col
	})
	out := ds[:0]
	seen := make(map[Diagnostic]bool, len(ds))
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
