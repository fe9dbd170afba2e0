package spec

import (
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// This file maps the keys of sluice.yaml onto Route, one function per mapping. Checks that need
// only the value at hand happen here; checks across keys are in validate.go.

// The keys of each mapping in the file. schema_test.go holds them to the JSON tags of the Go
// types and to schema/sluice.schema.json, so the three cannot drift apart.
var (
	routeKeys       = []string{"version", "name", "source", "build", "checks", "service", "environments", "execution_mode", "secrets", "notifications", "pipelines"}
	sourceKeys      = []string{"repo", "branch"}
	buildKeys       = []string{"commands", "artifact", "env", "timeout"}
	gateKeys        = []string{"name", "run", "run_order", "timeout", "env"}
	serviceKeys     = []string{"command", "port_env", "health", "env"}
	healthKeys      = []string{"path", "interval", "timeout", "start_timeout"}
	environmentKeys = []string{"name", "target", "listen", "env", "deploy", "tests", "approval"}
	approvalKeys    = []string{"required", "approvers", "timeout"}
	deployKeys      = []string{"strategy", "hooks", "alarms", "sticky", "drain_timeout"}
	strategyKeys    = []string{"type", "percent", "interval"}
	hooksKeys       = []string{"pre_traffic", "post_traffic"}
	alarmKeys       = []string{"name", "metric", "threshold", "window", "min_requests"}
)

// ExecutionModes are the values of execution_mode.
var ExecutionModes = []sluice.ExecutionMode{sluice.ModeSuperseded, sluice.ModeQueued}

// predefinedFor names the predefined strategy of each strategy type that has no parameters.
var predefinedFor = map[sluice.StrategyType]string{sluice.BlueGreen: "BlueGreen", sluice.AllAtOnce: "AllAtOnce"}

// strategyTypes are the values of deploy.strategy.type in a custom strategy.
var strategyTypes = []string{string(sluice.Canary), string(sluice.Linear), string(sluice.BlueGreen), string(sluice.AllAtOnce)}

func (r *reader) readRoute(fs map[string]field) *Route {
	rt := &Route{
		file:          r.file,
		Source:        Source{Repo: ".", Branch: DefaultBranch},
		ExecutionMode: sluice.ModeSuperseded,
	}
	if f, ok := fs["version"]; ok {
		if v, ok := r.integer(f); ok {
			if v != 1 {
				r.errorf(f.pos(), f.path, "unsupported version %d; this Sluice reads version 1", v)
			}
			rt.Version = v
		}
	} else {
		r.missing("version", "add version: 1 at the top of the file")
	}
	if f, ok := fs["name"]; ok {
		if s, ok := r.str(f); ok {
			if !validProjectName(s) {
				r.errorf(f.pos(), f.path, "invalid name %q; use 1-%d lowercase letters, digits and '-', starting with a letter%s", s, maxProjectName, nameHint(s, maxProjectName))
			}
			rt.Name = s
		}
	} else {
		r.missing("name", "add name: my-service (lowercase letters, digits and '-')")
	}
	if f, ok := fs["source"]; ok {
		r.readSource(f, &rt.Source)
	}
	if f, ok := fs["build"]; ok {
		r.readBuild(f, &rt.Build)
	} else {
		r.missing("build", "add build: {commands: [...], artifact: [...]}: the build runs once per revision and makes the artifact")
	}
	if f, ok := fs["checks"]; ok {
		rt.Checks = r.readGates(f, "check")
	}
	r.readService(fs["service"], &rt.Service)
	if f, ok := fs["environments"]; ok {
		rt.Environments = r.readEnvironments(f)
	} else {
		r.missing("environments", "add environments: a list of at least one {name: dev}, in promotion order")
	}
	if f, ok := fs["execution_mode"]; ok {
		if s, ok := r.str(f); ok {
			if mode := sluice.ExecutionMode(s); slices.Contains(ExecutionModes, mode) {
				rt.ExecutionMode = mode
			} else {
				r.errorf(f.pos(), f.path, "unknown execution mode %q; use superseded (a newer execution replaces a waiting one) or queued (executions wait in order)", s)
			}
		}
	}
	if f, ok := fs["secrets"]; ok {
		r.readSecrets(f, rt)
	}
	if f, ok := fs["notifications"]; ok {
		r.readNotifications(f, rt)
	}
	if f, ok := fs["pipelines"]; ok {
		r.readPipelines(f, rt)
	}
	return rt
}

func (r *reader) readSource(f field, src *Source) {
	fs, ok := r.fields(f, sourceKeys)
	if !ok {
		return
	}
	if f, ok := fs["repo"]; ok {
		if s, ok := r.str(f); ok {
			if strings.TrimSpace(s) == "" {
				r.errorf(f.pos(), f.path, "empty; write a path or URL of a git repository, or remove the key to use \".\"")
			} else {
				src.Repo = s
			}
		}
	}
	if f, ok := fs["branch"]; ok {
		if s, ok := r.str(f); ok {
			if msg := checkBranch(s); msg != "" {
				r.errorf(f.pos(), f.path, "%s", msg)
			} else {
				src.Branch = s
			}
		}
	}
}

func (r *reader) readBuild(build field, b *Build) {
	b.Timeout = DefaultBuildTimeout
	fs, ok := r.fields(build, buildKeys)
	if !ok {
		return
	}
	if f, ok := fs["commands"]; ok {
		b.Commands = r.readCommands(f)
	} else {
		r.missing(joinPath(build.path, "commands"), "add commands: a list of shell commands that build the artifact")
	}
	if f, ok := fs["artifact"]; ok {
		b.Artifact = r.readArtifact(f)
	} else {
		r.missing(joinPath(build.path, "artifact"), "add artifact: the paths the build leaves behind, e.g. [dist/]")
	}
	if f, ok := fs["env"]; ok {
		b.Env = r.envMap(f)
	}
	if f, ok := fs["timeout"]; ok {
		if d, ok := r.duration(f); ok {
			b.Timeout = d
		}
	}
}

func (r *reader) readCommands(f field) []string {
	items, ok := r.list(f, "a list of shell commands")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		r.errorf(f.pos(), f.path, "empty list; add at least one command that builds the artifact")
	}
	var out []string
	for _, it := range items {
		if s, ok := r.command(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}); ok {
			out = append(out, s)
		}
	}
	return out
}

func (r *reader) readArtifact(f field) []string {
	items, ok := r.strItems(f, "a list of paths, e.g. [dist/]")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		r.errorf(f.pos(), f.path, "empty list; name the paths the build produces, e.g. [dist/]")
	}
	var out []string
	for _, it := range items {
		if msg := checkArtifactPath(it.s); msg != "" {
			r.errorf(it.pos, it.path, "%s", msg)
			continue
		}
		out = append(out, it.s)
	}
	return out
}

func (r *reader) readGates(f field, kind string) []Gate {
	items, ok := r.list(f, "a list of {name, run}")
	if !ok {
		return nil
	}
	gates := make([]Gate, 0, len(items))
	seen := newNames(kind)
	for _, it := range items {
		fs, ok := r.fields(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}, gateKeys)
		if !ok {
			continue
		}
		g := Gate{RunOrder: 1, Timeout: DefaultGateTimeout}
		if f, ok := fs["name"]; ok {
			if s, ok := r.str(f); ok {
				if !validGateName(s) {
					r.errorf(f.pos(), f.path, "invalid %s name %q; use 1-%d letters, digits, '.', '_' and '-', starting with a letter or digit", kind, s, maxGateName)
				}
				g.Name = s
				seen.check(r, s, f)
			}
		} else {
			r.missing(joinPath(it.path, "name"), "give the %s a name, e.g. name: unit", kind)
		}
		if f, ok := fs["run"]; ok {
			g.Run, _ = r.command(f)
		} else {
			r.missing(joinPath(it.path, "run"), "add run: the shell command of the %s", kind)
		}
		if f, ok := fs["run_order"]; ok {
			if n, ok := r.integer(f); ok {
				if n < 1 {
					r.errorf(f.pos(), f.path, "must be 1 or more, got %d; equal run orders run in parallel, lower ones first", n)
				} else {
					g.RunOrder = n
				}
			}
		}
		if f, ok := fs["timeout"]; ok {
			if d, ok := r.duration(f); ok {
				g.Timeout = d
			}
		}
		if f, ok := fs["env"]; ok {
			g.Env = r.envMap(f)
		}
		gates = append(gates, g)
	}
	return gates
}

// readService reads service, or fills its defaults when f is absent (zero).
func (r *reader) readService(f field, svc *Service) {
	svc.PortEnv = DefaultPortEnv
	svc.Health = Health{Path: DefaultHealthPath, Interval: DefaultHealthEvery, Timeout: DefaultHealthTimeout, StartTimeout: DefaultStartTimeout}
	if f.path == "" {
		return
	}
	fs, ok := r.fields(f, serviceKeys)
	if !ok {
		return
	}
	if f, ok := fs["command"]; ok {
		items, ok := r.strItems(f, "a list: the program's path inside the artifact, then its arguments")
		if ok && len(items) == 0 {
			r.errorf(f.pos(), f.path, "empty list; name the program inside the artifact, e.g. [dist/app]")
		}
		for i, it := range items {
			if i == 0 && strings.TrimSpace(it.s) == "" {
				r.errorf(it.pos, it.path, "empty program path; name the program inside the artifact, e.g. dist/app")
				continue
			}
			svc.Command = append(svc.Command, it.s)
		}
	}
	if f, ok := fs["port_env"]; ok {
		if s, ok := r.str(f); ok {
			if !validVarName(s) {
				r.errorf(f.pos(), f.path, "%q is not a valid environment variable name; use letters, digits and '_', e.g. PORT", s)
			} else {
				svc.PortEnv = s
			}
		}
	}
	if f, ok := fs["health"]; ok {
		r.readHealth(f, &svc.Health)
	}
	if f, ok := fs["env"]; ok {
		svc.Env = r.envMap(f)
	}
}

func (r *reader) readHealth(f field, h *Health) {
	switch {
	case isString(f.value):
		if s, ok := r.str(f); ok {
			r.healthPath(f, s, h)
		}
		return
	case !isMapping(f.value):
		r.typeError(f.value, f.pos(), f.path, "a path such as /healthz or a mapping {path, interval, timeout, start_timeout}")
		return
	}
	fs, _ := r.fields(f, healthKeys)
	if f, ok := fs["path"]; ok {
		if s, ok := r.str(f); ok {
			r.healthPath(f, s, h)
		}
	}
	durations := []struct {
		key string
		dst *time.Duration
	}{{"interval", &h.Interval}, {"timeout", &h.Timeout}, {"start_timeout", &h.StartTimeout}}
	for _, d := range durations {
		if f, ok := fs[d.key]; ok {
			if v, ok := r.duration(f); ok {
				*d.dst = v
			}
		}
	}
}

func (r *reader) healthPath(f field, s string, h *Health) {
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \t\r\n") {
		r.errorf(f.pos(), f.path, "health path %q must be an HTTP path starting with '/', e.g. /healthz", s)
		return
	}
	h.Path = s
}

func (r *reader) readEnvironments(f field) []Environment {
	items, ok := r.list(f, "a list of environments in promotion order, e.g. [{name: dev}, {name: prod}]")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		r.errorf(f.pos(), f.path, "empty list; add at least one environment, e.g. - name: dev")
	}
	envs := make([]Environment, 0, len(items))
	seen := newNames("environment")
	listens := make(map[string]string)
	for _, it := range items {
		known := append(slices.Clone(environmentKeys), r.targets.legacyKeys()...)
		fs, ok := r.fields(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}, known)
		if !ok {
			continue
		}
		env := r.readEnvironment(it.path, fs)
		seen.check(r, env.Name, fs["name"])
		if f := fs["listen"]; env.Listen != "" {
			key := listenKey(env.Listen)
			if first, dup := listens[key]; dup {
				r.errorf(f.pos(), f.path, "%s is already the address of %s; give each environment its own port", env.Listen, first)
			} else {
				listens[key] = parentPath(f.path)
			}
		}
		r.checkEnvironment(it.path, &env, fs)
		envs = append(envs, env)
	}
	return envs
}

func (r *reader) readEnvironment(path string, fs map[string]field) Environment {
	env := Environment{
		Target:   TargetLocal,
		Deploy:   Deploy{Strategy: sluice.PredefinedStrategies["AllAtOnce"], DrainTimeout: DefaultDrainTimeout},
		Approval: Approval{Timeout: DefaultApprovalWait},
	}
	if f, ok := fs["name"]; ok {
		if s, ok := r.str(f); ok {
			if !validEnvironmentName(s) {
				r.errorf(f.pos(), f.path, "invalid environment name %q; use 1-%d lowercase letters, digits and '-', starting with a letter%s", s, maxEnvironmentName, nameHint(s, maxEnvironmentName))
			} else if slices.Contains(reservedEnvironmentNames, s) {
				r.errorf(f.pos(), f.path, "%q names a stage of every route (%s); pick another name", s, strings.Join(reservedEnvironmentNames, ", "))
			}
			env.Name = s
		}
	} else {
		r.missing(joinPath(path, "name"), "give the environment a name, e.g. name: dev")
	}
	if kind, config := r.readTarget(path, env.Name, fs["target"], fs); kind != "" {
		env.Target, env.TargetConfig = kind, config
	}
	if f, ok := fs["listen"]; ok {
		if s, ok := r.str(f); ok {
			if msg := checkListen(s); msg != "" {
				r.errorf(f.pos(), f.path, "%s", msg)
			} else {
				env.Listen = s
			}
		}
	}
	if f, ok := fs["env"]; ok {
		env.Env = r.envMap(f)
	}
	if f, ok := fs["deploy"]; ok {
		r.readDeploy(f, &env.Deploy)
	}
	if f, ok := fs["tests"]; ok {
		env.Tests = r.readGates(f, "test")
	}
	if f, ok := fs["approval"]; ok {
		r.readApproval(f, &env.Approval)
	}
	return env
}

func (r *reader) readApproval(f field, a *Approval) {
	fs, ok := r.fields(f, approvalKeys)
	if !ok {
		return
	}
	if f, ok := fs["required"]; ok {
		a.Required, _ = r.boolean(f)
	}
	if f, ok := fs["approvers"]; ok {
		items, _ := r.strItems(f, "a list of approver names")
		for _, it := range items {
			if strings.TrimSpace(it.s) == "" {
				r.errorf(it.pos, it.path, "empty approver; write a name, or leave the list empty to let anyone approve")
				continue
			}
			a.Approvers = append(a.Approvers, it.s)
		}
	}
	if f, ok := fs["timeout"]; ok {
		if d, ok := r.duration(f); ok {
			a.Timeout = d
		}
	}
}

func (r *reader) readDeploy(f field, d *Deploy) {
	fs, ok := r.fields(f, deployKeys)
	if !ok {
		return
	}
	if f, ok := fs["strategy"]; ok {
		if s, ok := r.readStrategy(f); ok {
			d.Strategy = s
		}
	}
	if f, ok := fs["hooks"]; ok {
		if hs, ok := r.fields(f, hooksKeys); ok {
			if f, ok := hs["pre_traffic"]; ok {
				d.Hooks.PreTraffic, _ = r.command(f)
			}
			if f, ok := hs["post_traffic"]; ok {
				d.Hooks.PostTraffic, _ = r.command(f)
			}
		}
	}
	if f, ok := fs["alarms"]; ok {
		d.Alarms = r.readAlarms(f)
	}
	if f, ok := fs["sticky"]; ok {
		d.Sticky, _ = r.boolean(f)
	}
	if f, ok := fs["drain_timeout"]; ok {
		if v, ok := r.duration(f); ok {
			d.DrainTimeout = v
		}
	}
}

// readStrategy reads a predefined name ("Linear10PercentEvery1Minute") or a custom mapping.
func (r *reader) readStrategy(f field) (sluice.Strategy, bool) {
	switch {
	case isMapping(f.value):
	case isString(f.value):
		name, ok := r.str(f)
		if !ok {
			return sluice.Strategy{}, false
		}
		if st, ok := sluice.PredefinedStrategies[name]; ok {
			return st, true
		}
		known := sluice.StrategyNames()
		switch typ := strings.ToLower(name); typ {
		case string(sluice.Canary), string(sluice.Linear):
			r.errorf(f.pos(), f.path, "%q is a strategy type, not a name; write {type: %s, percent: 10, interval: 5m} or one of: %s", name, typ, strings.Join(known, ", "))
			return sluice.Strategy{}, false
		case string(sluice.BlueGreen), string(sluice.AllAtOnce):
			r.errorf(f.pos(), f.path, "%q is a strategy type, not a name; write %s or {type: %s}", name, predefinedFor[sluice.StrategyType(typ)], typ)
			return sluice.Strategy{}, false
		}
		if s := Suggest(name, known); s != "" {
			r.errorf(f.pos(), f.path, "unknown strategy %q; did you mean %q?", name, s)
		} else {
			r.errorf(f.pos(), f.path, "unknown strategy %q; known: %s; or write a custom one: {type: linear, percent: 10, interval: 30s}", name, strings.Join(known, ", "))
		}
		return sluice.Strategy{}, false
	default:
		r.typeError(f.value, f.pos(), f.path, "a strategy name such as Linear10PercentEvery1Minute or a mapping {type, percent, interval}")
		return sluice.Strategy{}, false
	}
	fs, ok := r.fields(f, strategyKeys)
	if !ok {
		return sluice.Strategy{}, false
	}
	var st sluice.Strategy
	ok = true
	if tf, has := fs["type"]; has {
		s, good := r.str(tf)
		switch {
		case !good:
			ok = false
		case slices.Contains(strategyTypes, s):
			st.Type = sluice.StrategyType(s)
		default:
			r.errorf(tf.pos(), tf.path, "unknown strategy type %q%s", s, didYouMean(s, strategyTypes))
			ok = false
		}
	} else {
		r.missing(joinPath(f.path, "type"), "add type: one of %s", strings.Join(strategyTypes, ", "))
		ok = false
	}
	stepped := st.Type == sluice.Canary || st.Type == sluice.Linear
	if pf, has := fs["percent"]; has {
		if n, good := r.integer(pf); good {
			switch {
			case n < 1 || n > 100:
				r.errorf(pf.pos(), pf.path, "must be between 1 and 100, got %d", n)
				ok = false
			case stepped:
				st.Percent = n
			case st.Type != "":
				r.warnf(pf.pos(), pf.path, "ignored: a %s deployment moves all traffic at once; remove it", st.Type)
			}
		} else {
			ok = false
		}
	} else if stepped {
		r.missing(joinPath(f.path, "percent"), "a %s strategy needs percent: the share of traffic per step, 1-100", st.Type)
		ok = false
	}
	if inf, has := fs["interval"]; has {
		if d, good := r.duration(inf); good {
			switch {
			case stepped:
				st.Interval = d
			case st.Type != "":
				r.warnf(inf.pos(), inf.path, "ignored: a %s deployment has no steps to wait between; remove it", st.Type)
			}
		} else {
			ok = false
		}
	} else if stepped {
		r.missing(joinPath(f.path, "interval"), "a %s strategy needs interval: how long each step lasts, e.g. 30s", st.Type)
		ok = false
	}
	return st, ok
}

func (r *reader) readAlarms(f field) []sluice.Alarm {
	items, ok := r.list(f, "a list of {name, metric, threshold, window}")
	if !ok {
		return nil
	}
	alarms := make([]sluice.Alarm, 0, len(items))
	seen := newNames("alarm")
	for _, it := range items {
		fs, ok := r.fields(field{path: it.path, keyPos: r.keyAt[it.path], value: it.value}, alarmKeys)
		if !ok {
			continue
		}
		a := sluice.Alarm{MinRequests: 1}
		if f, ok := fs["metric"]; ok {
			if s, ok := r.str(f); ok {
				if m := sluice.Metric(s); slices.Contains(metricNames, s) {
					a.Metric = m
				} else {
					r.errorf(f.pos(), f.path, "unknown metric %q%s", s, didYouMean(s, metricNames))
				}
			}
		} else {
			r.missing(joinPath(it.path, "metric"), "add metric: one of %s", strings.Join(metricNames, ", "))
		}
		if f, ok := fs["name"]; ok {
			if s, ok := r.str(f); ok {
				if !validGateName(s) {
					r.errorf(f.pos(), f.path, "invalid alarm name %q; use 1-%d letters, digits, '.', '_' and '-', starting with a letter or digit", s, maxGateName)
				}
				a.Name = s
			}
		} else {
			a.Name = string(a.Metric)
		}
		nameField, named := fs["name"]
		if !named {
			nameField = field{path: joinPath(it.path, "name"), keyPos: r.keyAt[it.path]}
		}
		seen.check(r, a.Name, nameField)
		if f, ok := fs["threshold"]; ok {
			if v, ok := r.number(f); ok {
				switch {
				case v < 0:
					r.errorf(f.pos(), f.path, "must be zero or more, got %v; the alarm is breached when the metric is above it", v)
				case a.Metric == sluice.MetricErrorRate && v > 1:
					r.errorf(f.pos(), f.path, "error_rate is a fraction from 0 to 1, got %v; for 1%% write 0.01", v)
				default:
					a.Threshold = v
				}
			}
		} else {
			r.missing(joinPath(it.path, "threshold"), "add threshold: the alarm is breached when the metric is above it")
		}
		if f, ok := fs["window"]; ok {
			if d, ok := r.duration(f); ok {
				a.Window = d
			}
		} else {
			r.missing(joinPath(it.path, "window"), "add window: how much recent traffic the metric is measured over, e.g. 30s")
		}
		if f, ok := fs["min_requests"]; ok {
			if n, ok := r.integer(f); ok {
				if n < 1 {
					r.errorf(f.pos(), f.path, "must be 1 or more, got %d", n)
				} else {
					a.MinRequests = n
				}
			}
		}
		alarms = append(alarms, a)
	}
	return alarms
}

// secretKeys are the keys of a secret given as a mapping rather than a bare name.
var secretKeys = []string{"name", "required"}

// readSecrets reads secrets: each item a variable name, or {name, required}.
func (r *reader) readSecrets(f field, rt *Route) {
	items, ok := r.list(f, "a list of environment variable names or {name, required}")
	if !ok {
		return
	}
	seen := map[string]bool{}
	for _, it := range items {
		site := secretSite{path: it.path, at: r.keyAt[it.path]}
		if isMapping(it.value) {
			fs, ok := r.fields(field{path: it.path, keyPos: site.at, value: it.value}, secretKeys)
			if !ok {
				continue
			}
			nf, ok := fs["name"]
			if !ok {
				r.missing(joinPath(it.path, "name"), "give the secret's variable name, e.g. name: DATABASE_URL")
				continue
			}
			if site.name, ok = r.str(nf); !ok {
				continue
			}
			site.at, site.path = nf.pos(), nf.path
			if rf, ok := fs["required"]; ok {
				site.required, _ = r.boolean(rf)
			}
		} else {
			var ok bool
			if site.name, ok = r.str(field{path: it.path, keyPos: site.at, value: it.value}); !ok {
				continue
			}
		}
		if !validVarName(site.name) {
			r.errorf(site.at, site.path, "%q is not a valid environment variable name; secrets are read from Sluice's environment by name", site.name)
			continue
		}
		if seen[site.name] {
			// Harmless, and accepted before: a warning, not an error that breaks a working file.
			r.warnf(site.at, site.path, "secret %s is declared twice; keep one", site.name)
			continue
		}
		seen[site.name] = true
		rt.Secrets = append(rt.Secrets, site.name)
		rt.secretSites = append(rt.secretSites, site)
	}
}

// metricNames are the names of sluice.Metrics, for messages and lookups.
var metricNames = func() []string {
	names := make([]string, len(sluice.Metrics))
	for i, m := range sluice.Metrics {
		names[i] = string(m)
	}
	return names
}()
