package cli

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice"
)

// resolveExecution turns what a person typed for an execution (its ID, or a prefix of it as
// sluice status and the run output show it) into the execution's ID. A prefix that matches more
// than one execution is refused with the ones it matches.
func resolveExecution(e *env, f *flags, typed string) (string, error) {
	if typed == "" {
		return "", usagef("name an EXECUTION (sluice status lists them)")
	}
	var matches []sluice.Execution
	err := withService(e, f, reads, func(svc service, _ bool) error {
		var err error
		matches, err = svc.Executions(e.ctx, typed, 0)
		return err
	})
	if err != nil {
		return "", err
	}
	for _, ex := range matches {
		if ex.ID == typed {
			return ex.ID, nil
		}
	}
	switch len(matches) {
	case 0:
		return "", sluice.Errorf(sluice.ENOTFOUND, "no execution %q; sluice status lists them", typed)
	case 1:
		return matches[0].ID, nil
	}
	lines := make([]string, 0, len(matches))
	for _, ex := range matches {
		lines = append(lines, fmt.Sprintf("  %s  %-10s %s %s", ex.ID, ex.Status, sluice.ShortRevision(ex.Revision), ex.Subject))
	}
	return "", sluice.Errorf(sluice.EINVALID, "execution %q is ambiguous: it begins %d executions; type more of the ID:\n%s", typed, len(matches), strings.Join(lines, "\n"))
}
