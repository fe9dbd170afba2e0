package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sluicehq/sluice"
)

// CreateDeployment stores a deployment and sets d.ID.
func (db *DB) CreateDeployment(ctx context.Context, d *sluice.Deployment, events ...sluice.Event) error {
	var id int64
	err := db.update(ctx, events, func(tx *sql.Tx) (err error) {
		id, err = insertDeployment(ctx, tx, d)
		return err
	}, func() { d.ID = id })
	if err != nil {
		return wrap(err, "create deployment to %s", d.Environment)
	}
	return nil
}

func insertDeployment(ctx context.Context, tx *sql.Tx, d *sluice.Deployment) (int64, error) {
	if d.Pipeline == "" {
		return 0, sluice.Errorf(sluice.EINVALID, "a deployment to %s needs the pipeline it belongs to", d.Environment)
	}
	rollback, err := jsonArg(d.Rollback)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO deployments (pipeline, environment, execution_id, change_set_digest, from_artifact, to_artifact,
			revision, strategy, status, reason, started_at, ended_at, rollback)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Pipeline, d.Environment, d.ExecutionID, d.ChangeSetDigest, d.From, d.To,
		d.Revision, d.Strategy, d.Status, d.Reason, timeArg(d.StartedAt), timeArg(d.EndedAt), rollback)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// StartDeployment stores a new deployment and the environment's state, pointing at it, in one
// transaction.
func (db *DB) StartDeployment(ctx context.Context, d *sluice.Deployment, state *sluice.EnvironmentState, events func(*sluice.Deployment) []sluice.Event) error {
	if err := sameEnvironment(d, state); err != nil {
		return err
	}
	var id int64
	err := db.updateThen(ctx, func(tx *sql.Tx) (_ []sluice.Event, err error) {
		if id, err = insertDeployment(ctx, tx, d); err != nil {
			return nil, err
		}
		withID := *state
		withID.DeploymentID = id
		if err := saveEnvironment(ctx, tx, &withID, true); err != nil {
			return nil, err
		}
		if events == nil {
			return nil, nil
		}
		numbered := *d
		numbered.ID = id
		return events(&numbered), nil
	}, func() { d.ID, state.DeploymentID = id, id })
	if err != nil {
		return wrap(err, "start deployment to %s", d.Environment)
	}
	return nil
}

// EndDeployment saves how a deployment ended and the environment's state in one transaction.
func (db *DB) EndDeployment(ctx context.Context, d *sluice.Deployment, state *sluice.EnvironmentState, events ...sluice.Event) error {
	if err := sameEnvironment(d, state); err != nil {
		return err
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		if err := updateDeployment(ctx, tx, d); err != nil {
			return err
		}
		return saveEnvironment(ctx, tx, state, true)
	}, nil)
	if err != nil {
		return wrap(err, "end deployment %d", d.ID)
	}
	return nil
}

// sameEnvironment checks that a deployment is saved with its own environment's state.
func sameEnvironment(d *sluice.Deployment, state *sluice.EnvironmentState) error {
	if state.Name != d.Environment || state.Pipeline != d.Pipeline {
		return sluice.Errorf(sluice.EINVALID, "deployment to %q of pipeline %q saved with the state of %q of pipeline %q", d.Environment, d.Pipeline, state.Name, state.Pipeline)
	}
	return nil
}

// SaveDeployment overwrites a deployment's status, reason, end time and rollback.
func (db *DB) SaveDeployment(ctx context.Context, d *sluice.Deployment, events ...sluice.Event) error {
	err := db.update(ctx, events, func(tx *sql.Tx) error { return updateDeployment(ctx, tx, d) }, nil)
	if err != nil {
		return wrap(err, "save deployment %d", d.ID)
	}
	return nil
}

func updateDeployment(ctx context.Context, tx *sql.Tx, d *sluice.Deployment) error {
	rollback, err := jsonArg(d.Rollback)
	if err != nil {
		return err
	}
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
}

// ListDeployments returns the deployments of a pipeline's environment, newest first; limit <= 0
// means all.
func (db *DB) ListDeployments(ctx context.Context, pipeline, env string, limit int) ([]sluice.Deployment, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT id, pipeline, environment, execution_id, change_set_digest, from_artifact, to_artifact,
			revision, strategy, status, reason, started_at, ended_at, rollback
		FROM deployments
		WHERE pipeline = ? AND environment = ?
		ORDER BY id DESC
		LIMIT ?`, pipeline, env, limitArg(limit))
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
		if err := rows.Scan(&d.ID, &d.Pipeline, &d.Environment, &d.ExecutionID, &d.ChangeSetDigest, &d.From, &d.To,
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
	if s.Name == "" || s.Pipeline == "" {
		return sluice.Errorf(sluice.EINVALID, "an environment's state needs its pipeline and the environment's name")
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error { return saveEnvironment(ctx, tx, s, false) }, nil)
	if err != nil {
		return wrap(err, "save environment %s", s.Name)
	}
	return nil
}

// saveEnvironment writes s. With keepFreeze, a stored freeze stays as it is: a deployment's
// start and end record what runs, and must not undo a freeze made while it ran.
func saveEnvironment(ctx context.Context, tx *sql.Tx, s *sluice.EnvironmentState, keepFreeze bool) error {
	var versions [3]any
	for i, v := range []*sluice.Version{s.Live, s.Previous, s.Deploying} {
		var err error
		if versions[i], err = jsonArg(v); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO environments (pipeline, name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (pipeline, name) DO UPDATE
		SET address = excluded.address, live = excluded.live, previous = excluded.previous,
			deploying = excluded.deploying, deployment_id = excluded.deployment_id,
			frozen = CASE WHEN ? THEN environments.frozen ELSE excluded.frozen END,
			frozen_reason = CASE WHEN ? THEN environments.frozen_reason ELSE excluded.frozen_reason END,
			updated_at = excluded.updated_at`,
		s.Pipeline, s.Name, s.Address, versions[0], versions[1], versions[2], s.DeploymentID, s.Frozen, s.FrozenReason, timeArg(s.UpdatedAt),
		keepFreeze, keepFreeze)
	return err
}

// Environment returns the state of a pipeline's environment; ENOTFOUND if it never had any.
func (db *DB) Environment(ctx context.Context, pipeline, name string) (*sluice.EnvironmentState, error) {
	s, err := scanEnvironment(db.read.QueryRowContext(ctx, `SELECT `+environmentColumns+` FROM environments WHERE pipeline = ? AND name = ?`, pipeline, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, sluice.Errorf(sluice.ENOTFOUND, "environment %q of pipeline %s has no state yet; it gets some on its first deployment", name, pipeline)
	case err != nil:
		return nil, wrap(err, "read environment %s", name)
	}
	return s, nil
}

// ListEnvironments returns the state of every environment of a pipeline, by name.
func (db *DB) ListEnvironments(ctx context.Context, pipeline string) ([]sluice.EnvironmentState, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+environmentColumns+` FROM environments WHERE pipeline = ? ORDER BY name`, pipeline)
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

const environmentColumns = `pipeline, name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at`

func scanEnvironment(row interface{ Scan(...any) error }) (*sluice.EnvironmentState, error) {
	var (
		s                                  sluice.EnvironmentState
		live, previous, deploying, updated sql.NullString
	)
	if err := row.Scan(&s.Pipeline, &s.Name, &s.Address, &live, &previous, &deploying, &s.DeploymentID, &s.Frozen, &s.FrozenReason, &updated); err != nil {
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
