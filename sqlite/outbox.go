package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice"
)

// StartOutbox returns consumer's event cursor, saving the newest event's Seq as it the first
// time.
func (db *DB) StartOutbox(ctx context.Context, consumer string) (int64, error) {
	if consumer == "" {
		return 0, sluice.Errorf(sluice.EINVALID, "an outbox needs its consumer's name, such as notify")
	}
	var seq int64
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT seq FROM event_cursors WHERE consumer = ?`, consumer).Scan(&seq)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&seq); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO event_cursors (consumer, seq, updated_at) VALUES (?, ?, ?)`,
			consumer, seq, timeArg(time.Now().UTC()))
		return err
	}, nil)
	if err != nil {
		return 0, wrap(err, "start the outbox of %s", consumer)
	}
	return seq, nil
}

// FillOutbox stores deliveries not stored yet and saves consumer's cursor at seq, at once.
func (db *DB) FillOutbox(ctx context.Context, consumer string, seq int64, deliveries []sluice.Delivery) error {
	if consumer == "" || seq < 0 {
		return sluice.Errorf(sluice.EINVALID, "an outbox needs its consumer's name and a Seq of 0 or more (got %q, %d)", consumer, seq)
	}
	now := time.Now().UTC()
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		if err := saveCursor(ctx, tx, consumer, seq, now); err != nil {
			return err
		}
		for i := range deliveries {
			d := &deliveries[i]
			if d.Channel == "" || d.EventID == "" {
				return sluice.Errorf(sluice.EINVALID, "delivery %d of %d needs a channel and an event ID", i+1, len(deliveries))
			}
			if d.CreatedAt.IsZero() {
				d.CreatedAt = now
			}
			if d.NextAttempt.IsZero() {
				d.NextAttempt = d.CreatedAt
			}
			d.Status = sluice.DeliveryPending
			res, err := tx.ExecContext(ctx, `
				INSERT INTO deliveries (channel, event_id, event_seq, event_type, subject, status, attempts,
					next_attempt, error, claimed_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, 0, ?, '', '', ?)
				ON CONFLICT (channel, event_id) DO NOTHING`,
				d.Channel, d.EventID, d.EventSeq, d.EventType, d.Subject, d.Status, timeArg(d.NextAttempt), timeArg(d.CreatedAt))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				if d.ID, err = res.LastInsertId(); err != nil {
					return err
				}
				continue
			}
			// Already in the outbox: report the stored row's ID.
			if err := tx.QueryRowContext(ctx, `SELECT id FROM deliveries WHERE channel = ? AND event_id = ?`, d.Channel, d.EventID).Scan(&d.ID); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return wrap(err, "fill the outbox of %s", consumer)
	}
	return nil
}

// ClaimDeliveries claims up to limit due, unclaimed pending deliveries for owner.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, now time.Time, ttl time.Duration, limit int) ([]sluice.Delivery, error) {
	if owner == "" || ttl <= 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "a claim on deliveries needs an owner and a positive duration (got %q, %s)", owner, ttl)
	}
	// Senders poll: look with a reader first, so that a poll with nothing due takes no write lock
	// from the engine.
	var due int
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = ? AND next_attempt <= ?)`,
		sluice.DeliveryPending, timeArg(now)).Scan(&due); err != nil {
		return nil, wrap(err, "claim deliveries")
	}
	if due == 0 {
		return nil, nil
	}
	var out []sluice.Delivery
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE status = ? AND next_attempt <= ? AND (claimed_by = '' OR claimed_by = ? OR claimed_until <= ?)
			ORDER BY next_attempt, id
			LIMIT ?`, sluice.DeliveryPending, timeArg(now), owner, timeArg(now), limitArg(limit))
		if err != nil {
			return err
		}
		out, err = scanDeliveries(rows)
		if err != nil {
			return err
		}
		for _, d := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET claimed_by = ?, claimed_until = ? WHERE id = ?`,
				owner, timeArg(now.Add(ttl)), d.ID); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return nil, wrap(err, "claim deliveries")
	}
	return out, nil
}

// SaveDelivery records an attempt's outcome and ends the claim on d.
func (db *DB) SaveDelivery(ctx context.Context, d *sluice.Delivery) error {
	next := d.NextAttempt
	if d.Status.Done() {
		next = time.Time{}
	}
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE deliveries SET status = ?, attempts = ?, next_attempt = ?, error = ?, delivered_at = ?,
				gave_up_at = ?, claimed_by = '', claimed_until = NULL
			WHERE id = ?`,
			d.Status, d.Attempts, timeArg(next), d.Error, timeArg(d.DeliveredAt), timeArg(d.GaveUpAt), d.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, func() error {
			return sluice.Errorf(sluice.ENOTFOUND, "no delivery %d in the outbox", d.ID)
		})
	}, nil)
	if err != nil {
		return wrap(err, "save delivery %d", d.ID)
	}
	d.NextAttempt = next
	return nil
}

// ListDeliveries returns deliveries newest first.
func (db *DB) ListDeliveries(ctx context.Context, limit int) ([]sluice.Delivery, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries ORDER BY id DESC LIMIT ?`, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "list deliveries")
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, wrap(err, "list deliveries")
	}
	return out, nil
}

// saveCursor moves consumer's event cursor to seq inside tx; ECONFLICT if it was past seq.
func saveCursor(ctx context.Context, tx *sql.Tx, consumer string, seq int64, now time.Time) error {
	var saved int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM event_cursors WHERE consumer = ?`, consumer).Scan(&saved)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case seq < saved:
		return sluice.Errorf(sluice.ECONFLICT, "the event cursor of %s is at %d already, past %d; is a second copy of %s running? Stop it: one consumer name, one reader", consumer, saved, seq, consumer)
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO event_cursors (consumer, seq, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
		consumer, seq, timeArg(now))
	return err
}

const deliveryColumns = `id, channel, event_id, event_seq, event_type, subject, status, attempts, next_attempt, error,
	created_at, delivered_at, gave_up_at`

func scanDeliveries(rows *sql.Rows) ([]sluice.Delivery, error) {
	defer rows.Close()
	var out []sluice.Delivery
	for rows.Next() {
		var (
			d                                sluice.Delivery
			next, created, delivered, gaveUp sql.NullString
		)
		if err := rows.Scan(&d.ID, &d.Channel, &d.EventID, &d.EventSeq, &d.EventType, &d.Subject, &d.Status, &d.Attempts,
			&next, &d.Error, &created, &delivered, &gaveUp); err != nil {
			return nil, err
		}
		var err error
		if d.NextAttempt, err = parseTime(next); err != nil {
			return nil, err
		}
		if d.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if d.DeliveredAt, err = parseTime(delivered); err != nil {
			return nil, err
		}
		if d.GaveUpAt, err = parseTime(gaveUp); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
