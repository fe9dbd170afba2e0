package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// Defaults for the CloudEvents attributes an event may leave empty.
const (
	eventSpecVersion = "1.0"
	eventContentType = "application/json"
)

// AppendEvents stores events that go with no other change, in one transaction. It gives each
// event its Seq, and an ID, SpecVersion, DataContentType and Time where they are empty, in the
// slice it was given.
func (db *DB) AppendEvents(ctx context.Context, events ...sluice.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := db.update(ctx, events, func(*sql.Tx) error { return nil }, nil); err != nil {
		return wrap(err, "append events")
	}
	return nil
}

// ListEvents returns events with Seq > after, oldest first, at most limit (<= 0: all).
func (db *DB) ListEvents(ctx context.Context, after int64, limit int) ([]sluice.Event, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT seq, id, spec_version, source, type, subject, time, data_content_type, data
		FROM events
		WHERE seq > ?
		ORDER BY seq
		LIMIT ?`, after, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "list events")
	}
	defer rows.Close()
	var out []sluice.Event
	for rows.Next() {
		var (
			ev         sluice.Event
			when, data sql.NullString
		)
		if err := rows.Scan(&ev.Seq, &ev.ID, &ev.SpecVersion, &ev.Source, &ev.Type, &ev.Subject, &when, &ev.DataContentType, &data); err != nil {
			return nil, wrap(err, "list events")
		}
		if ev.Time, err = parseTime(when); err != nil {
			return nil, wrap(err, "list events: event %d", ev.Seq)
		}
		if data.Valid {
			ev.Data = json.RawMessage(data.String)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list events")
	}
	return out, nil
}

// prepareEvents checks events and returns copies with the empty attributes filled in.
func prepareEvents(events []sluice.Event) ([]sluice.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]sluice.Event, len(events))
	now := time.Now().UTC()
	for i, ev := range events {
		if ev.Type == "" {
			return nil, sluice.Errorf(sluice.EINVALID, "event %d of %d has no type; give it one such as sluice.action.succeeded", i+1, len(events))
		}
		if len(ev.Data) > 0 && !json.Valid(ev.Data) {
			return nil, sluice.Errorf(sluice.EINVALID, "event %s has data that is not valid JSON; encode it with encoding/json", ev.Type)
		}
		if ev.ID == "" {
			ev.ID = newEventID()
		}
		if ev.SpecVersion == "" {
			ev.SpecVersion = eventSpecVersion
		}
		if ev.DataContentType == "" {
			ev.DataContentType = eventContentType
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		out[i] = ev
	}
	return out, nil
}

// insertEvents stores prepared events and sets their Seq.
func insertEvents(ctx context.Context, tx *sql.Tx, events []sluice.Event) error {
	for i := range events {
		ev := &events[i]
		var data any
		if len(ev.Data) > 0 {
			data = string(ev.Data)
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO events (id, spec_version, source, type, subject, time, data_content_type, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.ID, ev.SpecVersion, ev.Source, ev.Type, ev.Subject, timeArg(ev.Time), ev.DataContentType, data)
		if err != nil {
			return wrap(err, "store event %s", ev.Type)
		}
		if ev.Seq, err = res.LastInsertId(); err != nil {
			return wrap(err, "store event %s", ev.Type)
		}
	}
	return nil
}

// newEventID returns a random (version 4) UUID.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
