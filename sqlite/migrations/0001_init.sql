-- The first schema. Times are UTC text, fixed width ("2006-01-02T15:04:05.000000000Z"), NULL when
-- unset; structured fields are JSON text, NULL when nil. Sequence and ID columns are AUTOINCREMENT
-- so a number is never handed out twice, even after the newest row is deleted.

CREATE TABLE executions (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	pipeline   TEXT NOT NULL,
	revision   TEXT NOT NULL,
	subject    TEXT NOT NULL,
	status     TEXT NOT NULL,
	artifact   TEXT NOT NULL,
	error      TEXT NOT NULL,
	route      TEXT NOT NULL,
	route_file TEXT NOT NULL,
	created_at TEXT,
	started_at TEXT,
	ended_at   TEXT
);

CREATE INDEX executions_by_status ON executions (status);

CREATE TABLE stage_executions (
	execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
	stage        TEXT NOT NULL,
	position     INTEGER NOT NULL, -- the stage's index in the plan
	status       TEXT NOT NULL,
	started_at   TEXT,
	ended_at     TEXT,
	PRIMARY KEY (execution_id, stage)
);

-- The implicit rowid keeps the order actions were created in.
CREATE TABLE action_executions (
	execution_id TEXT NOT NULL,
	stage        TEXT NOT NULL,
	action       TEXT NOT NULL,
	kind         TEXT NOT NULL,
	run_order    INTEGER NOT NULL,
	status       TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	started_at   TEXT,
	ended_at     TEXT,
	error        TEXT NOT NULL,
	summary      TEXT NOT NULL,
	outputs      TEXT, -- JSON object
	PRIMARY KEY (execution_id, stage, action),
	FOREIGN KEY (execution_id, stage) REFERENCES stage_executions (execution_id, stage) ON DELETE CASCADE
);

CREATE TABLE builds (
	revision   TEXT PRIMARY KEY,
	digest     TEXT NOT NULL,
	size       INTEGER NOT NULL,
	created_at TEXT
);

CREATE TABLE approvals (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	execution_id      TEXT NOT NULL,
	environment       TEXT NOT NULL,
	change_set_digest TEXT NOT NULL,
	approvers         TEXT, -- JSON array
	status            TEXT NOT NULL,
	requested_at      TEXT,
	expires_at        TEXT,
	decided_by        TEXT NOT NULL,
	decided_at        TEXT,
	comment           TEXT NOT NULL,
	expired           INTEGER NOT NULL
);

CREATE INDEX approvals_by_environment ON approvals (environment, id);

CREATE TABLE change_sets (
	digest       TEXT PRIMARY KEY,
	environment  TEXT NOT NULL,
	from_version TEXT, -- JSON Version; NULL when the environment ran nothing
	to_version   TEXT NOT NULL,
	strategy     TEXT NOT NULL,
	changes      TEXT -- JSON array
);

CREATE TABLE deployments (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	environment       TEXT NOT NULL,
	execution_id      TEXT NOT NULL,
	change_set_digest TEXT NOT NULL,
	from_artifact     TEXT NOT NULL,
	to_artifact       TEXT NOT NULL,
	revision          TEXT NOT NULL,
	strategy          TEXT NOT NULL,
	status            TEXT NOT NULL,
	reason            TEXT NOT NULL,
	started_at        TEXT,
	ended_at          TEXT,
	rollback          TEXT -- JSON Rollback
);

CREATE INDEX deployments_by_environment ON deployments (environment, id);

CREATE TABLE environments (
	name          TEXT PRIMARY KEY,
	address       TEXT NOT NULL,
	live          TEXT, -- JSON Version
	previous      TEXT, -- JSON Version
	deploying     TEXT, -- JSON Version
	deployment_id INTEGER NOT NULL,
	frozen        INTEGER NOT NULL,
	frozen_reason TEXT NOT NULL,
	updated_at    TEXT
);

CREATE TABLE events (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	id                TEXT NOT NULL,
	spec_version      TEXT NOT NULL,
	source            TEXT NOT NULL,
	type              TEXT NOT NULL,
	subject           TEXT NOT NULL,
	time              TEXT,
	data_content_type TEXT NOT NULL,
	data              TEXT -- JSON, as the event carried it
);
