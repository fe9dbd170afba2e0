package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sluicehq/sluice"
)

// SavePipeline creates p, or overwrites its state, removal time and reason, and expiry.
func (db *DB) SavePipeline(ctx context.Context, p *sluice.Pipeline, events ...sluice.Event) error {
	switch {
	case p.ID == "" || p.Route == "":
		return sluice.Errorf(sluice.EINVALID, "a pipeline needs an ID and its route's name")
	case !p.Kind.Valid():
		return sluice.Errorf(sluice.EINVALID, "pipeline %s: unknown kind %q; use main, branch or pull_request", p.ID, p.Kind)
	case p.State != sluice.PipelineActive && p.State != sluice.PipelineRemoved:
		return sluice.Errorf(sluice.EINVALID, "pipeline %s: unknown state %q; use active or removed", p.ID, p.State)
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO pipelines (id, route, kind, branch, pull_request, state, created_at, removed_at, removed_because, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE
			SET state = excluded.state, removed_at = excluded.removed_at, removed_because = excluded.removed_because,
				expires_at = excluded.expires_at`,
			p.ID, p.Route, p.Kind, p.Branch, p.PullRequest, p.State, timeArg(p.CreatedAt), timeArg(p.RemovedAt), p.RemovedBecause, timeArg(p.ExpiresAt))
		return err
	}, nil)
	if err != nil {
		return wrap(err, "save pipeline %s", p.ID)
	}
	return nil
}

// Pipeline returns one pipeline by ID.
func (db *DB) Pipeline(ctx context.Context, id string) (*sluice.Pipeline, error) {
	p, err := scanPipeline(db.read.QueryRowContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, sluice.Errorf(sluice.ENOTFOUND, "pipeline %q not found; list pipelines with sluice pipelines", id)
	case err != nil:
		return nil, wrap(err, "read pipeline %s", id)
	}
	return p, nil
}

// ListPipelines returns every pipeline: main pipelines first, then by ID.
func (db *DB) ListPipelines(ctx context.Context) ([]sluice.Pipeline, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines ORDER BY kind != ?, id`, sluice.KindMain)
	if err != nil {
		return nil, wrap(err, "list pipelines")
	}
	defer rows.Close()
	var out []sluice.Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, wrap(err, "list pipelines")
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list pipelines")
	}
	return out, nil
}

const pipelineColumns = `id, route, kind, branch, pull_request, state, created_at, removed_at, removed_because, expires_at`

func scanPipeline(row interface{ Scan(...any) error }) (*sluice.Pipeline, error) {
	var (
		p                         sluice.Pipeline
		created, removed, expires sql.NullString
	)
	if err := row.Scan(&p.ID, &p.Route, &p.Kind, &p.Branch, &p.PullRequest, &p.State, &created, &removed, &p.RemovedBecause, &expires); err != nil {
		return nil, err
	}
	var errs [3]error
	p.CreatedAt, errs[0] = parseTime(created)
	p.RemovedAt, errs[1] = parseTime(removed)
	p.ExpiresAt, errs[2] = parseTime(expires)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, wrap(err, "pipeline %s", p.ID)
	}
	return &p, nil
}
