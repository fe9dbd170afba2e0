package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
)

// Checkout writes commit sha of repo into dir, which must not exist or be empty: exactly the
// files of that commit, and nothing of the repository's working tree (no untracked or ignored
// files, no uncommitted edits). On failure, dir is left as it was found.
//
// The checkout is itself a git repository with HEAD detached at sha, so builds that ask git
// (git describe, go build's VCS stamping) work, and Subject can be asked of it. For a local
// repository it is a `git clone --shared`, which borrows the repository's objects instead of
// copying them: about as fast as extracting `git archive` (which would also drop files marked
// export-ignore), but the checkout then needs the source repository's objects for as long as
// it is used as a repository. For a URL it is a shallow fetch of that one commit, so sha must be
// a full sha (as Resolve returns) or a ref name.
//
// Checkout does not change repo. Submodules are not checked out. It is safe to call
// concurrently for different directories.
func Checkout(ctx context.Context, repo, sha, dir string) (err error) {
	if err := checkArgs(repo, "commit", sha); err != nil {
		return err
	}
	if dir == "" {
		return sluice.Errorf(sluice.EINVALID, "no checkout directory given")
	}
	existed, err := emptyDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			undo(dir, existed)
		}
	}()
	if IsRemote(repo) {
		return checkoutRemote(ctx, repo, sha, dir)
	}
	return checkoutLocal(ctx, repo, sha, dir)
}

func checkoutLocal(ctx context.Context, repo, sha, dir string) error {
	if err := statRepo(repo); err != nil {
		return err
	}
	// Cloning the repository's git directory rather than the path given also works when the
	// path is a subdirectory of a working tree or a linked worktree.
	out, err := run(ctx, repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		if rerr := localRepoError(repo, err); rerr != nil {
			return rerr
		}
		return fmt.Errorf("find the git directory of %s: %w", repo, err)
	}
	gitDir := strings.TrimSpace(out)
	// An empty template leaves out the sample hooks: nothing to copy, nothing to run.
	if _, err := run(ctx, "", "clone", "--quiet", "--template=", "--no-checkout", "--shared", "--", gitDir, dir); err != nil {
		return fmt.Errorf("clone %s: %w", repo, err)
	}
	return switchTo(ctx, repo, sha, dir)
}

func checkoutRemote(ctx context.Context, repo, sha, dir string) error {
	if _, err := run(ctx, "", "init", "--quiet", "--template=", "--", dir); err != nil {
		return fmt.Errorf("create checkout %s: %w", dir, err)
	}
	if _, err := run(ctx, dir, "fetch", "--quiet", "--depth=1", "--no-tags", "--", repo, sha); err != nil {
		var ce *commandError
		if errors.As(err, &ce) && ce.said("couldn't find remote ref", "not our ref", "unadvertised object") {
			return sluice.Errorf(sluice.ENOTFOUND, "commit %q not found in %s; check the revision", sha, repo)
		}
		if ctx.Err() != nil {
			return err
		}
		return remoteError(repo, err)
	}
	return switchTo(ctx, repo, "FETCH_HEAD", dir)
}

// switchTo fills the working tree of the fresh repository dir with commit rev.
func switchTo(ctx context.Context, repo, rev, dir string) error {
	_, err := run(ctx, dir, "switch", "--quiet", "--detach", "--no-guess", rev)
	var ce *commandError
	if errors.As(err, &ce) && ce.said("invalid reference", "not a commit", "reference is not a tree") {
		return sluice.Errorf(sluice.ENOTFOUND, "commit %q not found in %s; check the revision", rev, repo)
	}
	if err != nil {
		return fmt.Errorf("check out %s: %w", rev, err)
	}
	return nil
}

// emptyDir checks that dir does not exist or is an empty directory, and reports whether it
// existed.
func emptyDir(dir string) (existed bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, sluice.Errorf(sluice.EINVALID, "checkout directory %s cannot be used: %w; give an empty or new directory", dir, err)
	case len(entries) > 0:
		return true, sluice.Errorf(sluice.EINVALID, "checkout directory %s is not empty; remove it or give a new directory", dir)
	}
	return true, nil
}

// undo removes what a failed checkout wrote into dir.
func undo(dir string, existed bool) {
	if !existed {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
