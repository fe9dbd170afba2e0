-- How far each consumer of the events (a notifier, a UI) has read them: the Seq of the last
-- event it handled (store.EventCursors).
CREATE TABLE event_cursors (
	consumer   TEXT PRIMARY KEY,
	seq        INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);
