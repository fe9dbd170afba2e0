// Package sqlite keeps the engine's state in one SQLite file: the default store of Sluice, with
// nothing to install (the driver, modernc.org/sqlite, is pure Go).
//
// The map of the package:
//
//	db.go          Open, Close, the write transaction every change goes through
//	migrate.go     the embedded schema migrations (migrations/*.sql), applied in order
//	codec.go       how times, JSON fields and versions are written to columns and read back
//	executions.go  executions, stages and actions
//	builds.go      builds by pipeline and revision
//	approvals.go   approval requests and their one decision
//	changesets.go  change sets by digest
//	deployments.go deployments and environment state
//	events.go      the event history
//	leases.go      who owns an execution, a stage or an environment, until when
//	pipelines.go   the pipelines of routes (main, branch, pull request)
//	cursors.go     how far each consumer of the events has read them
//	outbox.go      the notices to send, filled from the events with a cursor
//
// Durability: the file is in WAL mode with synchronous=NORMAL. A committed transaction survives
// the process being killed at any moment (SIGKILL, a panic, an OOM kill); a power loss or an
// operating system crash may lose the last transactions committed before it, never the file.
//
// Concurrency: all writes go through one connection and begin with BEGIN IMMEDIATE, so they are
// serialized within the process and take the database's write lock up front against other
// processes (a `sluice approve` next to `sluice up`), waiting up to the busy timeout for it.
// Reads use a separate pool of read-only connections and never wait for a write in progress.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store"
)

var _ store.Store = (*DB)(nil)

// busyTimeoutMillis is how long a statement waits for another process's lock before failing.
// Writers hold the lock for a few milliseconds, so five seconds only runs out when another
// process is stuck.
const busyTimeoutMillis = 5000

// readConnections bounds the read pool: a handful covers the API, the UI and the engine reading
// at once, without holding many file descriptors.
const readConnections = 4

// DB is a store in one SQLite file. Create it with Open; the zero value is not usable. All
// methods are safe for concurrent use.
type DB struct {
	path  string
	write *sql.DB // one connection: SQLite has one writer at a time anyway
	read  *sql.DB // read-only connections
}

// Open opens the state database at path, creating the file if it does not exist (its directory
// must), and brings its schema up to date. It refuses a database written by a newer Sluice
// (ECONFLICT) and a file that is not a SQLite database (ECORRUPT); both errors name the path and
// say what to do.
func Open(path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, sluice.Errorf(sluice.EINVALID, "state database path %q is not a plain file path; give a path such as .sluice/state.db", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	db := &DB{path: abs}
	if err := createPrivate(abs); err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "cannot create state database %s (%w); check that its directory exists and is writable, or choose another state directory with --state", abs, err)
	}

	db.write, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"on"},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, db.openError(err)
	}
	db.write.SetMaxOpenConns(1)
	if err := db.write.Ping(); err != nil {
		db.write.Close()
		return nil, db.openError(err)
	}
	if err := db.migrate(context.Background()); err != nil {
		db.write.Close()
		return nil, db.openError(err)
	}

	// The read pool opens only after migration: its connections then see the final schema, and
	// query_only keeps a bug from writing outside the write transaction.
	db.read, err = sql.Open("sqlite", dsn(abs, url.Values{"_query_only": {"on"}}))
	if err != nil {
		db.write.Close()
		return nil, db.openError(err)
	}
	db.read.SetMaxOpenConns(readConnections)
	db.read.SetMaxIdleConns(readConnections)
	if err := db.read.Ping(); err != nil {
		db.Close()
		return nil, db.openError(err)
	}
	return db, nil
}

// createPrivate creates the file at path, readable by its owner only, unless it exists: SQLite
// would create it readable by everyone, and its WAL and shared-memory files take the database
// file's permissions.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return err
	}
	return f.Close()
}

func dsn(path string, params url.Values) string {
	params.Set("_busy_timeout", fmt.Sprint(busyTimeoutMillis))
	return path + "?" + params.Encode()
}

// Close closes the database. Calls after the first return nil.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close state database %s: %w", db.path, err)
	}
	return nil
}

// openError turns a failure to open or migrate into a sentence about the file.
func (db *DB) openError(err error) error {
	var serr *sluice.Error
	if errors.As(err, &serr) {
		return err
	}
	var lite *sqlitedriver.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return sluice.Errorf(sluice.ECORRUPT, "state database %s is not a SQLite database or is damaged (%w); move it aside to start with empty state, or restore it from a backup", db.path, err)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_AUTH:
			return sluice.Errorf(sluice.EINVALID, "cannot open state database %s (%w); check that its directory exists and is writable, or choose another state directory with --state", db.path, err)
		case sqlite3.SQLITE_BUSY:
			return sluice.Errorf(sluice.ECONFLICT, "state database %s is locked by another process (%w); stop the other sluice or wait for it to finish", db.path, err)
		case sqlite3.SQLITE_FULL:
			return sluice.Errorf(sluice.EINTERNAL, "state database %s cannot grow: the disk is full (%w); free some space and try again", db.path, err)
		}
	}
	return fmt.Errorf("open state database %s: %w", db.path, err)
}

// update runs fn and stores events in one write transaction. Only once it has committed does it
// give the events their Seq (and any defaults it filled in) and run done, so a failed change
// leaves the caller's values as they were.
func (db *DB) update(ctx context.Context, events []sluice.Event, fn func(tx *sql.Tx) error, done func()) (err error) {
	if _, err := prepareEvents(events); err != nil {
		return err // refused before any write
	}
	return db.updateThen(ctx, func(tx *sql.Tx) ([]sluice.Event, error) { return events, fn(tx) }, done)
}

// updateThen is update for writes whose events are known only once fn has written (they carry
// an ID the write assigned): fn returns them, and they are stored in the same transaction, their
// Seq set in the slice fn returned.
func (db *DB) updateThen(ctx context.Context, fn func(tx *sql.Tx) ([]sluice.Event, error), done func()) (err error) {
	defer func() { err = markDiskFull(err) }()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit; a failed rollback leaves nothing to do
	events, err := fn(tx)
	if err != nil {
		return err
	}
	stored, err := prepareEvents(events)
	if err != nil {
		return err
	}
	if err := insertEvents(ctx, tx, stored); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	copy(events, stored)
	if done != nil {
		done()
	}
	return nil
}

// view runs fn in one read transaction, so what it reads is one consistent snapshot.
func (db *DB) view(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // nothing was written
	return fn(tx)
}

// limitArg turns "limit <= 0 means all" into SQLite's "a negative LIMIT means none".
func limitArg(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exists reports whether query, which selects one row or none, finds a row.
func exists(ctx context.Context, q queryer, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// mustAffect turns "the UPDATE matched no row" into notFound.
func mustAffect(res sql.Result, notFound func() error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("count updated rows: %w", err)
	}
	if n == 0 {
		return notFound()
	}
	return nil
}

// wrap says what was being done when err happened, unless err is already a *sluice.Error: that
// is a sentence for the user, and a prefix would only repeat what it says.
func wrap(err error, doing string, args ...any) error {
	var serr *sluice.Error
	if err == nil || errors.As(err, &serr) {
		return err
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(doing, args...), err)
}

// diskFullError is a write that failed because the disk is full. It matches syscall.ENOSPC
// with errors.Is, so the engine can wait for space instead of giving up on the change, whatever
// store it uses.
type diskFullError struct{ err error }

func (e *diskFullError) Error() string {
	return e.err.Error() + " (ENOSPC: the disk holding the state database is full)"
}
func (e *diskFullError) Unwrap() error        { return e.err }
func (e *diskFullError) Is(target error) bool { return target == syscall.ENOSPC }

// markDiskFull marks err as a disk-full error when SQLite says so (SQLITE_FULL, or an I/O error
// from ENOSPC).
func markDiskFull(err error) error {
	var lite *sqlitedriver.Error
	if err == nil || errors.Is(err, syscall.ENOSPC) || !errors.As(err, &lite) || lite.Code()&0xff != sqlite3.SQLITE_FULL {
		return err
	}
	return &diskFullError{err: err}
}
