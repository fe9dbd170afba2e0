-- Every record belongs to a pipeline: a route bound to its main branch, another branch or a pull
-- request. Executions named theirs already ("<route>@<branch>"); builds, approvals, deployments,
-- environment states and environment leases now do too, so two pipelines of one route with the
-- same environment names never share state. Change sets stay keyed by digest and artifacts by
-- digest: the same content is the same thing in every pipeline.
--
-- What was stored before belongs to the route's main pipeline: the pipeline of the newest
-- execution ('' in a database that never ran one).

CREATE TABLE pipelines (
	id           TEXT PRIMARY KEY,
	route        TEXT NOT NULL,
	kind         TEXT NOT NULL, -- main | branch | pull_request
	branch       TEXT NOT NULL,
	pull_request INTEGER NOT NULL, -- 0 unless kind is pull_request
	state        TEXT NOT NULL, -- active | removed
	created_at   TEXT,
	removed_at   TEXT
);

CREATE TEMP TABLE migration_main AS
	SELECT coalesce((SELECT pipeline FROM executions ORDER BY seq DESC LIMIT 1), '') AS id;

-- Every pipeline executions name was a main pipeline; the newest is the one that runs now.
INSERT INTO pipelines (id, route, kind, branch, pull_request, state, created_at, removed_at)
	SELECT pipeline,
		substr(pipeline, 1, instr(pipeline, '@') - 1),
		'main',
		substr(pipeline, instr(pipeline, '@') + 1),
		0,
		CASE WHEN pipeline = (SELECT id FROM migration_main) THEN 'active' ELSE 'removed' END,
		min(created_at),
		CASE WHEN pipeline = (SELECT id FROM migration_main) THEN NULL ELSE max(coalesce(ended_at, created_at)) END
	FROM executions
	WHERE instr(pipeline, '@') > 1
	GROUP BY pipeline;

CREATE INDEX executions_by_pipeline ON executions (pipeline, revision);

-- Builds: one per pipeline and revision.
CREATE TABLE builds_by_pipeline (
	pipeline   TEXT NOT NULL,
	revision   TEXT NOT NULL,
	digest     TEXT NOT NULL,
	size       INTEGER NOT NULL,
	created_at TEXT,
	PRIMARY KEY (pipeline, revision)
);
INSERT INTO builds_by_pipeline (pipeline, revision, digest, size, created_at)
	SELECT coalesce((SELECT e.pipeline FROM executions e WHERE e.revision = b.revision ORDER BY e.seq DESC LIMIT 1),
			(SELECT id FROM migration_main)),
		b.revision, b.digest, b.size, b.created_at
	FROM builds b;
DROP TABLE builds;
ALTER TABLE builds_by_pipeline RENAME TO builds;

-- Approvals and deployments: the pipeline of their execution (a rollback has none: main).
ALTER TABLE approvals ADD COLUMN pipeline TEXT NOT NULL DEFAULT '';
UPDATE approvals SET pipeline = coalesce((SELECT e.pipeline FROM executions e WHERE e.id = approvals.execution_id),
	(SELECT id FROM migration_main));
DROP INDEX approvals_by_environment;
CREATE INDEX approvals_by_environment ON approvals (pipeline, environment, id);

ALTER TABLE deployments ADD COLUMN pipeline TEXT NOT NULL DEFAULT '';
UPDATE deployments SET pipeline = coalesce((SELECT e.pipeline FROM executions e WHERE e.id = deployments.execution_id),
	(SELECT id FROM migration_main));
DROP INDEX deployments_by_environment;
CREATE INDEX deployments_by_environment ON deployments (pipeline, environment, id);

-- Environment states: one per pipeline and environment name.
CREATE TABLE environments_by_pipeline (
	pipeline      TEXT NOT NULL,
	name          TEXT NOT NULL,
	address       TEXT NOT NULL,
	live          TEXT, -- JSON Version
	previous      TEXT, -- JSON Version
	deploying     TEXT, -- JSON Version
	deployment_id INTEGER NOT NULL,
	frozen        INTEGER NOT NULL,
	frozen_reason TEXT NOT NULL,
	updated_at    TEXT,
	PRIMARY KEY (pipeline, name)
);
INSERT INTO environments_by_pipeline (pipeline, name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at)
	SELECT (SELECT id FROM migration_main), name, address, live, previous, deploying, deployment_id, frozen, frozen_reason, updated_at
	FROM environments;
DROP TABLE environments;
ALTER TABLE environments_by_pipeline RENAME TO environments;

-- Environment leases were "environment/<name>"; now "environment/<pipeline>/<name>".
UPDATE leases SET key = 'environment/' || (SELECT id FROM migration_main) || '/' || substr(key, length('environment/') + 1)
	WHERE key LIKE 'environment/%';

DROP TABLE migration_main;
