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

// SecretDeclaration is a secret as the route declares it, and where, so that what is compiled
// from a route (the plan) can warn about it with the file's position.
type SecretDeclaration struct {
	Name     string `json:"name"`
	Required bool   `json:"required,omitempty"`
	// File, Line, Col and Path say where it is declared.
	File string `json:"-"`
	Line int    `json:"-"`
	Col  int    `json:"-"`
	Path string `json:"-"`
}

// SecretDeclarations returns the route's secrets in declaration order.
func (rt *Route) SecretDeclarations() []SecretDeclaration {
	out := make([]SecretDeclaration, 0, len(rt.secretSites))
	for _, s := range rt.secretSites {
		out = append(out, SecretDeclaration{Name: s.name, Required: s.required, File: rt.file, Line: s.at.line, Col: s.at.col, Path: s.path})
	}
	return out
}

// RequiredSecrets returns the secrets marked required: true, in declaration order. An execution
// does not start while one of them is unset.
func (rt *Route) RequiredSecrets() []string {
	var names []string
	for _, s := range rt.secretSites {
		if s.required {
			names = append(names, s.name)
		}
	}
	return names
}

// UnsetSecrets is the package's UnsetSecrets over the route's secrets.
func (rt *Route) UnsetSecrets(lookup func(string) (string, bool)) Diagnostics {
	return UnsetSecrets(rt.SecretDeclarations(), lookup)
}

// UnsetSecrets reports each declared secret that lookup does not find set, or finds empty, at
// the place it is declared. An unset secret reaches actions and the service as an empty
// variable, so each one is a warning; a required one also says that executions will not start
// (the engine refuses them, see MissingRequiredSecrets). lookup is usually os.LookupEnv.
func UnsetSecrets(secrets []SecretDeclaration, lookup func(string) (string, bool)) Diagnostics {
	var diags Diagnostics
	for _, s := range secrets {
		if v, ok := lookup(s.Name); ok && v != "" {
			continue
		}
		msg := fmt.Sprintf("secret %s is not set in Sluice's environment, so actions and the service get it empty; set it before sluice run or sluice up", s.Name)
		if s.Required {
			msg = fmt.Sprintf("secret %s is required but not set in Sluice's environment, so executions will not start; set it before sluice run or sluice up", s.Name)
		}
		diags = append(diags, Diagnostic{File: s.File, Line: s.Line, Col: s.Col, Severity: SeverityWarning, Path: s.Path, Message: msg})
	}
	return diags
}

// MissingRequiredSecrets returns the required secrets that lookup does not find set to a
// non-empty value, in declaration order.
func MissingRequiredSecrets(secrets []SecretDeclaration, lookup func(string) (string, bool)) []string {
	var missing []string
	for _, s := range secrets {
		if v, ok := lookup(s.Name); s.Required && (!ok || v == "") {
			missing = append(missing, s.Name)
		}
	}
	return slices.Clip(missing)
}

// MissingRequiredSecrets is the package's MissingRequiredSecrets over the route's secrets.
func (rt *Route) MissingRequiredSecrets(lookup func(string) (string, bool)) []string {
	return MissingRequiredSecrets(rt.SecretDeclarations(), lookup)
}
