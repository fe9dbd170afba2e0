// Package deploy is the contract between the engine and the places it deploys to, the
// change-set computation the local provider uses, and the traffic-shift driver every provider
// shares. A provider (local, aws) registers by target name in cmd wiring; the engine sees only
// this package.
//
// A deployment goes through a change set the provider owns:
//
//	Prepare  what would change, with its digest        (local: Diff; aws: CreateChangeSet + DescribeChangeSet)
//	         ... the engine shows it and binds the approval to its digest ...
//	Apply    exactly that change set, shifting traffic  (local: start, shift, bake; aws: ExecuteChangeSet)
//	Discard  it instead, on rejection, supersession or stop (local: nothing held; aws: DeleteChangeSet)
//
// and an environment whose pipeline is removed goes with Teardown (local: stop and free the
// address; aws: DeleteStack).
package deploy

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// Environment names an environment to its provider, with the provider's own configuration of
// it. Every call about an environment carries it, so a provider needs no other source (an AWS
// provider finds the account, region and role of the environment here).
type Environment struct {
	Name string
	// Route is the route's name (sluice.yaml's name), which providers use to name what they
	// create (an AWS stack is <route>-<environment> by default).
	Route string
	// Execution is the execution on whose behalf the call is made (an AWS role session is named
	// after it); empty for a call no execution makes (restore, sluice rollback, status).
	Execution string
	// Config is the environment's target block as its kind's decoder read it
	// (spec.Environment.TargetConfig): *spec.LocalTarget for local; nil for a kind without
	// configuration.
	Config any
	// Listen is where the environment was told to serve: the listen key of sluice.yaml, else
	// the URL Address returned before; empty means the provider chooses.
	Listen string
}

// Request is one application of a prepared change set to an environment.
type Request struct {
	Environment Environment
	// ChangeSet is the change set Prepare returned (as the engine stored it), which the engine
	// has shown and, where the route asks for it, had approved. Apply deploys ChangeSet.To.
	ChangeSet *sluice.ChangeSet
	Alarms    []sluice.Alarm
	// Secrets are the values of ChangeSet.To.Secrets, read by the engine at deploy time; never
	// stored.
	Secrets map[string]string
	// Sticky keeps a client on one version while traffic shifts.
	Sticky bool
	// DrainTimeout bounds how long a stopping version may finish in-flight requests. If zero,
	// the provider's default is used.
	DrainTimeout time.Duration
	// Hook runs a lifecycle hook ("pre_traffic" or "post_traffic") against endpoint (a URL); it
	// returns nil when the hook is not configured. A non-nil error rolls the deployment back.
	// env holds variables the provider adds for the hook (aws: the function, alias and versions).
	Hook func(ctx context.Context, phase, endpoint string, env map[string]string) error
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

// Provider prepares, applies and discards change sets in environments of one target.
//
// Implementations are safe for concurrent use across environments. Within one environment the
// engine calls Restore only at start, before anything else, and Apply only while it holds the
// environment's lock, so neither overlaps another Apply of that environment; Prepare, Discard,
// Address and Status may run beside an Apply (sluice rollback applies while an execution
// prepares).
//
// Adding a target is a package with a Provider, a spec.TargetKind for its block, and two
// lines of cmd wiring: spec.RegisterTarget and Register. The engine names no provider.
type Provider interface {
	// Address returns the URL where the environment serves (such as http://127.0.0.1:8081),
	// creating its entry point if needed (a local router starts listening) where env.Listen
	// says. Idempotent: later calls return the same URL.
	// Safe after a partial failure (an entry point half created is taken up or made anew).
	Address(ctx context.Context, env Environment) (string, error)
	// Prepare computes the change set that takes env from live (nil: it runs nothing) to `to`,
	// as the engine recorded and planned them, with its
	// digest set (see Seal): the sha256 of everything that would change, so that an approval of
	// it authorises nothing else. It changes nothing that serves. A provider that holds something
	// for a prepared change set (an AWS change set) creates it here, named after the digest so
	// that Apply and Discard find it again after a restart. Idempotent: the same proposal gives
	// the same digest, and preparing it again reuses what the first call made. Safe after a
	// partial failure. An empty change set (no Changes) is never applied, only discarded.
	Prepare(ctx context.Context, env Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error)
	// Apply deploys exactly req.ChangeSet: it starts ChangeSet.To, shifts traffic from what
	// serves by ChangeSet.To.Strategy while watching alarms, and ends with all traffic on the
	// new version (Succeeded) or on the old one (RolledBack, Failed). It blocks until done. It
	// refuses, with ECONFLICT and nothing changed, a change set it can no longer apply (an AWS
	// stack that moved since). Not idempotent (each call is a deployment), but safe after a
	// partial failure: a new Apply for the same environment starts from whatever serves now. A
	// canceled ctx rolls back and returns ctx's error.
	Apply(ctx context.Context, req Request) (Result, error)
	// Discard lets go of a prepared change set that will not be applied (rejected, superseded,
	// stopped, or with nothing to apply). It changes nothing that serves. Idempotent: discarding
	// a change set already discarded, applied or never held is not an error. Safe after a
	// partial failure.
	Discard(ctx context.Context, env Environment, cs *sluice.ChangeSet) error
	// Restore makes the environment serve live again after a restart, discarding anything half
	// deployed. Idempotent, and safe after a partial failure (that is what it is for).
	Restore(ctx context.Context, env Environment, live *sluice.Version, secrets map[string]string) error
	// Teardown removes the environment for good, when the pipeline it belongs to is removed (a
	// branch deleted, a pull request closed or expired): it stops what serves there and frees
	// its entry point (local: the versions stop and the router's address is free; aws: the
	// stack is deleted), and lets go of anything held for it. The engine calls it only once no
	// execution of the pipeline runs, and never for an environment of another pipeline.
	// Idempotent: tearing down an environment never created here, or torn down already, is not
	// an error. Safe after a partial failure.
	Teardown(ctx context.Context, env Environment) error
	// Status describes what serves now, for status displays and metrics; nil and no error for
	// an environment the provider does not serve. Read only; safe to call at any time.
	Status(ctx context.Context, env Environment) (*EnvironmentStatus, error)
	// Close stops every environment's versions and entry points. Call it once, last.
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
	// Outputs are values the provider publishes about the environment (aws: the stack's
	// outputs), by name. Tests see each as SLUICE_ENV_<NAME>, the name in upper snake case
	// (ApiUrl: SLUICE_ENV_API_URL).
	Outputs map[string]string `json:"outputs,omitempty"`
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

// Output is a provider that keeps what the versions it runs print (local: each version's log
// file). The engine reads it for `sluice logs --env`, so nobody reads a provider's folders.
// A provider whose versions print elsewhere (CloudWatch Logs) need not implement it.
type Output interface {
	// VersionOutput returns at most limit bytes of what version of env printed, from offset
	// on; the newest version's when version is "". ENOTFOUND when env has run no version, or
	// not that one. Read only: safe to call at any time, beside an Apply, and from an engine
	// that was never started.
	VersionOutput(ctx context.Context, env Environment, version string, offset int64, limit int) (VersionOutput, error)
}

// VersionOutput is output of one version.
type VersionOutput struct {
	// Version is the version that printed Text: the one asked for, or the newest.
	Version string
	// Text is what it printed from the offset asked for; empty when it printed nothing since.
	Text []byte
}
