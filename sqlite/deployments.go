package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sluicehq/sluice"
)

// CreateDeployment stores a deployment and sets d.ID.
func (db *DB) CreateDeployment(ctx context.Context, d *sluice.Deployment, events ...sluice.Event) error {
	rollback, err := jsonArg(d.Rollback)
	if err != nil {
		return wrap(err, "create deployment")
	}
	var id int64
	err = db.update(ctx, events, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO deployments (environment, execution_id, change_set_digest, from_artifact, to_artifact,
				revision, strategy, status, reason, started_at, ended_at, rollback)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Environment, d.ExecutionID, d.ChangeSetDigest, d.From, d.To,
			d.Revision, d.Strategy, d.Status, d.Reason, timeArg(d.StartedAt), timeArg(d.EndedAt), rollback)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	}, func() { d.ID = id })
	if err != nil {
		return wrap(err, "create deployment to %s", d.Environment)
	}
	return nil
}

// SaveDeployment overwrites a deployment's status, reason, end time and rollback.
func (db *DB) SaveDeployment(ctx context.Context, d *sluice.Deployment, events ...sluice.Event) error {
	rollback, err := jsonArg(d.Rollback)
	if err != nil {
		return wrap(err, "save deployment %d", d.ID)
	}
	err = db.update(ctx, events, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE deployments
			SET status = ?, reason = ?, ended_at = ?, rollback = ?
			WHERE id = ?`,
			d.Status, d.Reason, timeArg(d.EndedAt), rollback, d.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, func() error {
			return sluice.Errorf(sluice.ENOTFOUND, "deployment %d not found; list an environment's deployments with sluice history ENV", d.ID)
		})
	}, nil)
	if err != nil {
		return wrap(err, "save deployment %d", d.ID)
	}
	return nil
}

// ListDeployments returns an environment's deployments, newest first; limit <= 0 means all.
func (db *DB) ListDeployments(ctx context.Context, env string, limit int) ([]sluice.Deployment, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT id, environment, execution_id, change_set_digest, from_artifact, to_artifact,
			revision, strategy, status, reason, started_at, ended_at, rollback
		FROM deployments
		WHERE environment = ?
		ORDER BY id DESC
		LIMIT ?`, env, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "list deployments of %s", env)
	}
	defer rows.Close()
	var out []sluice.Deployment
	for rows.Next() {
		var (
			d                        sluice.Deployment
			started, ended, rollback sql.NullString
		)
		if err := rows.Scan(&d.ID, &d.Environment, &d.ExecutionID, &d.ChangeSetDigest, &d.From, &d.To,
			&d.Revision, &d.Strategy, &d.Status, &d.Reason, &started, &ended, &rollback); err != nil {
			return nil, wrap(err, "list deployments of %s", env)
		}
		var errs [3]error
		d.StartedAt, errs[0] = parseTime(started)
		d.EndedAt, errs[1] = parseTime(ended)
		errs[2] = parseJSON(rollback, &d.Rollback)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, wrap(err, "list deployments of %s: deployment %d", env, d.ID)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list deployments of %s", env)
	}
	return out, nil
}

// SaveEnvironment creates or overwrites an environment's state.
func (db *DB) SaveEnvironment(ctx context.Context, s *sluice.EnvironmentState, events ...sluice.Event) error {
	if s.Name == "" {
		return sluice.Errorf(sluice.EINVALID, "an environment's state needs the environment's name")
	}
	var versions [3]any
	for i, v := range []*sluice.Version{s.Live, s.Previous, s.Deploying} {
		var err error
		if versions[i], err = jsonArg(v); err != nil {
			return wrap(err, "save environment %s", s.Name)
		}
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO environments (name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE
			SET address = excluded.address, live = excluded.live, previous = excluded.previous,
				deploying = excluded.deploying, deployment_id = excluded.deployment_id, frozen = excluded.frozen,
				frozen_reason = excluded.frozen_reason, updated_at = excluded.updated_at`,
			s.Name, s.Address, versions[0], versions[1], versions[2], s.DeploymentID, s.Frozen, s.FrozenReason, timeArg(s.UpdatedAt))
		return err
	}, nil)
	if err != nil {
		return wrap(err, "save environment %s", s.Name)
	}
	return nil
}

// Environment returns an environment's state; ENOTFOUND if it never had any.
func (db *DB) Environment(ctx context.Context, name string) (*sluice.EnvironmentState, error) {
	s, err := scanEnvironment(db.read.QueryRowContext(ctx, `SELECT `+environmentColumns+` FROM environments WHERE name = ?`, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, sluice.Errorf(sluice.ENOTFOUND, "environment %q has no state yet; it gets some on its first deployment", name)
	case err != nil:
		return nil, wrap(err, "read environment %s", name)
	}
	return s, nil
}

// ListEnvironments returns every environment's state, by name.
func (db *DB) ListEnvironments(ctx context.Context) ([]sluice.EnvironmentState, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+environmentColumns+` FROM environments ORDER BY name`)
	if err != nil {
		return nil, wrap(err, "list environments")
	}
	defer rows.Close()
	var out []sluice.EnvironmentState
	for rows.Next() {
		s, err := scanEnvironment(rows)
		if err != nil {
			return nil, wrap(err, "list environments")
		}
		out = append(out, *s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list environments")
	}
	return out, nil
}

const environmentColumns = `name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at`

func scanEnvironment(row interface{ Scan(...any) error }) (*sluice.EnvironmentState, error) {
	var (
		s                                  sluice.EnvironmentState
		live, previous, deploying, updated sql.NullString
	)
	if err := row.Scan(&s.Name, &s.Address, &live, &previous, &deploying, &s.DeploymentID, &s.Frozen, &s.FrozenReason, &updated); err != nil {
		return nil, err
	}
	var errs [4]error
	s.Live, errs[0] = parseVersion(live)
	s.Previous, errs[1] = parseVersion(previous)
	s.Deploying, errs[2] = parseVersion(deploying)
	s.UpdatedAt, errs[3] = parseTime(updated)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, wrap(err, "environment %s", s.Name)
	}
	return &s, nil
}
