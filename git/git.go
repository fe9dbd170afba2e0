// Package git resolves revisions and makes clean checkouts by running the git binary.
//
// A repository is a local path (a working tree, a subdirectory of one, or a bare repository)
// or a URL (scheme://... or the scp-like user@host:path). Local repositories support every
// revision git understands (short shas, HEAD~1, tags); for URLs, Resolve reads refs with
// ls-remote, so it understands HEAD, branches, tags, full ref names and full shas.
//
//	Resolve   a revision to a full commit sha
//	Head      a branch's current commit, for polling
//	Subject   a commit's subject line, for displays
//	Checkout  one commit into an empty directory, with nothing else of the working tree
//
// Git runs with the caller's environment minus variables that would point it at another
// repository, with GIT_TERMINAL_PROMPT=0 so a missing credential fails instead of waiting for
// a person, with LC_ALL=C so its messages can be recognised, and with hooks, autocrlf and
// fsmonitor turned off so the user's configuration cannot change what a checkout contains.
// Global and system configuration otherwise apply: credentials, proxies and url.insteadOf
// are what make the user's remotes reachable.
//
// Errors are *sluice.Error with a sentence saying what to fix; problems reaching a remote are
// not terminal, since a retry may succeed.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// waitDelay bounds how long a finished or killed git may keep its output open through a helper
// such as ssh.
const waitDelay = 2 * time.Second

// baseArgs keep the user's configuration from changing what a checkout contains or running
// code of the user's on our behalf.
var baseArgs = []string{
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.autocrlf=false",
	"-c", "core.fsmonitor=false",
	"-c", "advice.detachedHead=false",
}

// repositoryVars are the variables that point git at a particular repository, as
// `git rev-parse --local-env-vars` lists them. Inherited from a hook or a shell inside a
// repository, they would make every command here act on the wrong one.
var repositoryVars = map[string]bool{
	"GIT_ALTERNATE_OBJECT_DIRECTORIES": true,
	"GIT_CONFIG":                       true,
	"GIT_CONFIG_PARAMETERS":            true,
	"GIT_CONFIG_COUNT":                 true,
	"GIT_OBJECT_DIRECTORY":             true,
	"GIT_DIR":                          true,
	"GIT_WORK_TREE":                    true,
	"GIT_IMPLICIT_WORK_TREE":           true,
	"GIT_GRAFT_FILE":                   true,
	"GIT_INDEX_FILE":                   true,
	"GIT_NO_REPLACE_OBJECTS":           true,
	"GIT_REPLACE_REF_BASE":             true,
	"GIT_PREFIX":                       true,
	"GIT_INTERNAL_SUPER_PREFIX":        true,
	"GIT_SHALLOW_FILE":                 true,
	"GIT_COMMON_DIR":                   true,
}

// env is the environment git runs with.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if repositoryVars[k] || strings.HasPrefix(k, "GIT_CONFIG_KEY_") || strings.HasPrefix(k, "GIT_CONFIG_VALUE_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "LC_ALL=C", "LANGUAGE=")
}

// commandError is a git command that failed, with what it said.
type commandError struct {
	args   []string
	stderr string
	err    error
}

func (e *commandError) Error() string {
	if e.stderr != "" {
		return fmt.Sprintf("git %s: %s", e.args[0], e.stderr)
	}
	return fmt.Sprintf("git %s: %v", e.args[0], e.err)
}

func (e *commandError) Unwrap() error { return e.err }

// exitCode is git's exit status, or -1 if it did not exit on its own.
func (e *commandError) exitCode() int {
	var ee *exec.ExitError
	if errors.As(e.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// said reports whether git's message contains any of texts.
func (e *commandError) said(texts ...string) bool {
	for _, t := range texts {
		if strings.Contains(e.stderr, t) {
			return true
		}
	}
	return false
}

// run runs git with args in dir (the current directory if empty) and returns its standard
// output. A failure is a *commandError, or wraps the context's cause if ctx ended it.
func run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append(slices.Clone(baseArgs), args...)...)
	cmd.Dir = dir
	cmd.Env = env()
	cmd.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	switch {
	case err == nil:
		return stdout.String(), nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("git %s: %w", args[0], context.Cause(ctx))
	case errors.Is(err, exec.ErrNotFound):
		return "", &sluice.Error{Code: sluice.EINTERNAL, Message: "git is not installed or not on PATH; install git", Err: err}
	}
	return "", &commandError{args: args, stderr: tidy(stderr.String()), err: err}
}

// tidy makes git's message fit in one error line: its lines joined, hints dropped, the whole
// bounded.
func tidy(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "hint:") {
			continue
		}
		lines = append(lines, l)
	}
	out := strings.Join(lines, "; ")
	const max = 1000
	if len(out) > max {
		out = out[:max] + "..."
	}
	return out
}

// IsRemote reports whether repo is a URL rather than a local path (see sluice.RemoteRepo).
func IsRemote(repo string) bool { return sluice.RemoteRepo(repo) }

// isFullSHA reports whether s is a whole object name: 40 hex digits (SHA-1) or 64 (SHA-256).
func isFullSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkArgs rejects input that git would read as an option, or that names nothing.
func checkArgs(repo, what, rev string) error {
	switch {
	case repo == "":
		return sluice.Errorf(sluice.EINVALID, "no repository given; set source.repo to a path or URL")
	case strings.HasPrefix(repo, "-"):
		return sluice.Errorf(sluice.EINVALID, "repository %q starts with '-'; write a path as ./%s", repo, repo)
	case rev == "":
		return sluice.Errorf(sluice.EINVALID, "no %s given; name a branch, tag or commit", what)
	case strings.HasPrefix(rev, "-") || strings.ContainsAny(rev, "\x00\n"):
		return sluice.Errorf(sluice.EINVALID, "%s %q is not a valid name; name a branch, tag or commit", what, rev)
	}
	return nil
}

// statRepo checks that a local repository path exists and is a directory.
func statRepo(repo string) error {
	fi, err := os.Stat(repo)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return sluice.Errorf(sluice.ENOTFOUND, "repository %s does not exist; fix source.repo", repo)
	case err != nil:
		return sluice.Errorf(sluice.EINVALID, "repository %s cannot be read: %w; fix its permissions or source.repo", repo, err)
	case !fi.IsDir():
		return sluice.Errorf(sluice.EINVALID, "%s is not a git repository; run git init or fix source.repo", repo)
	}
	return nil
}

// localRepoError turns a failure to open a local repository into a sentence, or returns nil
// if err is about something else.
func localRepoError(repo string, err error) error {
	var ce *commandError
	if !errors.As(err, &ce) {
		return nil
	}
	switch {
	case ce.said("not a git repository"):
		return sluice.Errorf(sluice.EINVALID, "%s is not a git repository; run git init or fix source.repo", repo)
	case ce.said("dubious ownership"):
		return sluice.Errorf(sluice.EINVALID, "git refuses %s because another user owns it; run git config --global --add safe.directory %s", repo, repo)
	}
	return nil
}

// remoteError turns a failure to read a remote repository into a sentence.
func remoteError(repo string, err error) error {
	var ce *commandError
	if !errors.As(err, &ce) {
		return err
	}
	if ce.said("does not appear to be a git repository", "Repository not found", "' not found") {
		return sluice.Errorf(sluice.EINVALID, "%s is not a git repository or cannot be read (%s); fix source.repo or the credentials for it", repo, ce.stderr)
	}
	// The network, the server or a credential may come back: worth retrying.
	return &sluice.Error{
		Code:    sluice.EINTERNAL,
		Message: fmt.Sprintf("cannot read %s (%s); check the URL, the network and the credentials", repo, ce.stderr),
		Err:     err,
	}
}
