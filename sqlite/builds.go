package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sluicehq/sluice"
)

// SaveBuild records a build of b.Pipeline. Idempotent: saving the same pipeline and revision
// again replaces it.
func (db *DB) SaveBuild(ctx context.Context, b *sluice.Build, events ...sluice.Event) error {
	if b.Revision == "" || b.Pipeline == "" {
		return sluice.Errorf(sluice.EINVALID, "a build needs its pipeline and the revision it was built from")
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO builds (pipeline, revision, digest, size, created_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (pipeline, revision) DO UPDATE
			SET digest = excluded.digest, size = excluded.size, created_at = excluded.created_at`,
			b.Pipeline, b.Revision, b.Digest, b.Size, timeArg(b.CreatedAt))
		return err
	}, nil)
	if err != nil {
		return wrap(err, "save build of %s", b.Revision)
	}
	return nil
}

// Build returns the build of a revision in a pipeline; ENOTFOUND if it was never built there.
func (db *DB) Build(ctx context.Context, pipeline, revision string) (*sluice.Build, error) {
	var (
		b       sluice.Build
		created sql.NullString
	)
	err := db.read.QueryRowContext(ctx, `SELECT pipeline, revision, digest, size, created_at FROM builds WHERE pipeline = ? AND revision = ?`, pipeline, revision).
		Scan(&b.Pipeline, &b.Revision, &b.Digest, &b.Size, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, sluice.Errorf(sluice.ENOTFOUND, "no build of revision %q in pipeline %s; run the pipeline for it to build it", revision, pipeline)
	case err != nil:
		return nil, wrap(err, "read build of %s", revision)
	}
	if b.CreatedAt, err = parseTime(created); err != nil {
		return nil, wrap(err, "read build of %s", revision)
	}
	return &b, nil
}
