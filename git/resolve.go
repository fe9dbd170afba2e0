package git

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice"
)

// Resolve returns the full commit sha that rev names in repo. For a local repository rev is
// anything git understands (a branch, a tag, a short or full sha, HEAD, main~2); for a URL it is
// HEAD, a branch, a tag, a full ref name or a full sha, and a full sha is returned as given
// (lowercased) because a remote cannot be asked about a commit without fetching it: Checkout
// reports it if it does not exist. Resolve is read-only and safe to call concurrently.
func Resolve(ctx context.Context, repo, rev string) (string, error) {
	return resolve(ctx, repo, rev, "revision")
}

// Head returns the commit that branch points at in repo, for polling for new commits. The
// branch is a name under refs/heads (main, release/1.2) or a full ref name.
func Head(ctx context.Context, repo, branch string) (string, error) {
	if err := checkArgs(repo, "branch", branch); err != nil {
		return "", err
	}
	ref := branch
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + branch
	}
	return resolve(ctx, repo, ref, "branch")
}

// notFound says that rev is not in repo; hint tells what to check for other revisions. A
// branch is what source.branch names, so it says to check that.
func notFound(what, rev, repo, hint string) error {
	if what == "branch" {
		return sluice.Errorf(sluice.ENOTFOUND, "branch %q not found in %s; check source.branch", strings.TrimPrefix(rev, "refs/heads/"), repo)
	}
	return sluice.Errorf(sluice.ENOTFOUND, "%s %q not found in %s; %s", what, rev, repo, hint)
}

// Subject returns the first line of the message of commit sha in repo, for displays. repo must be
// a local repository; for a URL, ask a checkout made by Checkout, which is one.
func Subject(ctx context.Context, repo, sha string) (string, error) {
	if err := checkArgs(repo, "commit", sha); err != nil {
		return "", err
	}
	if IsRemote(repo) {
		return "", sluice.Errorf(sluice.EINVALID, "cannot read commit subjects from %s without fetching; ask a checkout of it instead", repo)
	}
	if err := statRepo(repo); err != nil {
		return "", err
	}
	out, err := run(ctx, repo, "log", "-1", "--no-show-signature", "--format=%s", "--end-of-options", sha+"^{commit}", "--")
	if err != nil {
		if rerr := localRepoError(repo, err); rerr != nil {
			return "", rerr
		}
		var ce *commandError
		if errors.As(err, &ce) && ce.exitCode() == 128 {
			return "", sluice.Errorf(sluice.ENOTFOUND, "commit %q not found in %s; check the commit name", sha, repo)
		}
		return "", fmt.Errorf("read the subject of %s: %w", sha, err)
	}
	return strings.TrimRight(out, "\n"), nil
}

// resolve is Resolve with what naming rev in messages.
func resolve(ctx context.Context, repo, rev, what string) (string, error) {
	if err := checkArgs(repo, what, rev); err != nil {
		return "", err
	}
	if IsRemote(repo) {
		return resolveRemote(ctx, repo, rev, what)
	}
	return resolveLocal(ctx, repo, rev, what)
}

func resolveLocal(ctx context.Context, repo, rev, what string) (string, error) {
	if err := statRepo(repo); err != nil {
		return "", err
	}
	out, err := run(ctx, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err == nil {
		sha := strings.TrimSpace(out)
		if !isFullSHA(sha) {
			return "", fmt.Errorf("resolve %s %q: git printed %q, not a commit sha", what, rev, sha)
		}
		return sha, nil
	}
	if rerr := localRepoError(repo, err); rerr != nil {
		return "", rerr
	}
	var ce *commandError
	if !errors.As(err, &ce) || ce.exitCode() != 1 {
		return "", fmt.Errorf("resolve %s %q in %s: %w", what, rev, repo, err)
	}
	// --quiet turns every unknown name into a silent exit 1; only now is it worth a second
	// command to tell an empty repository from a wrong name.
	if any, err := run(ctx, repo, "rev-list", "-n", "1", "--all"); err == nil && strings.TrimSpace(any) == "" {
		return "", sluice.Errorf(sluice.ENOTFOUND, "repository %s has no commits yet; commit something first", repo)
	}
	return "", notFound(what, rev, repo, "check the branch, tag or commit name")
}

func resolveRemote(ctx context.Context, repo, rev, what string) (string, error) {
	if isFullSHA(rev) {
		return strings.ToLower(rev), nil
	}
	// A pattern matches the peeled line of an annotated tag only if it says ^{} itself.
	out, err := run(ctx, "", "ls-remote", "--", repo, rev, rev+"^{}")
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", remoteError(repo, err)
	}
	refs := parseRefs(out)
	// ls-remote matches patterns against the ends of ref names; prefer what git itself would
	// pick for a name: the ref itself, then a branch, then a tag (peeled to its commit).
	candidates := []string{rev + "^{}", rev}
	if !strings.HasPrefix(rev, "refs/") && rev != "HEAD" {
		candidates = []string{"refs/heads/" + rev, "refs/tags/" + rev + "^{}", "refs/tags/" + rev}
	}
	for _, c := range candidates {
		if sha, ok := refs[c]; ok {
			return sha, nil
		}
	}
	if all, err := run(ctx, "", "ls-remote", "--", repo); err == nil && strings.TrimSpace(all) == "" {
		return "", sluice.Errorf(sluice.ENOTFOUND, "repository %s has no commits yet; push something first", repo)
	}
	return "", notFound(what, rev, repo, "check the branch or tag name, or give a full commit sha")
}

// parseRefs reads ls-remote output: "sha<TAB>ref" lines.
func parseRefs(out string) map[string]string {
	refs := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		sha, ref, ok := strings.Cut(sc.Text(), "\t")
		if ok && isFullSHA(sha) {
			refs[ref] = sha
		}
	}
	return refs
}
