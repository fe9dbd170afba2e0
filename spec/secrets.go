package spec

import (
	"fmt"
	"slices"
)

// secretSite is where a secret is declared.
type secretSite struct {
	name     string
	required bool
	path     string
	at       position
}

// UnsetSecrets reports each declared secret that lookup does not find set, or finds empty, at
// the place it is declared. An unset secret reaches actions and the service as an empty
// variable, so each one is a warning; a required one also says that executions will not start
// (the engine refuses them, see MissingRequiredSecrets). lookup is usually os.LookupEnv.
func (rt *Route) UnsetSecrets(lookup func(string) (string, bool)) Diagnostics {
	var diags Diagnostics
	for _, s := range rt.secretSites {
		if v, ok := lookup(s.name); ok && v != "" {
			continue
		}
		msg := fmt.Sprintf("secret %s is not set in Sluice's environment, so actions and the service get it empty; set it before sluice run or sluice up", s.name)
		if s.required {
			msg = fmt.Sprintf("secret %s is required but not set in Sluice's environment, so executions will not start; set it before sluice run or sluice up", s.name)
		}
		diags = append(diags, Diagnostic{File: rt.file, Line: s.at.line, Col: s.at.col, Severity: SeverityWarning, Path: s.path, Message: msg})
	}
	return diags
}

// MissingRequiredSecrets returns the required secrets that lookup does not find set to a
// non-empty value, in declaration order.
func (rt *Route) MissingRequiredSecrets(lookup func(string) (string, bool)) []string {
	var missing []string
	for _, name := range rt.RequiredSecrets {
		if v, ok := lookup(name); !ok || v == "" {
			missing = append(missing, name)
		}
	}
	return slices.Clip(missing)
}
