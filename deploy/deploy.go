// Package deploy is the contract between the engine and the places it deploys to, and the
// change-set computation they share. A provider (local, aws) registers by target name in cmd
// wiring; the engine sees only this package.
package deploy

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// Request is one deployment of a change set to an environment.
type Request struct {
	Environment string
	// Listen is the environment's stable address from sluice.yaml; empty means the provider
	// chooses (and keeps, through State.Address).
	Listen string
	From   *sluice.Version // live now; nil when the environment runs nothing yet
	To     sluice.Version
	Alarms []sluice.Alarm
	// Secrets are the values of To.Secrets, read by the engine at deploy time; never stored.
	Secrets map[string]string
	// Sticky keeps a client on one version while traffic shifts.
	Sticky bool
	// DrainTimeout bounds how long a stopping version may finish in-flight requests.
	DrainTimeout time.Duration
	// Hook runs a lifecycle hook ("pre_traffic" or "post_traffic") against endpoint; it returns
	// nil when the hook is not configured. A non-nil error rolls the deployment back.
	Hook func(ctx context.Context, phase, endpoint string) error
	// Progress is told of each step (may be nil). It must not block.
	Progress func(Progress)
	// Log receives the provider's narration of the deployment (may be nil).
	Log func(format string, args ...any)
}

// Progress is a step of a deployment, for people watching it.
type Progress struct {
	Phase  string `json:"phase"`  // "starting", "healthy", "shifting", "baking", "rolling_back", "done"
	Weight int    `json:"weight"` // percent of traffic on the new version
}

// Result is how a deployment ended.
type Result struct {
	Status   sluice.Status // Succeeded, RolledBack or Failed
	Reason   string        // a sentence, when not Succeeded
	Rollback *sluice.Rollback
}

// Provider applies versions to environments of one target.
//
// Implementations are safe for concurrent use across environments; the engine never runs two
// calls for the same environment at once.
type Provider interface {
	// Address returns where the environment serves, creating its entry point if needed (a local
	// router starts listening). Idempotent.
	Address(ctx context.Context, env, listen string) (string, error)
	// Deploy starts To, shifts traffic from From by To.Strategy while watching alarms, and ends
	// with all traffic on To (Succeeded) or on From (RolledBack, Failed). It blocks until done.
	// Safe after a partial failure: a new Deploy for the same environment starts from whatever
	// serves now. A canceled ctx rolls back and returns ctx's error.
	Deploy(ctx context.Context, req Request) (Result, error)
	// Restore makes the environment serve live again after a restart, discarding anything half
	// deployed. Idempotent.
	Restore(ctx context.Context, env, listen string, live *sluice.Version, secrets map[string]string) error
	// Status describes what serves now, for status displays and metrics; nil if nothing.
	Status(env string) *EnvironmentStatus
	// Close stops every environment's versions and entry points.
	Close() error
}

// EnvironmentStatus is what a provider reports about one environment.
type EnvironmentStatus struct {
	Address  string          `json:"address"`
	Versions []VersionStatus `json:"versions"`
	// Problem says why the live version does not serve now (it crashed and is being
	// restarted); empty when it serves.
	Problem string `json:"problem,omitempty"`
	// Restarts counts the times a crashed live version was restarted since the engine started;
	// LastRestart is when the last one was.
	Restarts    int       `json:"restarts,omitempty"`
	LastRestart time.Time `json:"last_restart,omitzero"`
}

// VersionStatus is one running version and its share of traffic.
type VersionStatus struct {
	ID        string  `json:"id"`
	Pid       int     `json:"pid,omitempty"` // the process, where the provider runs one
	Artifact  string  `json:"artifact"`
	Revision  string  `json:"revision"`
	Address   string  `json:"address"`
	Weight    int     `json:"weight"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	InFlight  int64   `json:"in_flight"`
	ErrorRate float64 `json:"error_rate"`
}
