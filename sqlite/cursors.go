package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice"
)

// EventCursor returns the Seq of the last event consumer handled, or 0.
func (db *DB) EventCursor(ctx context.Context, consumer string) (int64, error) {
	if consumer == "" {
		return 0, sluice.Errorf(sluice.EINVALID, "an event cursor needs the consumer's name, such as notify/slack")
	}
	var seq int64
	err := db.read.QueryRowContext(ctx, `SELECT seq FROM event_cursors WHERE consumer = ?`, consumer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap(err, "read event cursor of %s", consumer)
	}
	return seq, nil
}

// SaveEventCursor records that consumer handled every event up to seq; ECONFLICT if it had
// saved a later one.
func (db *DB) SaveEventCursor(ctx context.Context, consumer string, seq int64) error {
	if consumer == "" || seq < 0 {
		return sluice.Errorf(sluice.EINVALID, "an event cursor needs the consumer's name and a Seq of 0 or more (got %q, %d)", consumer, seq)
	}
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		return saveCursor(ctx, tx, consumer, seq, time.Now().UTC())
	}, nil)
	if err != nil {
		return wrap(err, "save event cursor of %s", consumer)
	}
	return nil
}
