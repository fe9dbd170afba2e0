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
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(abs)
	inside, err := run(ctx, dir, "rev-parse", "--is-inside-work-tree")
	if err != nil || strings.TrimSpace(inside) != "true" {
		return false, nil // not a work tree: there is no commit to differ from
	}
	out, err := run(ctx, dir, "status", "--porcelain", "--untracked-files=all", "--", filepath.Base(abs))
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "", nil
}

// Tracked reports whether the file at path is in the commit its work tree has checked out
// (HEAD): whether a run of that commit reads the route from the commit rather than from the
// file. A file outside any git work tree is not. It reads only; it is safe to call concurrently.
func Tracked(ctx context.Context, path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(abs)
	if inside, err := run(ctx, dir, "rev-parse", "--is-inside-work-tree"); err != nil || strings.TrimSpace(inside) != "true" {
		return false, nil
	}
	_, err = run(ctx, dir, "cat-file", "-e", "HEAD:./"+filepath.Base(abs))
	return err == nil, nil
}
