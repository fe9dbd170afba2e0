package git

import (
	"context"
	"path/filepath"
	"strings"
)

// Uncommitted reports whether the file at path has changes its commit does not hold: edited,
// staged, or never added. A file outside any git work tree has none. It reads only; it is safe
// to call concurrently.
func Uncommitted(ctx context.Context, path string) (bool, error) {
	dir, name, inside, err := inWorkTree(ctx, path)
	if err != nil || !inside {
		return false, err // not a work tree: there is no commit to differ from
	}
	out, err := run(ctx, dir, "status", "--porcelain", "--untracked-files=all", "--", name)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "", nil
}

// Tracked reports whether the file at path is in the commit its work tree has checked out
// (HEAD): whether a run of that commit reads the route from the commit rather than from the
// file. A file outside any git work tree is not. It reads only; it is safe to call concurrently.
func Tracked(ctx context.Context, path string) (bool, error) {
	dir, name, inside, err := inWorkTree(ctx, path)
	if err != nil || !inside {
		return false, err
	}
	_, err = run(ctx, dir, "cat-file", "-e", "HEAD:./"+name)
	return err == nil, nil
}

// inWorkTree splits path into its folder and file name and reports whether the folder is in a
// git work tree; err is set only when path cannot be made absolute.
func inWorkTree(ctx context.Context, path string) (dir, name string, inside bool, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", false, err
	}
	dir = filepath.Dir(abs)
	out, err := run(ctx, dir, "rev-parse", "--is-inside-work-tree")
	return dir, filepath.Base(abs), err == nil && strings.TrimSpace(out) == "true", nil
}
