package sluice

import (
	"encoding/json"
	"strings"
	"time"
)

// Version is what an environment runs: everything that, when it changes, needs a deployment.
// Secret values are never stored: Secrets names variables read at start.
type Version struct {
	Artifact string            `json:"artifact"` // digest
	Revision string            `json:"revision"`
	Command  []string          `json:"command"`
	PortEnv  string            `json:"port_env"`
	Env      map[string]string `json:"env,omitempty"`
	Secrets  []string          `json:"secrets,omitempty"`
	// SecretHashes holds, by name, a keyed hash (hex HMAC-SHA256 under a key of the state
	// directory) of each secret's value when the version was planned; unset secrets are absent.
	// Never the value: it only makes a rotation show up as a change.
	SecretHashes map[string]string `json:"secret_hashes,omitempty"`
	HealthPath   string            `json:"health_path"`
	HealthEvery  Duration          `json:"health_interval"`
	HealthLimit  Duration          `json:"health_timeout"`
	StartTimeout Duration          `json:"start_timeout"`
	// Strategy is how this version was (or will be) shifted in; changing it alone needs no new
	// process.
	Strategy Strategy `json:"strategy"`
}

// Change is one difference a change set would make.
type Change struct {
	Field string `json:"field"` // "artifact", "command", "env.LOG_LEVEL", "health.path", "strategy" …
	From  string `json:"from"`
	To    string `json:"to"`
	// Replaces is true when applying the change needs a new version (a process with new code or
	// configuration) rather than a change of how traffic is shifted.
	Replaces bool `json:"replaces"`
}

// ChangeSet is the reviewed difference between what an environment runs and what it will run.
// Digest is the sha256 of its canonical JSON (without the digest and times), so an approval of
// one change set cannot be used for another.
type ChangeSet struct {
	Digest      string   `json:"digest"`
	Environment string   `json:"environment"`
	From        *Version `json:"from,omitempty"` // nil: the environment runs nothing yet
	To          Version  `json:"to"`
	Strategy    Strategy `json:"strategy"`
	Changes     []Change `json:"changes"`
	// Detail is the provider's own account of the change set, covered by the digest like the
	// rest (aws: the stack, the CloudFormation change set's name, the template's hash, the
	// parameters and the resource changes as CloudFormation described them). Nil for local.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Empty reports whether applying the change set would change nothing.
func (c *ChangeSet) Empty() bool { return len(c.Changes) == 0 }

// Deployment is applying a change set to an environment with a strategy.
type Deployment struct {
	ID              int64     `json:"id"`
	Pipeline        string    `json:"pipeline"`
	Environment     string    `json:"environment"`
	ExecutionID     string    `json:"execution_id,omitempty"` // empty for `sluice rollback`
	ChangeSetDigest string    `json:"change_set_digest,omitempty"`
	From            string    `json:"from,omitempty"` // artifact digest live before
	To              string    `json:"to"`             // artifact digest deployed
	Revision        string    `json:"revision"`
	Strategy        string    `json:"strategy"`
	Status          Status    `json:"status"` // InProgress, then Succeeded, RolledBack or Failed
	Reason          string    `json:"reason,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	EndedAt         time.Time `json:"ended_at,omitzero"`
	Rollback        *Rollback `json:"rollback,omitempty"`
}

// RollbackCause says what made a deployment roll back.
type RollbackCause string

// Every cause a rollback can have.
const (
	CauseAlarm    RollbackCause = "alarm"    // an alarm breached while traffic shifted or baked
	CauseHook     RollbackCause = "hook"     // a pre_traffic or post_traffic hook failed
	CauseHealth   RollbackCause = "health"   // the new version never became healthy
	CauseTraffic  RollbackCause = "traffic"  // the provider could not set the traffic weights
	CauseCanceled RollbackCause = "canceled" // the execution was stopped or the engine shut down
	CauseRestart  RollbackCause = "restart"  // the engine restarted in the middle of the deployment
	CauseManual   RollbackCause = "manual"   // a person ran sluice rollback
)

// RollbackCauses returns every cause a rollback can have (docs/events.md lists each).
func RollbackCauses() []RollbackCause {
	return []RollbackCause{CauseAlarm, CauseHook, CauseHealth, CauseTraffic, CauseCanceled, CauseRestart, CauseManual}
}

// Rollback says why and how fast a deployment was rolled back.
type Rollback struct {
	Cause      RollbackCause `json:"cause"`
	Alarm      string        `json:"alarm,omitempty"` // the alarm's name, when Cause is "alarm"
	Metric     Metric        `json:"metric,omitempty"`
	Value      float64       `json:"value,omitempty"`
	Threshold  float64       `json:"threshold,omitempty"`
	Detail     string        `json:"detail,omitempty"`
	By         string        `json:"by,omitempty"` // who asked, when Cause is "manual"
	BreachedAt time.Time     `json:"breached_at,omitzero"`
	RestoredAt time.Time     `json:"restored_at,omitzero"` // all traffic back on the old version
}

// Reaction is how long the rollback took from breach to all traffic restored.
func (r *Rollback) Reaction() time.Duration {
	if r == nil || r.BreachedAt.IsZero() || r.RestoredAt.IsZero() {
		return 0
	}
	return r.RestoredAt.Sub(r.BreachedAt)
}

// EnvironmentState is what the store keeps about an environment between runs and restarts.
type EnvironmentState struct {
	Pipeline string `json:"pipeline"`
	Name     string `json:"name"`
	// Address is the URL where the environment serves, as its provider returned it, kept so it
	// stays stable across restarts. Older states hold host:port; read it with URL.
	Address  string   `json:"address,omitempty"`
	Live     *Version `json:"live,omitempty"`
	Previous *Version `json:"previous,omitempty"` // the last good version before Live
	// Deploying is the version being deployed, set before traffic moves; on restart it is rolled
	// back.
	Deploying    *Version  `json:"deploying,omitempty"`
	DeploymentID int64     `json:"deployment_id,omitempty"`
	Frozen       bool      `json:"frozen"`
	FrozenReason string    `json:"frozen_reason,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// URL is where the environment serves: Address, with http:// before a host:port recorded by
// earlier versions of Sluice; "" if it never served.
func (s *EnvironmentState) URL() string {
	if s.Address == "" || strings.Contains(s.Address, "://") {
		return s.Address
	}
	return "http://" + s.Address
}
