package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// migrationFiles are the schema changes, one file each, named NNNN_what.sql. A file, once
// released, never changes: a change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order, checking they are numbered 1, 2, 3 …
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		digits, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(digits)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		out = append(out, migration{version: version, name: base, sql: string(text)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d; versions must run 1, 2, 3 … without gaps", m.name, i+1)
		}
	}
	return out, nil
}

// latestVersion is the schema version this build of Sluice writes: the number of its newest
// migration.
func latestVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies the migrations the database has not had, each in its own transaction together
// with its row in schema_migrations, so a crash leaves the schema at a version it knows.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := db.apply(ctx, m, latest); err != nil {
			return err
		}
	}
	// A database with no migration to apply may still be newer than this binary.
	current, err := schemaVersion(ctx, db.write)
	if err != nil {
		return err
	}
	if current > latest {
		return db.tooNew(current, latest)
	}
	return nil
}

// apply runs one migration unless the database already has it. The version is read again inside
// the write transaction, so two processes opening the same new file apply each migration once.
func (db *DB) apply(ctx context.Context, m migration, latest int) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration %s: %w", m.name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if current > latest {
		return db.tooNew(current, latest)
	}
	if current >= m.version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	if finish := finishers[m.version]; finish != nil {
		if err := finish(ctx, tx); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, timeArg(time.Now())); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	return nil
}

func schemaVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (db *DB) tooNew(current, latest int) error {
	return sluice.Errorf(sluice.ECONFLICT, "state database %s has schema version %d, newer than the %d this sluice knows; upgrade sluice, or point --state at another directory", db.path, current, latest)
}

// finishers complete, by version, a migration that needs more than SQL; each runs in its
// migration's transaction, after its SQL.
var finishers = map[int]func(ctx context.Context, tx *sql.Tx) error{
	3: canonicalPipelineIDs,
}

// canonicalPipelineIDs renames the pipelines that executions named "<route>@<branch>" before
// pipelines had IDs to their ID (sluice.PipelineID), everywhere it is stored. Only branch names
// that are not their own slug ("release/1.0") change.
func canonicalPipelineIDs(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, route, branch FROM pipelines WHERE kind = ?`, sluice.KindMain)
	if err != nil {
		return fmt.Errorf("list pipelines: %w", err)
	}
	renames := map[string]string{}
	for rows.Next() {
		var id, route, branch string
		if err := rows.Scan(&id, &route, &branch); err != nil {
			rows.Close()
			return fmt.Errorf("list pipelines: %w", err)
		}
		if want := sluice.PipelineID(route, sluice.KindMain, branch, 0); want != id {
			renames[id] = want
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list pipelines: %w", err)
	}
	for from, to := range renames {
		for _, q := range []string{
			`UPDATE pipelines SET id = ?2 WHERE id = ?1`,
			`UPDATE executions SET pipeline = ?2 WHERE pipeline = ?1`,
			`UPDATE builds SET pipeline = ?2 WHERE pipeline = ?1`,
			`UPDATE approvals SET pipeline = ?2 WHERE pipeline = ?1`,
			`UPDATE deployments SET pipeline = ?2 WHERE pipeline = ?1`,
			`UPDATE environments SET pipeline = ?2 WHERE pipeline = ?1`,
			`UPDATE leases SET key = 'stage/' || ?2 || substr(key, length('stage/' || ?1) + 1) WHERE substr(key, 1, length('stage/' || ?1 || '/')) = 'stage/' || ?1 || '/'`,
			`UPDATE leases SET key = 'environment/' || ?2 || substr(key, length('environment/' || ?1) + 1) WHERE substr(key, 1, length('environment/' || ?1 || '/')) = 'environment/' || ?1 || '/'`,
		} {
			if _, err := tx.ExecContext(ctx, q, from, to); err != nil {
				return fmt.Errorf("rename pipeline %s to %s: %w", from, to, err)
			}
		}
	}
	return nil
}
