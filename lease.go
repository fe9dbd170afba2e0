package sluice

import "time"

// Lease is exclusive ownership of one named thing for a while: an execution driven by one
// engine, a stage held by one execution, an environment deployed to by one engine. The owner
// renews it while it works; once ExpiresAt has passed without a renewal, anyone may take it
// (the owner is presumed gone).
//
// Keys are "execution/<id>", "stage/<pipeline>/<stage>" and "environment/<pipeline>/<name>"; owners are an
// engine's ID (see the engine package) or, for stages, an execution's ID.
type Lease struct {
	Key        string    `json:"key"`
	Owner      string    `json:"owner"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Expired reports whether the lease has run out at now.
func (l *Lease) Expired(now time.Time) bool { return !now.Before(l.ExpiresAt) }
