package git

import "context"

// Source is the engine's view of git: the package's functions behind one value, so the engine
// reads revisions, files and branches through an interface (engine.Source) that a hosted
// source could implement too. The zero value is ready to use; it is safe for concurrent use.
type Source struct{}

// Resolve is the package's Resolve.
func (Source) Resolve(ctx context.Context, repo, rev string) (string, error) {
	return Resolve(ctx, repo, rev)
}

// Subject is the package's Subject.
func (Source) Subject(ctx context.Context, repo, sha string) (string, error) {
	return Subject(ctx, repo, sha)
}

// Checkout is the package's Checkout.
func (Source) Checkout(ctx context.Context, repo, sha, dir string) error {
	return Checkout(ctx, repo, sha, dir)
}

// ReadFile is the package's ReadFile.
func (Source) ReadFile(ctx context.Context, repo, sha, file string) ([]byte, error) {
	return ReadFile(ctx, repo, sha, file)
}

// Head is the package's Head.
func (Source) Head(ctx context.Context, repo, branch string) (string, error) {
	return Head(ctx, repo, branch)
}

// Branches is the package's Branches.
func (Source) Branches(ctx context.Context, repo string) (map[string]string, error) {
	return Branches(ctx, repo)
}
