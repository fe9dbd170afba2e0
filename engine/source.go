package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
)

// Source is where the code and the route of an execution come from: a version control system
// (git/ implements it with the git binary; a hosted forge could too). A repository is what
// RepoPath makes of source.repo: a local path or a URL. Every method is read-only on the
// repository and safe to call concurrently; errors are *sluice.Error with a sentence to act on.
type Source interface {
	// Resolve returns the full commit that rev (a branch, tag, full ref name or commit) names
	// in repo. A missing revision is ENOTFOUND.
	Resolve(ctx context.Context, repo, rev string) (string, error)
	// Subject returns the first line of commit sha's message, for displays.
	Subject(ctx context.Context, repo, sha string) (string, error)
	// Checkout writes commit sha, and nothing else of any working tree, into dir, which must be
	// missing or empty. After a failure dir is as it was.
	Checkout(ctx context.Context, repo, sha, dir string) error
	// ReadFile returns file, a local path, as commit sha of repo holds it. ENOTFOUND says the
	// commit does not hold it (the file is outside the repository, or was never committed).
	ReadFile(ctx context.Context, repo, sha, file string) ([]byte, error)
	// Head returns the commit that branch points at in repo; ENOTFOUND when there is no such
	// branch.
	Head(ctx context.Context, repo, branch string) (string, error)
	// Branches returns repo's branches by name, with the commit each points at.
	Branches(ctx context.Context, repo string) (map[string]string, error)
}

// RepoPath is the source repository source.repo names: relative to the route file's folder,
// unless it is absolute or a URL (scp-like user@host:path included, as git reads it).
func RepoPath(routeFile, repo string) string {
	if sluice.RemoteRepo(repo) || filepath.IsAbs(repo) {
		return repo
	}
	return filepath.Join(filepath.Dir(routeFile), repo)
}

// routeAt reads the route of an execution of sha: the route file as that commit holds it, so an
// execution runs the route that was reviewed and committed with its code, and runs the same
// every time. A route file the commit does not hold (never committed, or outside the source
// repository) runs as it is here, and the log says so. here is the route file as it is now,
// whose source.repo names the repository.
func (e *Engine) routeAt(ctx context.Context, here *spec.Route, sha string) (*spec.Route, []byte, error) {
	repo := RepoPath(e.cfg.RouteFile, here.Source.Repo)
	text, err := e.cfg.Source.ReadFile(ctx, repo, sha, e.cfg.RouteFile)
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		e.log.Warn("the route file is not in the commit; running it as it is here", "file", e.cfg.RouteFile, "revision", sluice.ShortRevision(sha), "why", err)
		text, err = os.ReadFile(e.cfg.RouteFile)
		if err != nil {
			return nil, nil, sluice.Errorf(sluice.EINVALID, "read route: %w; pass -f FILE to name your sluice.yaml", err)
		}
	case err != nil:
		return nil, nil, fmt.Errorf("read %s at %s: %w", e.cfg.RouteFile, sluice.ShortRevision(sha), err)
	}
	route, err := parseRoute(fmt.Sprintf("%s@%s", e.cfg.RouteFile, sluice.ShortRevision(sha)), text)
	if err != nil {
		return nil, nil, err
	}
	return route, text, nil
}

// Head returns the commit at the head of the main pipeline's branch (source.branch of the route
// file as it is now), for triggers that poll.
func (e *Engine) Head(ctx context.Context) (string, error) {
	route, _, err := e.loadRoute()
	if err != nil {
		return "", err
	}
	return e.cfg.Source.Head(ctx, RepoPath(e.cfg.RouteFile, route.Source.Repo), route.Source.Branch)
}
