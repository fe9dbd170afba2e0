-- The notification outbox: one row per notice of one event to one channel. The notifier fills it
-- from the stored events, moving its event cursor in the same transaction, and sends from it;
-- so a notice is neither lost nor put in twice when the engine is killed between the two.
CREATE TABLE deliveries (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	channel       TEXT NOT NULL,
	event_id      TEXT NOT NULL,
	event_seq     INTEGER NOT NULL,
	event_type    TEXT NOT NULL,
	subject       TEXT NOT NULL,
	status        TEXT NOT NULL, -- pending | delivered | failed
	attempts      INTEGER NOT NULL,
	next_attempt  TEXT,          -- when a pending delivery is due
	error         TEXT NOT NULL, -- why the last attempt failed
	claimed_by    TEXT NOT NULL, -- who is sending it now ('' : nobody)
	claimed_until TEXT,
	created_at    TEXT NOT NULL,
	delivered_at  TEXT,
	gave_up_at    TEXT,
	UNIQUE (channel, event_id)
);

-- The sender's query: pending deliveries by when they are due.
CREATE INDEX deliveries_due ON deliveries (status, next_attempt);
