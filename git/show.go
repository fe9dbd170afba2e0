package git

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
)

// ReadFile returns file (a local path) as commit sha of repo holds it, which is how a route is
// read at the revision it runs rather than as the working tree has it. The file must lie in the
// work tree repo belongs to. ENOTFOUND says the commit does not hold it: the file is outside the
// repository, was never committed, or repo is a URL (a remote cannot be read without fetching),
// and the caller may fall back to the file as it is. ReadFile is read-only and safe to call
// concurrently.
func ReadFile(ctx context.Context, repo, sha, file string) ([]byte, error) {
	if err := checkArgs(repo, "commit", sha); err != nil {
		return nil, err
	}
	if IsRemote(repo) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "%s is not in %s, a remote repository; commit it there and set source.repo to a local clone to read it at the revision", file, repo)
	}
	if err := statRepo(repo); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", file, sha, err)
	}
	dir := filepath.Dir(abs)
	fileTop, err := run(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "%s is not in a git work tree, so no commit holds it", file)
	}
	// The file must be in the repository being run: a route beside a bare repository, or in
	// another work tree, is not what the commit holds.
	repoDir, err := run(ctx, repo, "rev-parse", "--absolute-git-dir")
	if err != nil {
		if rerr := localRepoError(repo, err); rerr != nil {
			return nil, rerr
		}
		return nil, fmt.Errorf("read %s at %s: %w", file, sha, err)
	}
	fileDir, err := run(ctx, dir, "rev-parse", "--absolute-git-dir")
	if err != nil || strings.TrimSpace(fileDir) != strings.TrimSpace(repoDir) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "%s is in %s, not in the repository %s", file, strings.TrimSpace(fileTop), repo)
	}
	prefix, err := run(ctx, dir, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", file, sha, err)
	}
	path := strings.TrimRight(prefix, "\n") + filepath.Base(abs)
	out, err := run(ctx, repo, "cat-file", "blob", sha+":"+path)
	if err != nil {
		var ce *commandError
		if errors.As(err, &ce) && ce.exitCode() == 128 {
			return nil, sluice.Errorf(sluice.ENOTFOUND, "commit %s does not hold %s; commit it to run it from the revision", sluice.ShortRevision(sha), path)
		}
		return nil, fmt.Errorf("read %s at %s: %w", path, sha, err)
	}
	return []byte(out), nil
}

// Branches returns the branches of repo (a local path or a URL) by name, with the commit each
// points at. It is read-only and safe to call concurrently.
func Branches(ctx context.Context, repo string) (map[string]string, error) {
	if err := checkArgs(repo, "branch", "*"); err != nil {
		return nil, err
	}
	var refs map[string]string
	if IsRemote(repo) {
		out, err := run(ctx, "", "ls-remote", "--heads", "--", repo)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, remoteError(repo, err)
		}
		refs = parseRefs(out)
	} else {
		if err := statRepo(repo); err != nil {
			return nil, err
		}
		out, err := run(ctx, repo, "for-each-ref", "--format=%(objectname)\t%(refname)", "refs/heads/")
		if err != nil {
			if rerr := localRepoError(repo, err); rerr != nil {
				return nil, rerr
			}
			return nil, fmt.Errorf("list branches of %s: %w", repo, err)
		}
		refs = parseRefs(out)
	}
	out := map[string]string{}
	for ref, sha := range refs {
		if name, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
			out[name] = sha
		}
	}
	return out, nil
}
