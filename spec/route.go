// Package spec turns a sluice.yaml into a Route and says precisely what is wrong with it.
//
// Parse walks the YAML syntax tree rather than decoding into structs, so that every problem in
// a file is reported at once, each with its line, column and path (environments[1].deploy.strategy),
// and so that keys with more than one form (health, strategy) read naturally. Defaults are filled
// in by Parse: a Route that comes back without errors needs no further checks by its consumers.
//
// The files, in the order data goes through them: bounds.go measures the text before the YAML
// parser sees it (size, lines, nesting, UTF-8); parse.go parses; walk.go holds the typed
// accessors over the syntax tree; read.go maps each key onto Route; target.go holds the registry
// of targets, whose providers decode their own block of environments[].target; validate.go
// checks across keys; diagnostics.go and suggest.go say what is wrong and what would be right.
package spec

import (
	"time"

	"github.com/sluicehq/sluice"
)

// Route is a parsed, validated and defaulted sluice.yaml, version 1.
// Field names follow the file's keys; the JSON tags are the file's keys too.
type Route struct {
	Version       int                  `json:"version"`
	Name          string               `json:"name"`
	Source        Source               `json:"source"`
	Build         Build                `json:"build"`
	Checks        []Gate               `json:"checks,omitempty"`
	Service       Service              `json:"service"`
	Environments  []Environment        `json:"environments"`
	ExecutionMode sluice.ExecutionMode `json:"execution_mode"`
	// Secrets names variables taken from Sluice's own environment at run time and given to every
	// action and service. Their values are masked in logs and change sets.
	Secrets []string `json:"secrets,omitempty"`
	// Notifications say which events reach which people, and how.
	Notifications Notifications `json:"notifications,omitzero"`
	// Pipelines says which other branches and which pull requests get pipelines of their own.
	Pipelines   Pipelines    `json:"pipelines,omitzero"`
	secretSites []secretSite // where each secret is declared, for UnsetSecrets
	notifyVars  []notifyVar  // the variables notification channels read, for UnsetNotifyVars
	file        string
}

// Source is where revisions come from.
type Source struct {
	Repo   string `json:"repo"`   // a path (relative to the file) or URL of a git repository. If empty, ".".
	Branch string `json:"branch"` // if empty, "main"
}

// Build runs once per source revision, in a clean checkout of it.
type Build struct {
	Commands []string          `json:"commands"`
	Artifact []string          `json:"artifact"` // paths relative to the checkout, packed into the artifact
	Env      map[string]string `json:"env,omitempty"`
	Timeout  time.Duration     `json:"timeout"` // if zero, 30m
}

// Gate is a check (after the build) or a test (after an environment's deploy).
type Gate struct {
	Name     string            `json:"name"`
	Run      string            `json:"run"`       // run with `sh -c`
	RunOrder int               `json:"run_order"` // equal run orders run in parallel. If zero, 1.
	Timeout  time.Duration     `json:"timeout"`   // if zero, 10m
	Env      map[string]string `json:"env,omitempty"`
}

// Service is what a local environment runs.
type Service struct {
	Command []string          `json:"command"`  // the first element is a path inside the artifact
	PortEnv string            `json:"port_env"` // if empty, "PORT"
	Health  Health            `json:"health"`
	Env     map[string]string `json:"env,omitempty"`
}

// Health says how to tell that a version is ready for traffic.
// In the file it is either a path ("/healthz") or a mapping of these keys.
type Health struct {
	Path     string        `json:"path"`     // if empty, "/healthz"
	Interval time.Duration `json:"interval"` // if zero, 1s
	Timeout  time.Duration `json:"timeout"`  // one probe's limit; if zero, 2s
	// StartTimeout is how long a new version may take to become healthy. If zero, 30s.
	StartTimeout time.Duration `json:"start_timeout"`
}

// Environment is an isolated target, in promotion order.
type Environment struct {
	Name string `json:"name"`
	// Target is the kind of target: "local" (the default) or a kind registered with
	// RegisterTarget, such as "aws".
	Target   string            `json:"target"`
	Listen   string            `json:"listen,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Deploy   Deploy            `json:"deploy"`
	Tests    []Gate            `json:"tests,omitempty"`
	Approval Approval          `json:"approval"`
	// TargetConfig is the target's block as its kind's Decode read it (for aws, the provider's
	// own type); nil for local. It is not a key of the file, so it has no JSON form here.
	TargetConfig any `json:"-"`
}

// Approval is a human decision between creating and executing a change set.
type Approval struct {
	Required  bool          `json:"required"`
	Approvers []string      `json:"approvers,omitempty"` // empty: anyone
	Timeout   time.Duration `json:"timeout"`             // if zero, 168h; a timed-out approval is a rejection
}

// Deploy says how a change set is applied to an environment.
type Deploy struct {
	Strategy sluice.Strategy `json:"strategy"` // if zero, AllAtOnce
	Hooks    Hooks           `json:"hooks"`
	Alarms   []sluice.Alarm  `json:"alarms,omitempty"`
	// Sticky keeps a client on the version it first reached while traffic shifts (a cookie).
	Sticky bool `json:"sticky,omitempty"`
	// DrainTimeout bounds how long a stopping version may finish in-flight requests. If zero, 30s.
	DrainTimeout time.Duration `json:"drain_timeout"`
}

// Hooks are commands run around traffic shifting; a failing hook rolls the deployment back.
type Hooks struct {
	PreTraffic  string `json:"pre_traffic,omitempty"`  // before any traffic reaches the new version
	PostTraffic string `json:"post_traffic,omitempty"` // after all traffic is on it
}

// Defaults, applied by Parse.
const (
	DefaultBranch        = "main"
	DefaultBuildTimeout  = 30 * time.Minute
	DefaultGateTimeout   = 10 * time.Minute
	DefaultPortEnv       = "PORT"
	DefaultHealthPath    = "/healthz"
	DefaultHealthEvery   = time.Second
	DefaultHealthTimeout = 2 * time.Second
	DefaultStartTimeout  = 30 * time.Second
	DefaultApprovalWait  = 168 * time.Hour
	DefaultDrainTimeout  = 30 * time.Second
	TargetLocal          = "local"
)

// Environment returns the environment named name, or nil.
func (r *Route) Environment(name string) *Environment {
	for i := range r.Environments {
		if r.Environments[i].Name == name {
			return &r.Environments[i]
		}
	}
	return nil
}
