package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// activeStatuses are the statuses that are not Done, as SQL literals, for "WHERE status IN".
var activeStatuses = func() string {
	var quoted []string
	for _, s := range sluice.ActiveStatuses {
		quoted = append(quoted, "'"+string(s)+"'")
	}
	return strings.Join(quoted, ", ")
}()

// CreateExecution stores a new execution with its stages and actions and sets ex.Seq. Stages
// and actions with an empty ExecutionID belong to ex; one naming another execution, a stage
// named twice, or an action in a stage not given is EINVALID. An existing ID is ECONFLICT.
func (db *DB) CreateExecution(ctx context.Context, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution, events ...sluice.Event) error {
	if err := checkPlan(ex, stages, actions); err != nil {
		return err
	}
	var seq int64
	err := db.update(ctx, events, func(tx *sql.Tx) (err error) {
		seq, err = insertExecution(ctx, tx, ex, stages, actions)
		return err
	}, func() { ex.Seq = seq })
	if err != nil {
		return wrap(err, "create execution %s", ex.ID)
	}
	return nil
}

// checkPlan rejects stages and actions that do not fit together, with a sentence, before the
// database would reject them with a constraint name.
func checkPlan(ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution) error {
	if ex.ID == "" {
		return sluice.Errorf(sluice.EINVALID, "an execution needs an ID")
	}
	seen := map[string]bool{}
	for _, st := range stages {
		if st.ExecutionID != "" && st.ExecutionID != ex.ID {
			return sluice.Errorf(sluice.EINVALID, "stage %q belongs to execution %q, not %q", st.Stage, st.ExecutionID, ex.ID)
		}
		if seen[st.Stage] {
			return sluice.Errorf(sluice.EINVALID, "stage %q is given twice for execution %q; stage names must be unique", st.Stage, ex.ID)
		}
		seen[st.Stage] = true
	}
	type key struct{ stage, action string }
	actionSeen := map[key]bool{}
	for _, a := range actions {
		if a.ExecutionID != "" && a.ExecutionID != ex.ID {
			return sluice.Errorf(sluice.EINVALID, "action %s/%s belongs to execution %q, not %q", a.Stage, a.Action, a.ExecutionID, ex.ID)
		}
		if !seen[a.Stage] {
			return sluice.Errorf(sluice.EINVALID, "action %s/%s is in stage %q, which execution %q does not have; give the stage too", a.Stage, a.Action, a.Stage, ex.ID)
		}
		if actionSeen[key{a.Stage, a.Action}] {
			return sluice.Errorf(sluice.EINVALID, "action %s/%s is given twice for execution %q; action names must be unique in a stage", a.Stage, a.Action, ex.ID)
		}
		actionSeen[key{a.Stage, a.Action}] = true
	}
	return nil
}

// SaveExecution overwrites the execution's status, artifact, error, and start and end times.
func (db *DB) SaveExecution(ctx context.Context, ex *sluice.Execution, events ...sluice.Event) error {
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		if err := stopStands(ctx, tx, ex.ID, ex.Status == sluice.StatusStopped); err != nil {
			return err
		}
		return updateExecution(ctx, tx, ex)
	}, nil)
	if err != nil {
		return wrap(err, "save execution %s", ex.ID)
	}
	return nil
}

func updateExecution(ctx context.Context, tx *sql.Tx, ex *sluice.Execution) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE executions
		SET status = ?, artifact = ?, error = ?, waiting = ?, started_at = ?, ended_at = ?
		WHERE id = ?`,
		ex.Status, ex.Artifact, ex.Error, ex.Waiting, timeArg(ex.StartedAt), timeArg(ex.EndedAt), ex.ID)
	if err != nil {
		return err
	}
	return mustAffect(res, func() error { return executionNotFound(ex.ID) })
}

// stopStands refuses a change to a stopped execution unless allowed: a driver that has not
// noticed a stop yet must not undo it (a stopped execution stays Stopped; its stages and actions
// may only end). Only RetryExecution reopens a stopped execution.
func stopStands(ctx context.Context, tx *sql.Tx, id string, allowed bool) error {
	if allowed {
		return nil
	}
	stopped, err := exists(ctx, tx, `SELECT 1 FROM executions WHERE id = ? AND status = ?`, id, sluice.StatusStopped)
	if err != nil || !stopped {
		return err
	}
	return sluice.Errorf(sluice.ECONFLICT, "execution %s was stopped; sluice retry %s runs it again", id, id)
}

// RetryExecution saves an execution and the stages and actions a retry resets, in one
// transaction.
func (db *DB) RetryExecution(ctx context.Context, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution, events ...sluice.Event) error {
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		for i := range stages {
			if err := updateStage(ctx, tx, &stages[i]); err != nil {
				return err
			}
		}
		for i := range actions {
			if err := updateAction(ctx, tx, &actions[i]); err != nil {
				return err
			}
		}
		return updateExecution(ctx, tx, ex)
	}, nil)
	if err != nil {
		return wrap(err, "retry execution %s", ex.ID)
	}
	return nil
}

// SaveStage overwrites one stage's status and times.
func (db *DB) SaveStage(ctx context.Context, st *sluice.StageExecution, events ...sluice.Event) error {
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		if err := stopStands(ctx, tx, st.ExecutionID, st.Status.Done()); err != nil {
			return err
		}
		return updateStage(ctx, tx, st)
	}, nil)
	if err != nil {
		return wrap(err, "save stage %s/%s", st.ExecutionID, st.Stage)
	}
	return nil
}

func updateStage(ctx context.Context, tx *sql.Tx, st *sluice.StageExecution) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE stage_executions
		SET status = ?, started_at = ?, ended_at = ?
		WHERE execution_id = ? AND stage = ?`,
		st.Status, timeArg(st.StartedAt), timeArg(st.EndedAt), st.ExecutionID, st.Stage)
	if err != nil {
		return err
	}
	return mustAffect(res, func() error {
		return sluice.Errorf(sluice.ENOTFOUND, "stage %q of execution %q not found; list its stages with sluice status", st.Stage, st.ExecutionID)
	})
}

// SaveAction overwrites one action's status, attempt, times, error, summary and outputs.
func (db *DB) SaveAction(ctx context.Context, a *sluice.ActionExecution, events ...sluice.Event) error {
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		if err := stopStands(ctx, tx, a.ExecutionID, a.Status.Done()); err != nil {
			return err
		}
		return updateAction(ctx, tx, a)
	}, nil)
	if err != nil {
		return wrap(err, "save action %s/%s/%s", a.ExecutionID, a.Stage, a.Action)
	}
	return nil
}

func updateAction(ctx context.Context, tx *sql.Tx, a *sluice.ActionExecution) error {
	outputs, err := jsonArg(a.Outputs)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE action_executions
		SET status = ?, attempt = ?, started_at = ?, ended_at = ?, error = ?, summary = ?, outputs = ?
		WHERE execution_id = ? AND stage = ? AND action = ?`,
		a.Status, a.Attempt, timeArg(a.StartedAt), timeArg(a.EndedAt), a.Error, a.Summary, outputs,
		a.ExecutionID, a.Stage, a.Action)
	if err != nil {
		return err
	}
	return mustAffect(res, func() error {
		return sluice.Errorf(sluice.ENOTFOUND, "action %s/%s of execution %q not found; list its actions with sluice status", a.Stage, a.Action, a.ExecutionID)
	})
}

func executionNotFound(id string) error {
	return sluice.Errorf(sluice.ENOTFOUND, "execution %q not found; list executions with sluice status", id)
}

const executionColumns = `seq, id, pipeline, revision, subject, status, artifact, error, waiting, route, route_file, created_at, started_at, ended_at`

func scanExecution(row interface{ Scan(...any) error }) (sluice.Execution, error) {
	var (
		ex                      sluice.Execution
		created, started, ended sql.NullString
	)
	if err := row.Scan(&ex.Seq, &ex.ID, &ex.Pipeline, &ex.Revision, &ex.Subject, &ex.Status, &ex.Artifact, &ex.Error, &ex.Waiting,
		&ex.Route, &ex.RouteFile, &created, &started, &ended); err != nil {
		return ex, err
	}
	var errs [3]error
	ex.CreatedAt, errs[0] = parseTime(created)
	ex.StartedAt, errs[1] = parseTime(started)
	ex.EndedAt, errs[2] = parseTime(ended)
	return ex, errors.Join(errs[:]...)
}

// Execution returns one execution.
func (db *DB) Execution(ctx context.Context, id string) (*sluice.Execution, error) {
	ex, err := scanExecution(db.read.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, executionNotFound(id)
	case err != nil:
		return nil, wrap(err, "read execution %s", id)
	}
	return &ex, nil
}

// ListExecutions returns the executions of a pipeline (of every pipeline if pipeline is ""),
// newest first; with active only those whose status is not Done. limit <= 0 means all.
func (db *DB) ListExecutions(ctx context.Context, pipeline string, active bool, limit int) ([]sluice.Execution, error) {
	where := `WHERE (? = '' OR pipeline = ?)`
	if active {
		where += ` AND status IN (` + activeStatuses + `)`
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+executionColumns+` FROM executions `+where+` ORDER BY seq DESC LIMIT ?`, pipeline, pipeline, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "list executions")
	}
	defer rows.Close()
	var out []sluice.Execution
	for rows.Next() {
		ex, err := scanExecution(rows)
		if err != nil {
			return nil, wrap(err, "list executions")
		}
		out = append(out, ex)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list executions")
	}
	return out, nil
}

// Stages returns an execution's stages in plan order; ENOTFOUND if the execution does not exist.
func (db *DB) Stages(ctx context.Context, executionID string) ([]sluice.StageExecution, error) {
	var out []sluice.StageExecution
	err := db.view(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, executionID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT execution_id, stage, position, status, started_at, ended_at
			FROM stage_executions
			WHERE execution_id = ?
			ORDER BY position, rowid`, executionID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				st             sluice.StageExecution
				started, ended sql.NullString
			)
			if err := rows.Scan(&st.ExecutionID, &st.Stage, &st.Index, &st.Status, &started, &ended); err != nil {
				return err
			}
			var errStarted, errEnded error
			st.StartedAt, errStarted = parseTime(started)
			st.EndedAt, errEnded = parseTime(ended)
			if err := errors.Join(errStarted, errEnded); err != nil {
				return wrap(err, "stage %s", st.Stage)
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "read stages of execution %s", executionID)
	}
	return out, nil
}

// Actions returns an execution's actions in plan order (stage index, run order, then as
// created); ENOTFOUND if the execution does not exist.
func (db *DB) Actions(ctx context.Context, executionID string) ([]sluice.ActionExecution, error) {
	var out []sluice.ActionExecution
	err := db.view(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, executionID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT a.execution_id, a.stage, a.action, a.kind, a.run_order, a.status, a.attempt,
				a.started_at, a.ended_at, a.error, a.summary, a.outputs
			FROM action_executions a
			JOIN stage_executions s ON s.execution_id = a.execution_id AND s.stage = a.stage
			WHERE a.execution_id = ?
			ORDER BY s.position, s.rowid, a.run_order, a.rowid`, executionID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a                       sluice.ActionExecution
				started, ended, outputs sql.NullString
			)
			if err := rows.Scan(&a.ExecutionID, &a.Stage, &a.Action, &a.Kind, &a.RunOrder, &a.Status, &a.Attempt,
				&started, &ended, &a.Error, &a.Summary, &outputs); err != nil {
				return err
			}
			var errStarted, errEnded error
			a.StartedAt, errStarted = parseTime(started)
			a.EndedAt, errEnded = parseTime(ended)
			if err := errors.Join(errStarted, errEnded, parseJSON(outputs, &a.Outputs)); err != nil {
				return wrap(err, "action %s/%s", a.Stage, a.Action)
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "read actions of execution %s", executionID)
	}
	return out, nil
}

func mustExist(ctx context.Context, q queryer, executionID string) error {
	ok, err := exists(ctx, q, `SELECT 1 FROM executions WHERE id = ?`, executionID)
	switch {
	case err != nil:
		return err
	case !ok:
		return executionNotFound(executionID)
	}
	return nil
}

// insertExecution stores a new execution with its stages and actions and returns its Seq.
func insertExecution(ctx context.Context, tx *sql.Tx, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution) (int64, error) {
	taken, err := exists(ctx, tx, `SELECT 1 FROM executions WHERE id = ?`, ex.ID)
	if err != nil {
		return 0, err
	}
	if taken {
		return 0, sluice.Errorf(sluice.ECONFLICT, "execution %q already exists; start a new execution with a new ID", ex.ID)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO executions (id, pipeline, revision, subject, status, artifact, error, waiting, route, route_file, created_at, started_at, ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ex.ID, ex.Pipeline, ex.Revision, ex.Subject, ex.Status, ex.Artifact, ex.Error, ex.Waiting, ex.Route, ex.RouteFile,
		timeArg(ex.CreatedAt), timeArg(ex.StartedAt), timeArg(ex.EndedAt))
	if err != nil {
		return 0, err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	for _, st := range stages {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO stage_executions (execution_id, stage, position, status, started_at, ended_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			ex.ID, st.Stage, st.Index, st.Status, timeArg(st.StartedAt), timeArg(st.EndedAt)); err != nil {
			return 0, wrap(err, "stage %s", st.Stage)
		}
	}
	for _, a := range actions {
		outputs, err := jsonArg(a.Outputs)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO action_executions (execution_id, stage, action, kind, run_order, status, attempt, started_at, ended_at, error, summary, outputs)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ex.ID, a.Stage, a.Action, a.Kind, a.RunOrder, a.Status, a.Attempt,
			timeArg(a.StartedAt), timeArg(a.EndedAt), a.Error, a.Summary, outputs); err != nil {
			return 0, wrap(err, "action %s/%s", a.Stage, a.Action)
		}
	}
	return seq, nil
}

// CreateFirstExecution stores ex unless its pipeline already has an execution of ex.Revision,
// which it returns instead.
func (db *DB) CreateFirstExecution(ctx context.Context, ex *sluice.Execution, stages []sluice.StageExecution, actions []sluice.ActionExecution, events ...sluice.Event) (*sluice.Execution, error) {
	if err := checkPlan(ex, stages, actions); err != nil {
		return nil, err
	}
	var (
		seq      int64
		existing *sluice.Execution
	)
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		found, err := scanExecution(tx.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions
			WHERE pipeline = ? AND revision = ? ORDER BY seq DESC LIMIT 1`, ex.Pipeline, ex.Revision))
		switch {
		case err == nil:
			existing = &found
			return errExisting
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		seq, err = insertExecution(ctx, tx, ex, stages, actions)
		return err
	}, func() { ex.Seq = seq })
	switch {
	case errors.Is(err, errExisting):
		return existing, nil
	case err != nil:
		return nil, wrap(err, "create execution %s", ex.ID)
	}
	return nil, nil
}

// errExisting rolls back a CreateFirstExecution that found an execution of the revision.
var errExisting = errors.New("the revision has an execution already")

// StopExecution records an execution's stop, with everything the stop ends, in one transaction.
func (db *DB) StopExecution(ctx context.Context, id, who, reason string, at time.Time, events ...sluice.Event) (*sluice.Execution, error) {
	var out *sluice.Execution
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		ex, err := scanExecution(tx.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = ?`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return executionNotFound(id)
		case err != nil:
			return err
		case ex.Status.Done():
			return sluice.Errorf(sluice.ECONFLICT, "execution %s already ended %s; nothing to stop", id, ex.Status)
		}
		when := timeArg(at)
		ex.Status, ex.Error, ex.Waiting, ex.EndedAt = sluice.StatusStopped, reason, "", at.UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE executions SET status = ?, error = ?, waiting = '', ended_at = ? WHERE id = ?`,
			ex.Status, reason, when, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stage_executions SET status = ?, ended_at = ? WHERE execution_id = ? AND status IN (?, ?)`,
			sluice.StatusStopped, when, id, sluice.StatusInProgress, sluice.StatusWaiting); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE action_executions SET status = ?, ended_at = ?, error = ? WHERE execution_id = ? AND status IN (?, ?)`,
			sluice.StatusStopped, when, reason, id, sluice.StatusInProgress, sluice.StatusWaiting); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, comment = ? WHERE execution_id = ? AND status = ?`,
			sluice.StatusRejected, who, when, "the execution was stopped", id, sluice.StatusWaiting); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE owner = ? AND key LIKE 'stage/%'`, id); err != nil {
			return err
		}
		out = &ex
		return nil
	}, nil)
	if err != nil {
		return nil, wrap(err, "stop execution %s", id)
	}
	return out, nil
}
