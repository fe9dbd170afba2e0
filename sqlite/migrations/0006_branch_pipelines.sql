-- Branch and pull-request pipelines come and go with git events: a removed pipeline says why,
-- a pull request's pipeline with an ephemeral environment expires, and every webhook delivery
-- Sluice accepted is kept, so a delivery made again (same provider and ID) is refused as a
-- replay, across restarts too.
ALTER TABLE pipelines ADD COLUMN removed_because TEXT NOT NULL DEFAULT '';
ALTER TABLE pipelines ADD COLUMN expires_at TEXT;

CREATE TABLE webhook_deliveries (
	provider    TEXT NOT NULL,
	id          TEXT NOT NULL,
	event       TEXT NOT NULL,
	pipeline    TEXT NOT NULL DEFAULT '',
	outcome     TEXT NOT NULL DEFAULT '',
	received_at TEXT NOT NULL,
	PRIMARY KEY (provider, id)
);
