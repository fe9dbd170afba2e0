package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sluicehq/sluice"
)

// RecordWebhookDelivery stores an accepted webhook delivery; ECONFLICT if its provider and ID are
// stored already (a replay).
func (db *DB) RecordWebhookDelivery(ctx context.Context, d *sluice.WebhookDelivery, events ...sluice.Event) error {
	if d.Provider == "" || d.ID == "" || d.ReceivedAt.IsZero() {
		return sluice.Errorf(sluice.EINVALID, "a webhook delivery needs its provider, ID and time of receipt")
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO webhook_deliveries (provider, id, event, pipeline, outcome, received_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, id) DO NOTHING`,
			d.Provider, d.ID, d.Event, d.Pipeline, d.Outcome, timeArg(d.ReceivedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, sluice.Errorf(sluice.ECONFLICT, "%s delivery %s was received before; a replayed delivery is refused", d.Provider, d.ID))
		}
		return nil
	}, nil)
	if err != nil {
		return wrap(err, "record %s delivery %s", d.Provider, d.ID)
	}
	return nil
}

// SaveWebhookOutcome records what was done with a recorded delivery.
func (db *DB) SaveWebhookOutcome(ctx context.Context, d *sluice.WebhookDelivery) error {
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET pipeline = ?, outcome = ? WHERE provider = ? AND id = ?`,
			d.Pipeline, d.Outcome, d.Provider, d.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, sluice.Errorf(sluice.ENOTFOUND, "%s delivery %s is not recorded", d.Provider, d.ID))
		}
		return nil
	}, nil)
	if err != nil {
		return wrap(err, "record the outcome of %s delivery %s", d.Provider, d.ID)
	}
	return nil
}

// ListWebhookDeliveries returns the recorded deliveries, newest first; limit <= 0 means all.
func (db *DB) ListWebhookDeliveries(ctx context.Context, limit int) ([]sluice.WebhookDelivery, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.read.QueryContext(ctx, `
		SELECT provider, id, event, pipeline, outcome, received_at FROM webhook_deliveries
		ORDER BY received_at DESC, rowid DESC LIMIT ?`, limit)
	if err != nil {
		return nil, wrap(err, "list webhook deliveries")
	}
	defer rows.Close()
	var out []sluice.WebhookDelivery
	for rows.Next() {
		var (
			d        sluice.WebhookDelivery
			received sql.NullString
		)
		if err := rows.Scan(&d.Provider, &d.ID, &d.Event, &d.Pipeline, &d.Outcome, &received); err != nil {
			return nil, wrap(err, "list webhook deliveries")
		}
		if d.ReceivedAt, err = parseTime(received); err != nil {
			return nil, wrap(err, "list webhook deliveries")
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list webhook deliveries")
	}
	return out, nil
}
