package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
)

// oldDatabase creates a database at schema version 2, the schema before pipelines, by applying
// the first two embedded migrations, and runs rows against it.
func oldDatabase(t *testing.T, rows string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if _, err := raw.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00.000000000Z')`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, rows); err != nil {
		t.Fatalf("old rows: %v", err)
	}
	return path
}

// oldRows are what a route's state held before pipelines: two executions of the main branch,
// a build, an approval, a deployment by an execution and one by `sluice rollback`, the
// environment's state, and the leases of a stage and an environment.
const oldRows = `
INSERT INTO executions (id, pipeline, revision, subject, status, artifact, error, route, route_file, created_at, started_at, ended_at, waiting)
VALUES ('ex-1', 'hello-api@main', 'rev1', 'first', 'Succeeded', 'sha256:1', '', 'version: 1', '/r/sluice.yaml', '2026-01-01T10:00:00.000000000Z', NULL, '2026-01-01T10:05:00.000000000Z', ''),
       ('ex-2', 'hello-api@main', 'rev2', 'second', 'InProgress', '', '', 'version: 1', '/r/sluice.yaml', '2026-01-02T10:00:00.000000000Z', NULL, NULL, '');
INSERT INTO builds (revision, digest, size, created_at) VALUES ('rev1', 'sha256:1', 42, '2026-01-01T10:01:00.000000000Z');
INSERT INTO approvals (execution_id, environment, change_set_digest, approvers, status, requested_at, expires_at, decided_by, decided_at, comment, expired)
VALUES ('ex-2', 'prod', 'sha256:cs', NULL, 'Waiting', '2026-01-02T10:03:00.000000000Z', '2026-01-09T10:03:00.000000000Z', '', NULL, '', 0);
INSERT INTO deployments (environment, execution_id, change_set_digest, from_artifact, to_artifact, revision, strategy, status, reason, started_at, ended_at, rollback)
VALUES ('dev', 'ex-1', 'sha256:cs1', '', 'sha256:1', 'rev1', 'AllAtOnce', 'Succeeded', '', '2026-01-01T10:02:00.000000000Z', '2026-01-01T10:03:00.000000000Z', NULL),
       ('dev', '', '', 'sha256:1', 'sha256:0', 'rev0', 'AllAtOnce', 'Succeeded', '', '2026-01-01T11:00:00.000000000Z', '2026-01-01T11:01:00.000000000Z', NULL);
INSERT INTO environments (name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at)
VALUES ('dev', '127.0.0.1:8081', '{"artifact":"sha256:1","revision":"rev1"}', NULL, NULL, 2, 1, 'held', '2026-01-01T11:01:00.000000000Z');
INSERT INTO leases (key, owner, acquired_at, expires_at)
VALUES ('stage/hello-api@main/prod', 'ex-2', '2026-01-02T10:03:00.000000000Z', '2026-01-02T10:04:00.000000000Z'),
       ('environment/dev', 'engine/h/1/ab', '2026-01-02T10:03:00.000000000Z', '2026-01-02T10:04:00.000000000Z');
`

func TestMigrationPutsOldRecordsInTheMainPipeline(t *testing.T) {
	db := open(t, oldDatabase(t, oldRows))
	ctx := t.Context()
	const main = "hello-api@main"

	pipelines, err := db.ListPipelines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pipelines) != 1 {
		t.Fatalf("pipelines after migration: %+v, want the main one", pipelines)
	}
	p := pipelines[0]
	if p.ID != main || p.Route != "hello-api" || p.Kind != sluice.KindMain || p.Branch != "main" || p.State != sluice.PipelineActive || p.CreatedAt.IsZero() {
		t.Errorf("main pipeline = %+v", p)
	}
	if exs, err := db.ListExecutions(ctx, main, false, 0); err != nil || len(exs) != 2 {
		t.Errorf("executions of the main pipeline: %d, %v; want 2", len(exs), err)
	}
	b, err := db.Build(ctx, main, "rev1")
	if err != nil || b.Digest != "sha256:1" || b.Size != 42 || b.Pipeline != main {
		t.Errorf("build of rev1 in main: %+v, %v", b, err)
	}
	as, err := db.ListApprovals(ctx, main, "prod", true)
	if err != nil || len(as) != 1 || as[0].Pipeline != main || as[0].ExecutionID != "ex-2" {
		t.Errorf("waiting approvals of prod in main: %+v, %v", as, err)
	}
	ds, err := db.ListDeployments(ctx, main, "dev", 0)
	if err != nil || len(ds) != 2 || ds[0].ExecutionID != "" || ds[1].ExecutionID != "ex-1" {
		t.Errorf("history of dev in main: %+v, %v; want the rollback and the execution's deployment", ds, err)
	}
	st, err := db.Environment(ctx, main, "dev")
	if err != nil || st.Pipeline != main || st.Address != "127.0.0.1:8081" || !st.Frozen || st.Live == nil || st.Live.Artifact != "sha256:1" || st.DeploymentID != 2 {
		t.Errorf("dev of main: %+v, %v", st, err)
	}
	for _, key := range []string{"stage/hello-api@main/prod", "environment/hello-api@main/dev"} {
		if _, err := db.Lease(ctx, key); err != nil {
			t.Errorf("lease %s after migration: %v", key, err)
		}
	}
	if _, err := db.Lease(ctx, "environment/dev"); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("the lease under its old key is still there: %v", err)
	}
	// What the migration keyed is written and read like new records.
	if err := db.SaveEnvironment(ctx, &sluice.EnvironmentState{Pipeline: "hello-api@other", Name: "dev", Address: "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	if st, err := db.Environment(ctx, main, "dev"); err != nil || st.Address != "127.0.0.1:8081" {
		t.Errorf("dev of main after another pipeline saved its dev: %+v, %v", st, err)
	}
}

func TestMigrationRenamesABranchThatIsNotItsOwnSlug(t *testing.T) {
	// A route whose source.branch was "release/1.0", and that ran on "main" before that.
	rows := `
INSERT INTO executions (id, pipeline, revision, subject, status, artifact, error, route, route_file, created_at, started_at, ended_at, waiting)
VALUES ('ex-0', 'hello-api@main', 'rev0', '', 'Succeeded', '', '', '', '', '2026-01-01T09:00:00.000000000Z', NULL, '2026-01-01T09:30:00.000000000Z', ''),
       ('ex-1', 'hello-api@release/1.0', 'rev1', '', 'InProgress', '', '', '', '', '2026-01-01T10:00:00.000000000Z', NULL, NULL, '');
INSERT INTO environments (name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at)
VALUES ('dev', '127.0.0.1:8081', NULL, NULL, NULL, 0, 0, '', NULL);
INSERT INTO leases (key, owner, acquired_at, expires_at)
VALUES ('stage/hello-api@release/1.0/dev', 'ex-1', '2026-01-01T10:00:00.000000000Z', '2026-01-01T10:01:00.000000000Z');
`
	db := open(t, oldDatabase(t, rows))
	ctx := t.Context()
	id := sluice.PipelineID("hello-api", sluice.KindMain, "release/1.0", 0)
	if id == "hello-api@release/1.0" {
		t.Fatalf("PipelineID kept the slash: %s", id)
	}
	p, err := db.Pipeline(ctx, id)
	if err != nil || p.Branch != "release/1.0" || p.State != sluice.PipelineActive {
		t.Fatalf("pipeline %s: %+v, %v", id, p, err)
	}
	old, err := db.Pipeline(ctx, "hello-api@main")
	if err != nil || old.State != sluice.PipelineRemoved || old.RemovedAt.IsZero() {
		t.Errorf("the branch the route followed before: %+v, %v; want it removed", old, err)
	}
	ex, err := db.Execution(ctx, "ex-1")
	if err != nil || ex.Pipeline != id {
		t.Errorf("execution ex-1: %+v, %v; want pipeline %s", ex, err, id)
	}
	if _, err := db.Environment(ctx, id, "dev"); err != nil {
		t.Errorf("dev of %s: %v", id, err)
	}
	if _, err := db.Lease(ctx, "stage/"+id+"/dev"); err != nil {
		t.Errorf("stage lease under the new ID: %v", err)
	}
}
