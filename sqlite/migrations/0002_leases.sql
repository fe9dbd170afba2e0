-- Exclusive ownership with expiry (store.Leases): which engine drives an execution, which
-- execution holds a stage, which engine deploys to an environment.
CREATE TABLE leases (
	key         TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	acquired_at TEXT NOT NULL,
	expires_at  TEXT NOT NULL
);

CREATE INDEX leases_by_owner ON leases (owner);

-- What an execution waits for, as a sentence; '' when it does not wait.
ALTER TABLE executions ADD COLUMN waiting TEXT NOT NULL DEFAULT '';
