package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice"
)

// CreateApproval stores a Waiting approval and sets a.ID. An empty status is taken as Waiting
// (and set); any other is EINVALID. events, if not nil, builds the events stored with it from
// the approval once it is numbered.
func (db *DB) CreateApproval(ctx context.Context, a *sluice.Approval, events func(*sluice.Approval) []sluice.Event) error {
	if a.Pipeline == "" {
		return sluice.Errorf(sluice.EINVALID, "an approval needs the pipeline it belongs to")
	}
	if a.Status != "" && a.Status != sluice.StatusWaiting {
		return sluice.Errorf(sluice.EINVALID, "a new approval must be Waiting, not %s", a.Status)
	}
	approvers, err := jsonArg(a.Approvers)
	if err != nil {
		return wrap(err, "create approval")
	}
	var id int64
	err = db.updateThen(ctx, func(tx *sql.Tx) ([]sluice.Event, error) {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO approvals (execution_id, pipeline, environment, change_set_digest, approvers, status,
				requested_at, expires_at, decided_by, decided_at, comment, expired)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ExecutionID, a.Pipeline, a.Environment, a.ChangeSetDigest, approvers, sluice.StatusWaiting,
			timeArg(a.RequestedAt), timeArg(a.ExpiresAt), a.DecidedBy, timeArg(a.DecidedAt), a.Comment, a.Expired)
		if err != nil {
			return nil, err
		}
		if id, err = res.LastInsertId(); err != nil || events == nil {
			return nil, err
		}
		numbered := *a
		numbered.ID, numbered.Status = id, sluice.StatusWaiting
		return events(&numbered), nil
	}, func() {
		a.ID = id
		a.Status = sluice.StatusWaiting
	})
	if err != nil {
		return wrap(err, "create approval for %s", a.Environment)
	}
	return nil
}

// DecideApproval records a.Status (Succeeded or Rejected), DecidedBy, DecidedAt, Comment and
// Expired on a Waiting approval. The update is conditional on the approval still Waiting, so
// of two deciders exactly one wins; the other gets ECONFLICT naming the decision that stands,
// and its events are not stored.
func (db *DB) DecideApproval(ctx context.Context, a *sluice.Approval, events ...sluice.Event) error {
	if a.Status != sluice.StatusSucceeded && a.Status != sluice.StatusRejected {
		return sluice.Errorf(sluice.EINVALID, "approval %d: a decision is Succeeded (approved) or Rejected, not %q", a.ID, a.Status)
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE approvals
			SET status = ?, decided_by = ?, decided_at = ?, comment = ?, expired = ?
			WHERE id = ? AND status = ?`,
			a.Status, a.DecidedBy, timeArg(a.DecidedAt), a.Comment, a.Expired, a.ID, sluice.StatusWaiting)
		if err != nil {
			return err
		}
		return mustAffect(res, func() error {
			standing, err := approval(ctx, tx, a.ID)
			if err != nil {
				return err
			}
			return alreadyDecided(standing)
		})
	}, nil)
	if err != nil {
		return wrap(err, "decide approval %d", a.ID)
	}
	return nil
}

// alreadyDecided says which decision stands on an approval that is no longer Waiting.
func alreadyDecided(a *sluice.Approval) error {
	how := string(a.Status)
	switch {
	case a.Expired:
		how += " because nobody decided in time"
	case a.DecidedBy != "":
		how += " by " + a.DecidedBy
	}
	if !a.DecidedAt.IsZero() {
		how += " at " + a.DecidedAt.Format(time.RFC3339)
	}
	return sluice.Errorf(sluice.ECONFLICT, "approval %d was already decided (%s); run the pipeline again to ask for a new approval", a.ID, how)
}

// Approval returns one approval by ID.
func (db *DB) Approval(ctx context.Context, id int64) (*sluice.Approval, error) {
	a, err := approval(ctx, db.read, id)
	if err != nil {
		return nil, wrap(err, "read approval %d", id)
	}
	return a, nil
}

func approval(ctx context.Context, q queryer, id int64) (*sluice.Approval, error) {
	a, err := scanApproval(q.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "approval %d not found; list waiting approvals with sluice status", id)
	}
	return a, err
}

// ListApprovals returns a pipeline's approvals, newest first, of one environment (all if env is
// ""); with waiting only those still Waiting.
func (db *DB) ListApprovals(ctx context.Context, pipeline, env string, waiting bool) ([]sluice.Approval, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT `+approvalColumns+`
		FROM approvals
		WHERE pipeline = ? AND (? = '' OR environment = ?) AND (NOT ? OR status = ?)
		ORDER BY id DESC`, pipeline, env, env, waiting, sluice.StatusWaiting)
	if err != nil {
		return nil, wrap(err, "list approvals")
	}
	defer rows.Close()
	var out []sluice.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, wrap(err, "list approvals")
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list approvals")
	}
	return out, nil
}

const approvalColumns = `id, execution_id, pipeline, environment, change_set_digest, approvers, status,
	requested_at, expires_at, decided_by, decided_at, comment, expired`

func scanApproval(row interface{ Scan(...any) error }) (*sluice.Approval, error) {
	var (
		a                                      sluice.Approval
		approvers, requested, expires, decided sql.NullString
	)
	if err := row.Scan(&a.ID, &a.ExecutionID, &a.Pipeline, &a.Environment, &a.ChangeSetDigest, &approvers, &a.Status,
		&requested, &expires, &a.DecidedBy, &decided, &a.Comment, &a.Expired); err != nil {
		return nil, err
	}
	var errs [4]error
	a.RequestedAt, errs[0] = parseTime(requested)
	a.ExpiresAt, errs[1] = parseTime(expires)
	a.DecidedAt, errs[2] = parseTime(decided)
	errs[3] = parseJSON(approvers, &a.Approvers)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, wrap(err, "approval %d", a.ID)
	}
	return &a, nil
}
