package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice"
)

// AcquireLease gives key to owner until now+ttl when it is free, expired, already owner's, or
// held by replace; otherwise ECONFLICT with the lease that stands.
func (db *DB) AcquireLease(ctx context.Context, key, owner, replace string, now time.Time, ttl time.Duration) (*sluice.Lease, error) {
	if key == "" || owner == "" || ttl <= 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "a lease needs a key, an owner and a positive duration (got %q, %q, %s)", key, owner, ttl)
	}
	var got *sluice.Lease
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		cur, err := lease(ctx, tx, key)
		if err != nil && sluice.ErrorCode(err) != sluice.ENOTFOUND {
			return err
		}
		acquired := now
		if cur != nil {
			switch {
			case cur.Owner == owner:
				acquired = cur.AcquiredAt
			case cur.Expired(now) || (replace != "" && cur.Owner == replace):
			default:
				got = cur
				return sluice.Errorf(sluice.ECONFLICT, "%s is held by %s until %s", key, cur.Owner, cur.ExpiresAt.Format(time.RFC3339))
			}
		}
		l := &sluice.Lease{Key: key, Owner: owner, AcquiredAt: acquired.UTC(), ExpiresAt: now.Add(ttl).UTC()}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO leases (key, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
			l.Key, l.Owner, timeArg(l.AcquiredAt), timeArg(l.ExpiresAt)); err != nil {
			return err
		}
		got = l
		return nil
	}, nil)
	if err != nil {
		return got, wrap(err, "acquire lease %s", key)
	}
	return got, nil
}

// RenewLease extends owner's lease on key to now+ttl; ECONFLICT if owner no longer holds it.
func (db *DB) RenewLease(ctx context.Context, key, owner string, now time.Time, ttl time.Duration) error {
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE key = ? AND owner = ?`, timeArg(now.Add(ttl)), key, owner)
		if err != nil {
			return err
		}
		return mustAffect(res, func() error {
			return sluice.Errorf(sluice.ECONFLICT, "%s is no longer held by %s", key, owner)
		})
	}, nil)
	return wrap(err, "renew lease %s", key)
}

// ReleaseLease gives key up if owner holds it.
func (db *DB) ReleaseLease(ctx context.Context, key, owner string) error {
	err := db.update(ctx, nil, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE key = ? AND owner = ?`, key, owner)
		return err
	}, nil)
	return wrap(err, "release lease %s", key)
}

// Lease returns the lease on key; ENOTFOUND if nobody holds it.
func (db *DB) Lease(ctx context.Context, key string) (*sluice.Lease, error) {
	l, err := lease(ctx, db.read, key)
	return l, wrap(err, "read lease %s", key)
}

func lease(ctx context.Context, q queryer, key string) (*sluice.Lease, error) {
	var (
		l                 sluice.Lease
		acquired, expires sql.NullString
	)
	err := q.QueryRowContext(ctx, `SELECT key, owner, acquired_at, expires_at FROM leases WHERE key = ?`, key).
		Scan(&l.Key, &l.Owner, &acquired, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "nobody holds %s", key)
	}
	if err != nil {
		return nil, err
	}
	var errA, errE error
	l.AcquiredAt, errA = parseTime(acquired)
	l.ExpiresAt, errE = parseTime(expires)
	if err := errors.Join(errA, errE); err != nil {
		return nil, err
	}
	return &l, nil
}
