package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/sluicehq/sluice"
)

// SaveChangeSet stores a change set. Idempotent by digest: the digest names the content, so a
// change set already stored is left as it is. The events are stored either way.
func (db *DB) SaveChangeSet(ctx context.Context, cs *sluice.ChangeSet, events ...sluice.Event) error {
	if cs.Digest == "" {
		return sluice.Errorf(sluice.EINVALID, "a change set needs its digest; compute it before saving")
	}
	var args [4]any
	for i, v := range []any{cs.From, cs.To, cs.Strategy, cs.Changes} {
		var err error
		if args[i], err = jsonArg(v); err != nil {
			return wrap(err, "save change set %s", cs.Digest)
		}
	}
	var detail any
	if len(cs.Detail) > 0 {
		detail = string(cs.Detail)
	}
	err := db.update(ctx, events, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO change_sets (digest, environment, from_version, to_version, strategy, changes, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`,
			cs.Digest, cs.Environment, args[0], args[1], args[2], args[3], detail)
		return err
	}, nil)
	if err != nil {
		return wrap(err, "save change set %s", cs.Digest)
	}
	return nil
}

// ChangeSet returns a change set by digest.
func (db *DB) ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error) {
	var (
		cs                          sluice.ChangeSet
		from, to, strategy, changes sql.NullString
		detail                      sql.NullString
	)
	err := db.read.QueryRowContext(ctx, `
		SELECT digest, environment, from_version, to_version, strategy, changes, detail
		FROM change_sets
		WHERE digest = ?`, digest).
		Scan(&cs.Digest, &cs.Environment, &from, &to, &strategy, &changes, &detail)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, sluice.Errorf(sluice.ENOTFOUND, "change set %q not found; create it by running the pipeline up to the environment's CreateChangeSet action", digest)
	case err != nil:
		return nil, wrap(err, "read change set %s", digest)
	}
	var (
		errs [4]error
		toV  *sluice.Version
	)
	cs.From, errs[0] = parseVersion(from)
	if toV, errs[1] = parseVersion(to); toV != nil {
		cs.To = *toV
	}
	errs[2] = parseJSON(strategy, &cs.Strategy)
	errs[3] = parseJSON(changes, &cs.Changes)
	if detail.Valid && detail.String != "" {
		cs.Detail = json.RawMessage(detail.String)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, wrap(err, "read change set %s", digest)
	}
	return &cs, nil
}
