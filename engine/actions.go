package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/runner"
	"github.com/sluicehq/sluice/spec"
)

// actionContext is everything one action run needs.
type actionContext struct {
	e       *Engine
	r       *run
	ex      *sluice.Execution
	plan    *plan.Plan
	stage   *plan.Stage
	action  plan.Action
	rec     *sluice.ActionExecution
	records []sluice.ActionExecution // the execution's actions as they were when the group began
	log     io.Writer
	// resuming is set when the action was interrupted by a stop of the engine, not retried.
	resuming bool
}

// perform runs the action. What it reports is masked: no secret value reaches the store, the
// log or any output through a summary, an error or an output value.
func (ac *actionContext) perform(ctx context.Context) outcome {
	secrets := ac.e.secretValues(ac.plan.SecretNames())
	out := ac.performUnmasked(ctx)
	if lw, ok := ac.log.(interface{ Err() error }); ok && out.status.OK() {
		// What the action printed is lost: it must not pass as if it had been kept.
		if err := lw.Err(); err != nil {
			out = failed(logError(err))
		}
	}
	out.summary = runner.MaskString(out.summary, secrets)
	if out.err != nil {
		if msg := runner.MaskString(out.err.Error(), secrets); msg != out.err.Error() {
			out.err = &maskedError{msg: msg, err: out.err}
		}
	}
	return out
}

// maskedError is an error whose message had secret values masked; errors.Is and As still see
// the original.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

func (ac *actionContext) performUnmasked(ctx context.Context) outcome {
	if missing := spec.MissingRequiredSecrets(ac.plan.Secrets, ac.e.lookupEnv); len(missing) > 0 {
		return failed(sluice.Errorf(sluice.EINVALID, "the route requires the secret %s, which is not set in Sluice's environment; set it where sluice runs and run again",
			strings.Join(missing, ", ")))
	}
	switch ac.action.Kind {
	case sluice.KindSource:
		return ac.source(ctx)
	case sluice.KindBuild:
		return ac.build(ctx)
	case sluice.KindCheck, sluice.KindTest:
		return ac.gate(ctx)
	case sluice.KindCreateChangeSet:
		return ac.createChangeSet(ctx)
	case sluice.KindApproval:
		return ac.approval(ctx)
	case sluice.KindExecuteChangeSet:
		return ac.executeChangeSet(ctx)
	}
	return failed(fmt.Errorf("unknown action kind %q", ac.action.Kind))
}

// checkoutMarker is written last into a workspace, so a half-made one is never used.
const checkoutMarker = ".sluice-checkout"

// workspace returns the execution's checkout, making it first if it is missing (a resumed
// execution may find it gone).
func (ac *actionContext) workspace(ctx context.Context) (string, error) {
	dir := filepath.Join(ac.e.workspace(ac.ex.ID), "src")
	if _, err := os.Stat(filepath.Join(dir, checkoutMarker)); err == nil {
		return dir, nil
	}
	// Each attempt checks out into a folder of its own: a git that a killed engine left running
	// may still be writing into the last attempt's.
	stale, _ := filepath.Glob(dir + ".tmp*")
	for _, old := range stale {
		_ = os.RemoveAll(old)
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("create workspace: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp")
	if err != nil {
		return "", fmt.Errorf("create workspace: %w", err)
	}
	if err := ac.e.cfg.Source.Checkout(ctx, RepoPath(ac.ex.RouteFile, ac.plan.Source.Repo), ac.ex.Revision, tmp); err != nil {
		return "", fmt.Errorf("check out %s: %w", sluice.ShortRevision(ac.ex.Revision), err)
	}
	if err := os.WriteFile(filepath.Join(tmp, checkoutMarker), []byte(ac.ex.Revision+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("mark workspace: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("finish workspace: %w", err)
	}
	return dir, nil
}

func (ac *actionContext) source(ctx context.Context) outcome {
	for _, d := range spec.UnsetSecrets(ac.plan.Secrets, ac.e.lookupEnv) {
		fmt.Fprintln(ac.log, d.String())
	}
	if _, err := ac.workspace(ctx); err != nil {
		return failed(err)
	}
	return succeeded(fmt.Sprintf("checked out %s %s", sluice.ShortRevision(ac.ex.Revision), ac.ex.Subject))
}

func (ac *actionContext) build(ctx context.Context) outcome {
	e := ac.e
	if b, err := e.store.Build(ctx, ac.ex.Pipeline, ac.ex.Revision); err == nil {
		if err := e.cfg.Artifacts.Verify(b.Digest); err != nil {
			return failed(fmt.Errorf("the artifact built earlier for %s cannot be used: %w", sluice.ShortRevision(ac.ex.Revision), err))
		}
		fmt.Fprintf(ac.log, "revision %s was built before: reusing artifact %s\n", sluice.ShortRevision(ac.ex.Revision), b.Digest)
		if err := ac.setArtifact(ctx, b.Digest); err != nil {
			return failed(err)
		}
		return succeeded("reused artifact " + sluice.ShortDigest(b.Digest) + " built earlier for this revision")
	}
	dir, err := ac.workspace(ctx)
	if err != nil {
		return failed(err)
	}
	build := ac.action // the plan's build action carries the build
	deadline := time.Now().Add(time.Duration(build.Timeout))
	for _, command := range build.Commands {
		fmt.Fprintf(ac.log, "$ %s\n", command)
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return failed(sluice.Errorf(sluice.ETIMEOUT, "build timed out after %s; raise build.timeout or make the build faster", time.Duration(build.Timeout)))
		}
		if _, err := runner.Run(ctx, runner.Command{
			Name: "build", Dir: dir, Shell: command, Env: ac.environ(build.Env, ""), Timeout: remaining, Output: ac.log,
			Ledger: e.ledger,
		}); err != nil {
			return failed(fmt.Errorf("build command %q: %w", command, err))
		}
	}
	art, err := e.cfg.Artifacts.Put(dir, build.Artifact)
	if err != nil {
		return failed(fmt.Errorf("pack artifact: %w", err))
	}
	b := &sluice.Build{Pipeline: ac.ex.Pipeline, Revision: ac.ex.Revision, Digest: art.Digest, Size: art.Size, CreatedAt: e.now().UTC()}
	if !e.save(ctx, func(ev ...sluice.Event) error { return e.store.SaveBuild(ctx, b, ev...) },
		sluice.ArtifactCreated(ac.ex.ID, b, e.now())) {
		return failed(errors.New("could not record the build"))
	}
	fmt.Fprintf(ac.log, "artifact %s (%d bytes, %d files)\n", art.Digest, art.Size, art.Files)
	if err := ac.setArtifact(ctx, art.Digest); err != nil {
		return failed(err)
	}
	return succeeded(fmt.Sprintf("artifact %s, %s", sluice.ShortDigest(art.Digest), humanBytes(art.Size)))
}

func (ac *actionContext) setArtifact(ctx context.Context, digest string) error {
	ac.ex.Artifact = digest
	if err := ac.e.store.SaveExecution(ctx, ac.ex); err != nil {
		return fmt.Errorf("record artifact: %w", err)
	}
	return nil
}

// gate runs a check or an environment's test.
func (ac *actionContext) gate(ctx context.Context) outcome {
	dir, err := ac.workspace(ctx)
	if err != nil {
		return failed(err)
	}
	endpoint := ""
	if ac.stage.Environment != "" {
		if endpoint, err = ac.endpoint(ctx); err != nil {
			return failed(err)
		}
	}
	outputFile := filepath.Join(ac.e.workspace(ac.ex.ID), "outputs", ac.stage.Name+"."+ac.action.Name+".env")
	if err := os.MkdirAll(filepath.Dir(outputFile), 0o700); err != nil {
		return failed(fmt.Errorf("create outputs folder: %w", err))
	}
	_ = os.Remove(outputFile)
	env := append(ac.environ(ac.action.Env, endpoint), "SLUICE_OUTPUT="+outputFile)
	if ac.stage.Environment != "" {
		outputs, err := ac.providerOutputs(ctx)
		if err != nil {
			return failed(err)
		}
		env = append(env, outputs...)
	}
	fmt.Fprintf(ac.log, "$ %s\n", ac.action.Run)
	res, err := runner.Run(ctx, runner.Command{
		Name: fmt.Sprintf("%s %q", ac.action.Kind, ac.action.Name), Dir: dir, Shell: ac.action.Run, Env: env,
		Timeout: time.Duration(ac.action.Timeout), Output: ac.log, Ledger: ac.e.ledger,
	})
	if err != nil {
		return failed(fmt.Errorf("%w; see sluice logs %s %s", err, ac.ex.ID, ac.action.Name))
	}
	outputs, err := readOutputs(outputFile, ac.e.secretValues(ac.plan.SecretNames()), ac.log)
	if err != nil {
		return failed(err)
	}
	return outcome{status: sluice.StatusSucceeded, summary: fmt.Sprintf("passed in %s", res.Duration.Round(time.Millisecond)), outputs: outputs}
}

// providerOutputs are the values the environment's provider publishes about it (aws: the
// stack's outputs), as SLUICE_ENV_<NAME> variables for the action.
func (ac *actionContext) providerOutputs(ctx context.Context) ([]string, error) {
	p, err := ac.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx, ac.target(nil))
	if err != nil {
		return nil, fmt.Errorf("read the outputs of %s: %w", ac.stage.Environment, err)
	}
	if st == nil {
		return nil, nil
	}
	var vars []string
	for _, name := range slices.Sorted(maps.Keys(st.Outputs)) {
		vars = append(vars, "SLUICE_ENV_"+upperSnake(name)+"="+st.Outputs[name])
	}
	return vars, nil
}

// upperSnake turns an output name into the tail of an environment variable's: ApiUrl is
// API_URL, HTTPApiURL is HTTP_API_URL, api-url is API_URL.
func upperSnake(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r) || r > unicode.MaxASCII:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			continue
		case i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
			i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])):
			if !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return strings.Trim(b.String(), "_")
}

var outputName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// readOutputs reads KEY=VALUE lines an action wrote to $SLUICE_OUTPUT, and removes the file,
// which lies in the state directory and may hold secret values. A value containing a secret is
// kept masked (and the log says so): outputs are stored and shown, secrets never are.
func readOutputs(path string, secrets []string, log io.Writer) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read outputs: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok || !outputName.MatchString(key) || strings.HasPrefix(key, "SLUICE_") {
			return nil, sluice.Errorf(sluice.EINVALID, "$SLUICE_OUTPUT line %d: %q is not KEY=VALUE with KEY in capitals, digits and _ (not starting with SLUICE_)",
				line, runner.MaskString(text, secrets))
		}
		if masked := runner.MaskString(value, secrets); masked != value {
			fmt.Fprintf(log, "output %s contains a secret value; it is stored and passed on masked (pass secrets by name, not through outputs)\n", key)
			value = masked
		}
		out[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read outputs: %w", err)
	}
	return out, nil
}

// environ is the environment of a command: Sluice's own (minus SLUICE_ variables), the
// outputs of earlier actions, the given configuration, and the SLUICE_ variables.
func (ac *actionContext) environ(extra map[string]string, endpoint string) []string {
	vars := map[string]string{}
	for _, kv := range ac.e.cfg.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && !strings.HasPrefix(k, "SLUICE_") {
			vars[k] = v
		}
	}
	for _, rec := range ac.records {
		if rec.Status.OK() {
			for k, v := range rec.Outputs {
				if outputName.MatchString(k) {
					vars[k] = v
				}
			}
		}
	}
	for k, v := range extra {
		vars[k] = v
	}
	env := ac.stage.Environment
	vars["SLUICE_ENDPOINT"] = endpoint
	vars["SLUICE_ENVIRONMENT"] = env
	vars["SLUICE_REVISION"] = ac.ex.Revision
	vars["SLUICE_ARTIFACT"] = ac.ex.Artifact
	vars["SLUICE_EXECUTION"] = ac.ex.ID
	if ac.e.cfg.Binary != "" {
		vars["SLUICE_BIN"] = ac.e.cfg.Binary
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// secretMap returns the named secrets from Sluice's environment, by name.
func (e *Engine) secretMap(names []string) map[string]string {
	out := map[string]string{}
	for _, kv := range e.cfg.Environ {
		if k, v, _ := strings.Cut(kv, "="); slices.Contains(names, k) {
			out[k] = v
		}
	}
	return out
}

// lookupEnv finds key in Sluice's environment, as the actions and versions get it.
func (e *Engine) lookupEnv(key string) (string, bool) {
	for i := len(e.cfg.Environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e.cfg.Environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// keyDeriver is what an artifact store may offer to key the hashes of secret values.
type keyDeriver interface {
	DeriveKey(purpose string) []byte
}

// secretHashes returns the keyed hash of each set secret's value, by name, for change sets.
// Without a key (an artifact store that cannot derive one) there are none, and rotations do
// not show.
func (e *Engine) secretHashes(names []string) map[string]string {
	kd, ok := e.cfg.Artifacts.(keyDeriver)
	if !ok {
		return nil
	}
	key := kd.DeriveKey("secret hashes")
	if key == nil {
		return nil
	}
	out := map[string]string{}
	for name, value := range e.secretMap(names) {
		if value != "" {
			out[name] = deploy.SecretHash(key, name, value)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// secretValues returns the values of the named secrets, to mask in logs.
func (e *Engine) secretValues(names []string) []string {
	var out []string
	for _, v := range e.secretMap(names) {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (ac *actionContext) environment() *plan.Environment {
	return ac.plan.Environment(ac.stage.Environment)
}

func (ac *actionContext) provider() (deploy.Provider, error) { return ac.e.provider(ac.environment()) }

// provider returns the provider registered for env's target.
func (e *Engine) provider(env *plan.Environment) (deploy.Provider, error) {
	p := e.cfg.Providers[env.Target]
	if p == nil {
		return nil, sluice.Errorf(sluice.EINVALID, "environment %q has target %q, which this sluice cannot deploy to; use one of: %s",
			env.Name, env.Target, strings.Join(slices.Sorted(maps.Keys(e.cfg.Providers)), ", "))
	}
	return p, nil
}

// target is pipeline's env as its provider sees it: the name the provider knows it by (see
// instanceName), the provider's own configuration, and where to serve. state may be nil when
// where to serve does not matter.
func target(route *plan.Plan, pipeline string, env *plan.Environment, state *sluice.EnvironmentState) deploy.Environment {
	t := deploy.Environment{Name: instanceName(route, pipeline, env.Name), Route: route.Name, Config: env.TargetConfig}
	if state != nil {
		t.Listen = listenAddress(route, env, state)
	}
	return t
}

// listenAddress is where env's entry point listens: its listen key, else the URL it was
// given before, so it stays the same across restarts. The listen key belongs to the main
// pipeline: another pipeline's environment listens where its provider chooses.
func listenAddress(route *plan.Plan, env *plan.Environment, state *sluice.EnvironmentState) string {
	if env.Listen != "" && instanceName(route, state.Pipeline, env.Name) == env.Name {
		return env.Listen
	}
	return state.Address
}

// endpoint returns the environment's URL as its provider gives it, starting its entry point if
// needed, and keeps it in the store so it stays the same across restarts.
func (ac *actionContext) endpoint(ctx context.Context) (string, error) {
	return ac.e.endpoint(ctx, ac.plan, ac.ex.Pipeline, ac.stage.Environment)
}

func (e *Engine) endpoint(ctx context.Context, route *plan.Plan, pipeline, envName string) (string, error) {
	env := route.Environment(envName)
	if env == nil {
		return "", sluice.Errorf(sluice.ENOTFOUND, "environment %q is not in the route", envName)
	}
	p, err := e.provider(env)
	if err != nil {
		return "", err
	}
	state, err := e.environmentState(ctx, pipeline, envName)
	if err != nil {
		return "", err
	}
	url, err := p.Address(ctx, target(route, pipeline, env, state))
	if err != nil {
		return "", fmt.Errorf("start environment %s: %w", envName, err)
	}
	if url != state.Address {
		state.Address = url
		state.UpdatedAt = e.now().UTC()
		if err := e.store.SaveEnvironment(ctx, state); err != nil {
			return "", fmt.Errorf("record address of %s: %w", envName, err)
		}
	}
	return url, nil
}

// environmentState returns the stored state of pipeline's env, or a new one.
func (e *Engine) environmentState(ctx context.Context, pipeline, env string) (*sluice.EnvironmentState, error) {
	st, err := e.store.Environment(ctx, pipeline, env)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return &sluice.EnvironmentState{Pipeline: pipeline, Name: env}, nil
	}
	return st, err
}

// desired is the version the environment should run after this execution.
func (ac *actionContext) desired() sluice.Version {
	route, env := ac.plan, ac.environment()
	merged := map[string]string{}
	for k, v := range route.Service.Env {
		merged[k] = v
	}
	for k, v := range env.Env {
		merged[k] = v
	}
	h := route.Service.Health
	return sluice.Version{
		Artifact: ac.ex.Artifact, Revision: ac.ex.Revision, Command: route.Service.Command, PortEnv: route.Service.PortEnv,
		Env: merged, Secrets: route.SecretNames(), SecretHashes: ac.e.secretHashes(route.SecretNames()), HealthPath: h.Path, HealthEvery: h.Interval,
		HealthLimit: h.Timeout, StartTimeout: h.StartTimeout, Strategy: env.Deploy.Strategy,
	}
}

func (ac *actionContext) output(action, key string) string {
	for _, rec := range ac.records {
		if rec.Stage == ac.stage.Name && rec.Action == action {
			return rec.Outputs[key]
		}
	}
	return ""
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// logError says that an action's log could not be written, and what to do when the reason is
// a full disk.
func logError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return sluice.Errorf(sluice.EINTERNAL, "write the action's log: %w; the disk holding the state is full (ENOSPC): free some space and run again", err)
	}
	return fmt.Errorf("write the action's log: %w", err)
}
