// Package plan compiles a Route into the stage/action graph an execution runs. It is pure: the
// same Route always gives the same Plan, which is what `sluice plan` shows and what the engine
// runs. The JSON form is a stable, documented format (docs/plan-json.md).
package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/spec"
)

// FormatVersion is the version of the plan JSON format. It changes only when a field is removed
// or changes meaning; fields may be added at any time.
const FormatVersion = 1

// Stage names that are not environments.
const (
	StageSource = "Source"
	StageBuild  = "Build"
	StageChecks = "Checks"
)

// Plan is a compiled route.
type Plan struct {
	FormatVersion int                  `json:"format_version"`
	Name          string               `json:"name"`
	ExecutionMode sluice.ExecutionMode `json:"execution_mode"`
	Stages        []Stage              `json:"stages"`
	// Variables lists the variables every action receives.
	Variables []string `json:"variables"`
	// Source is where revisions come from: source.repo as written (relative to the route file)
	// and the main pipeline's branch.
	Source spec.Source `json:"source"`
	// Service is what an environment runs.
	Service Service `json:"service"`
	// Environments are the environments in promotion order, with what deploying to them takes.
	Environments []Environment `json:"environments"`
	// Secrets are read from the engine's environment at run time and given to every action and
	// service; their values are masked in logs and change sets.
	Secrets []spec.SecretDeclaration `json:"secrets,omitempty"`
}

// Service is what an environment runs: a command from the artifact, told its port by PortEnv,
// ready when Health answers.
type Service struct {
	Command []string          `json:"command"`
	PortEnv string            `json:"port_env"`
	Health  Health            `json:"health"`
	Env     map[string]string `json:"env,omitempty"` // environments override it
}

// Health says how to tell that a version is ready for traffic.
type Health struct {
	Path         string          `json:"path"`
	Interval     sluice.Duration `json:"interval"`
	Timeout      sluice.Duration `json:"timeout"`       // one probe's limit
	StartTimeout sluice.Duration `json:"start_timeout"` // how long a new version may take
}

// Environment is an isolated target and how a change set is applied to it.
type Environment struct {
	Name string `json:"name"`
	// Target is the kind of target; its provider reads TargetConfig.
	Target string `json:"target"`
	// Listen is the main pipeline's stable address for it; empty: the provider chooses.
	Listen string            `json:"listen,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
	Deploy Deploy            `json:"deploy"`
	// TargetConfig is the target's block as its provider decoded it; nil for local.
	TargetConfig any `json:"-"`
}

// Deploy says how a change set is applied.
type Deploy struct {
	Strategy sluice.Strategy `json:"strategy"`
	Hooks    spec.Hooks      `json:"hooks"`
	Alarms   []sluice.Alarm  `json:"alarms,omitempty"`
	// Sticky keeps a client on the version it first reached while traffic shifts.
	Sticky bool `json:"sticky,omitempty"`
	// DrainTimeout bounds how long a stopping version may finish in-flight requests.
	DrainTimeout sluice.Duration `json:"drain_timeout"`
}

// Stage is a step of an execution. Only one execution is in a stage at a time.
type Stage struct {
	Name string `json:"name"`
	// Environment is set on environment stages: the environment's name (equal to Name).
	Environment string   `json:"environment,omitempty"`
	Actions     []Action `json:"actions"`
}

// Action is one unit of work. Actions of a stage run by RunOrder; equal orders run in parallel.
type Action struct {
	Name     string            `json:"name"`
	Kind     sluice.ActionKind `json:"kind"`
	RunOrder int               `json:"run_order"`
	// Commands is what build runs; Run what a check or test runs (sh -c).
	Commands []string `json:"commands,omitempty"`
	Run      string   `json:"run,omitempty"`
	// Timeout bounds the action; zero means none (approvals use Approval.Timeout).
	Timeout  sluice.Duration   `json:"timeout,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Artifact []string          `json:"artifact,omitempty"` // build: the packed paths
	// Environment-stage details.
	Strategy *sluice.Strategy `json:"strategy,omitempty"`
	Hooks    *spec.Hooks      `json:"hooks,omitempty"`
	Alarms   []sluice.Alarm   `json:"alarms,omitempty"`
	Approval *Approval        `json:"approval,omitempty"`
	Target   string           `json:"target,omitempty"`
}

// Approval is the gate of an approval action.
type Approval struct {
	Approvers []string        `json:"approvers"` // empty: anyone
	Timeout   sluice.Duration `json:"timeout"`   // a timed-out approval is a rejection
}

// Variables every action receives.
var Variables = []string{"SLUICE_ENDPOINT", "SLUICE_ENVIRONMENT", "SLUICE_REVISION", "SLUICE_ARTIFACT", "SLUICE_EXECUTION"}

// Compile turns a valid Route (as returned by spec.Parse without errors) into a Plan.
func Compile(r *spec.Route) *Plan {
	h := r.Service.Health
	p := &Plan{
		FormatVersion: FormatVersion, Name: r.Name, ExecutionMode: r.ExecutionMode, Variables: Variables,
		Source: r.Source, Secrets: r.SecretDeclarations(),
		Service: Service{
			Command: r.Service.Command, PortEnv: r.Service.PortEnv, Env: r.Service.Env,
			Health: Health{Path: h.Path, Interval: sluice.Duration(h.Interval), Timeout: sluice.Duration(h.Timeout), StartTimeout: sluice.Duration(h.StartTimeout)},
		},
	}
	p.Stages = append(p.Stages,
		Stage{Name: StageSource, Actions: []Action{{Name: "Checkout", Kind: sluice.KindSource, RunOrder: 1}}},
		Stage{Name: StageBuild, Actions: []Action{{
			Name: "Build", Kind: sluice.KindBuild, RunOrder: 1,
			Commands: r.Build.Commands, Timeout: sluice.Duration(r.Build.Timeout), Env: r.Build.Env, Artifact: r.Build.Artifact,
		}}},
	)
	if len(r.Checks) > 0 {
		p.Stages = append(p.Stages, Stage{Name: StageChecks, Actions: gates(sluice.KindCheck, r.Checks, 0)})
	}
	for _, env := range r.Environments {
		d := env.Deploy
		p.Environments = append(p.Environments, Environment{
			Name: env.Name, Target: env.Target, Listen: env.Listen, Env: env.Env, TargetConfig: env.TargetConfig,
			Deploy: Deploy{Strategy: d.Strategy, Hooks: d.Hooks, Alarms: d.Alarms, Sticky: d.Sticky, DrainTimeout: sluice.Duration(d.DrainTimeout)},
		})
		st := Stage{Name: env.Name, Environment: env.Name}
		order := 1
		st.Actions = append(st.Actions, Action{Name: "CreateChangeSet", Kind: sluice.KindCreateChangeSet, RunOrder: order, Target: env.Target})
		if env.Approval.Required {
			order++
			approval := Approval{Approvers: env.Approval.Approvers, Timeout: sluice.Duration(env.Approval.Timeout)}
			if approval.Approvers == nil {
				approval.Approvers = []string{}
			}
			st.Actions = append(st.Actions, Action{Name: "Approval", Kind: sluice.KindApproval, RunOrder: order, Approval: &approval})
		}
		order++
		strategy, hooks := env.Deploy.Strategy, env.Deploy.Hooks
		exec := Action{Name: "ExecuteChangeSet", Kind: sluice.KindExecuteChangeSet, RunOrder: order, Strategy: &strategy, Alarms: env.Deploy.Alarms, Target: env.Target}
		if hooks != (spec.Hooks{}) {
			exec.Hooks = &hooks
		}
		st.Actions = append(st.Actions, exec)
		st.Actions = append(st.Actions, gates(sluice.KindTest, env.Tests, order)...)
		p.Stages = append(p.Stages, st)
	}
	return p
}

// gates compiles checks or tests, after the action at run order base, sorted by run order
// (stable, so file order breaks ties).
func gates(kind sluice.ActionKind, gs []spec.Gate, base int) []Action {
	out := make([]Action, 0, len(gs))
	for _, g := range gs {
		order := g.RunOrder
		if order < 1 {
			order = 1
		}
		out = append(out, Action{Name: g.Name, Kind: kind, RunOrder: base + order, Run: g.Run, Timeout: sluice.Duration(g.Timeout), Env: g.Env})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RunOrder < out[j].RunOrder })
	return out
}

// Environment returns the environment named name, or nil.
func (p *Plan) Environment(name string) *Environment {
	for i := range p.Environments {
		if p.Environments[i].Name == name {
			return &p.Environments[i]
		}
	}
	return nil
}

// SecretNames returns the names of the plan's secrets, in declaration order.
func (p *Plan) SecretNames() []string {
	names := make([]string, 0, len(p.Secrets))
	for _, s := range p.Secrets {
		names = append(names, s.Name)
	}
	return names
}

// Stage returns the stage named name, or nil.
func (p *Plan) Stage(name string) *Stage {
	for i := range p.Stages {
		if p.Stages[i].Name == name {
			return &p.Stages[i]
		}
	}
	return nil
}

// Groups returns the stage's actions grouped by run order, in order.
func (s *Stage) Groups() [][]Action {
	var groups [][]Action
	for i, a := range s.Actions {
		if i == 0 || a.RunOrder != s.Actions[i-1].RunOrder {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], a)
	}
	return groups
}

// Text renders the plan as people read it, one stage a line:
//
//	Source   Checkout
//	Build    Build -> artifact
//	dev      1 CreateChangeSet  2 ExecuteChangeSet(AllAtOnce)  3 Test integration
func (p *Plan) Text() string {
	width := 0
	for _, s := range p.Stages {
		width = max(width, len(s.Name))
	}
	var b strings.Builder
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "%-*s  ", width, s.Name)
		var parts []string
		for _, a := range s.Actions {
			parts = append(parts, a.label(s.Environment != ""))
		}
		b.WriteString(strings.Join(parts, "  "))
		b.WriteByte('\n')
	}
	return b.String()
}

func (a Action) label(numbered bool) string {
	var l string
	switch a.Kind {
	case sluice.KindBuild:
		l = "Build -> artifact " + strings.Join(a.Artifact, " ")
	case sluice.KindExecuteChangeSet:
		l = fmt.Sprintf("ExecuteChangeSet(%s)", a.Strategy)
	case sluice.KindTest:
		l = "Test " + a.Name
	default:
		l = a.Name
	}
	if numbered {
		return fmt.Sprintf("%d %s", a.RunOrder, l)
	}
	return l
}
