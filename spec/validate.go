package spec

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// This file holds the rules a value must follow and the checks that look at more than one key.
// Each rule's message says what would be right, not only what is wrong.

const (
	maxProjectName     = 40
	maxEnvironmentName = 20
	maxGateName        = 64
)

var (
	projectNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	gateNameRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	varNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// reservedEnvironmentNames name the stages every route has before its environments; an
// environment with one of these names would be ambiguous in plans, logs and `sluice history`.
var reservedEnvironmentNames = []string{"source", "build", "checks"}

// productionWords mark an environment name as production for the approval warning.
var productionWords = []string{"prod", "production", "prd", "live"}

func validProjectName(s string) bool {
	return len(s) <= maxProjectName && projectNameRe.MatchString(s)
}

func validEnvironmentName(s string) bool {
	return len(s) <= maxEnvironmentName && projectNameRe.MatchString(s)
}

func validGateName(s string) bool {
	return len(s) <= maxGateName && gateNameRe.MatchString(s)
}

func validVarName(s string) bool { return varNameRe.MatchString(s) }

// nameHint suggests a valid name close to s, as "; e.g. \"hello-api\"", or "" when none is obvious.
func nameHint(s string, maxLen int) string {
	var b strings.Builder
	for _, c := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '-' || c == '_' || c == ' ' || c == '.':
			b.WriteByte('-')
		}
	}
	hint := strings.Trim(b.String(), "-")
	if len(hint) > maxLen {
		hint = strings.TrimRight(hint[:maxLen], "-")
	}
	if hint == "" || hint == s || !projectNameRe.MatchString(hint) {
		return ""
	}
	return fmt.Sprintf(", e.g. %q", hint)
}

// checkBranch returns what is wrong with a branch name, or "". It catches the mistakes people
// make, not every rule of git check-ref-format.
func checkBranch(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "empty; name a branch, or remove the key to use main"
	case strings.ContainsAny(s, " \t\r\n~^:?*[\\") || strings.Contains(s, ".."):
		return fmt.Sprintf("%q is not a valid git branch name; branch names have no spaces, '..' or any of ~^:?*[\\", s)
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
		return fmt.Sprintf("%q is not a valid git branch name; it may not start with '-' or start or end with '/'", s)
	}
	return ""
}

// checkArtifactPath returns what is wrong with an artifact path, or "". Artifact paths are
// relative to the checkout and must stay inside it: the artifact must be the same wherever
// the build ran.
func checkArtifactPath(p string) string {
	switch {
	case strings.TrimSpace(p) == "":
		return "empty path; name a file or directory the build produces, e.g. dist/"
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':'):
		return fmt.Sprintf("%q is absolute; artifact paths are relative to the checkout, e.g. dist/", p)
	}
	clean := path.Clean(strings.ReplaceAll(p, `\`, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Sprintf("%q leaves the repository; artifact paths must stay inside the checkout", p)
	}
	return ""
}

// checkListen returns what is wrong with a listen address, or "".
func checkListen(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port; write e.g. 127.0.0.1:8081", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q must be a number from 1 to 65535; remove listen to let Sluice pick a free port", port)
	}
	return ""
}

// isLoopback reports whether a listen address is reachable only from this machine.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenKey is what two listen addresses share when they name the same socket. Only the spelling of
// the port and of "localhost" is normalized; different IPs are different sockets.
func listenKey(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if n, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(n)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

func isProductionName(name string) bool {
	for _, word := range strings.Split(name, "-") {
		if slices.Contains(productionWords, word) {
			return true
		}
	}
	return false
}

// names finds repeated names in one list, such as two checks both called "unit".
type names struct {
	kind  string
	first map[string]string
}

func newNames(kind string) *names { return &names{kind: kind, first: make(map[string]string)} }

func (n *names) check(r *reader, name string, f field) {
	if name == "" {
		return
	}
	if first, dup := n.first[name]; dup {
		r.errorf(f.pos(), f.path, "%s name %q is used twice (first at %s); names must be unique", n.kind, name, first)
		return
	}
	n.first[name] = f.path
}

// checkEnvironment runs the checks of one environment that look at several of its keys.
func (r *reader) checkEnvironment(path string, env *Environment, fs map[string]field) {
	if env.Target == TargetLocal {
		if f, ok := fs["listen"]; ok && env.Listen != "" && !isLoopback(env.Listen) {
			r.warnf(f.pos(), f.path, "%s can be reached from other machines; use 127.0.0.1:PORT unless that is what you want", env.Listen)
		}
	} else if f, ok := fs["listen"]; ok && !r.failed(joinPath(path, "target")) {
		r.warnf(f.keyPos, f.path, "ignored: listen is only used by target local")
	}
	// A value already reported as wrong leaves its default behind; warning about that default
	// would only add noise.
	approvalKnown := !r.failed(joinPath(path, "approval"))
	if approvalKnown && env.Name != "" && isProductionName(env.Name) && !env.Approval.Required {
		p := joinPath(path, "approval.required")
		r.warnf(r.at(p), p, "environment %q looks like production but deploys without approval; add approval: {required: true}", env.Name)
	}
	if approvalKnown && !env.Approval.Required && len(env.Approval.Approvers) > 0 {
		p := joinPath(path, "approval.approvers")
		r.warnf(r.at(p), p, "ignored: approvers only matter with required: true")
	}
	switch t := env.Deploy.Strategy.Type; {
	case len(env.Deploy.Alarms) == 0 || r.failed(joinPath(path, "deploy.strategy")):
	case t == sluice.AllAtOnce || t == sluice.BlueGreen:
		p := joinPath(path, "deploy.alarms")
		r.warnf(r.at(p), p, "with %s every user reaches the new version at once, so alarms can only roll back after the fact, not limit how many users see a bad version; use a canary or linear strategy", env.Deploy.Strategy)
	}
}

// checkRoute runs the checks that look across sections of the file.
func (r *reader) checkRoute(rt *Route) {
	local := ""
	for _, env := range rt.Environments {
		if env.Target == TargetLocal {
			local = fmt.Sprintf("environment %q", env.Name)
			if env.Name == "" {
				local = "an environment"
			}
			break
		}
	}
	if _, has := r.keyAt["service.command"]; !has && local != "" {
		r.missing("service.command", "%s has target local, which runs service.command; add service: {command: [dist/app]} with the program's path inside the artifact", local)
	}
}

// failed reports whether an error was reported at path or inside it.
func (r *reader) failed(path string) bool {
	for _, d := range r.diags {
		if d.Severity == SeverityError && (d.Path == path || strings.HasPrefix(d.Path, path+".") || strings.HasPrefix(d.Path, path+"[")) {
			return true
		}
	}
	return false
}
