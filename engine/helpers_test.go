package engine_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
	"github.com/sluicehq/sluice/sqlite"
)

// fakeProvider stands in for a deploy target: the local provider has its own tests, and these
// ones are about the engine's semantics. Each Fn field, when set, replaces the default: Prepare
// computes deploy.Diff, Apply succeeds, Discard and Restore do nothing.
type fakeProvider struct {
	mu      sync.Mutex
	deploys []deploy.Request
	trail   []string // "prepare ENV DIGEST", "apply ENV DIGEST", "discard ENV DIGEST", in call order
	// targets are the environments as each call named them, in call order.
	targets   []deploy.Environment
	PrepareFn func(ctx context.Context, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error)
	ApplyFn   func(context.Context, deploy.Request) (deploy.Result, error)
	DiscardFn func(context.Context, deploy.Environment, *sluice.ChangeSet) error
	RestoreFn func(env string) error
}

var _ deploy.Provider = (*fakeProvider)(nil)

func (p *fakeProvider) Address(_ context.Context, env deploy.Environment) (string, error) {
	p.named(env)
	return "http://127.0.0.1:1", nil
}

func (p *fakeProvider) Prepare(ctx context.Context, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error) {
	p.named(env)
	p.mu.Lock()
	fn := p.PrepareFn
	p.mu.Unlock()
	var cs *sluice.ChangeSet
	var err error
	if fn != nil {
		cs, err = fn(ctx, env, live, to)
	} else {
		diff := deploy.Diff(env.Name, live, to)
		cs = &diff
	}
	if cs != nil {
		p.note("prepare", cs)
	}
	return cs, err
}

func (p *fakeProvider) Apply(ctx context.Context, req deploy.Request) (deploy.Result, error) {
	p.named(req.Environment)
	p.mu.Lock()
	p.deploys = append(p.deploys, req)
	fn := p.ApplyFn
	p.mu.Unlock()
	p.note("apply", req.ChangeSet)
	if fn != nil {
		return fn(ctx, req)
	}
	return deploy.Result{Status: sluice.StatusSucceeded}, nil
}

func (p *fakeProvider) Teardown(_ context.Context, env deploy.Environment) error {
	p.named(env)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trail = append(p.trail, "teardown "+env.Name+" -")
	return nil
}

func (p *fakeProvider) Discard(ctx context.Context, env deploy.Environment, cs *sluice.ChangeSet) error {
	p.named(env)
	p.mu.Lock()
	fn := p.DiscardFn
	p.mu.Unlock()
	p.note("discard", cs)
	if fn != nil {
		return fn(ctx, env, cs)
	}
	return nil
}

func (p *fakeProvider) Restore(_ context.Context, env deploy.Environment, _ *sluice.Version, _ map[string]string) error {
	p.named(env)
	p.mu.Lock()
	fn := p.RestoreFn
	p.mu.Unlock()
	if fn != nil {
		return fn(env.Name)
	}
	return nil
}

func (p *fakeProvider) Status(_ context.Context, env deploy.Environment) (*deploy.EnvironmentStatus, error) {
	p.named(env)
	return nil, nil
}

func (p *fakeProvider) named(env deploy.Environment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets = append(p.targets, env)
}
func (p *fakeProvider) Close() error { return nil }

func (p *fakeProvider) note(call string, cs *sluice.ChangeSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trail = append(p.trail, call+" "+cs.Environment+" "+cs.Digest)
}

func (p *fakeProvider) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.deploys)
}

// calledWith returns the provider's calls so far, with digests shortened to D1, D2... in the
// order they first appear, so tests can say "the same change set" without knowing its digest.
func (p *fakeProvider) calledWith() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := map[string]string{}
	out := make([]string, len(p.trail))
	for i, c := range p.trail {
		fields := strings.Fields(c)
		d := fields[len(fields)-1]
		if names[d] == "" {
			names[d] = fmt.Sprintf("D%d", len(names)+1)
		}
		out[i] = strings.Join(fields[:len(fields)-1], " ") + " " + names[d]
	}
	return out
}

// fixture is a git repository with a route, and an engine serving it with real state.
type fixture struct {
	t         testing.TB
	repo      string // the git repository, holding sluice.yaml
	state     string
	out       string // a folder outside the repository for commands to leave traces in
	db        *sqlite.DB
	artifacts *artifact.Store
	provider  *fakeProvider
	target    string // the target name the provider is registered under; "local" if empty
	engine    *engine.Engine
	environ   []string
	leasePoll time.Duration // how often the engine looks for stops and renews leases; 50ms if zero
	clock     *testClock    // the engine's clock; time.Now if nil
}

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// routeHead is a route with a cheap build and one environment; tests append checks and
// environment details. @OUT@ is replaced by the fixture's trace folder.
const routeHead = `version: 1
name: t
source: {repo: ., branch: main}
build:
  commands: ["mkdir -p dist && echo app > dist/app"]
  artifact: [dist/]
service:
  command: [dist/app]
`

func newFixture(t testing.TB, route string) *fixture {
	t.Helper()
	f := &fixture{t: t, repo: t.TempDir(), state: t.TempDir(), out: t.TempDir(), provider: &fakeProvider{}}
	f.writeRoute(route)
	f.git("init", "-q", "-b", "main")
	f.commit("first")
	return f
}

func (f *fixture) writeRoute(route string) {
	f.t.Helper()
	route = strings.ReplaceAll(route, "@OUT@", f.out)
	if err := os.WriteFile(filepath.Join(f.repo, "sluice.yaml"), []byte(route), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) git(args ...string) string {
	f.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
	cmd.Dir = f.repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (f *fixture) commit(msg string) {
	f.t.Helper()
	f.git("add", "-A")
	f.git("commit", "-q", "--allow-empty", "-m", msg)
}

// start opens the state and starts an engine; it is closed when the test ends.
func (f *fixture) start() *engine.Engine {
	f.t.Helper()
	var err error
	if f.db, err = sqlite.Open(filepath.Join(f.state, "state.db")); err != nil {
		f.t.Fatal(err)
	}
	if f.artifacts, err = artifact.Open(filepath.Join(f.state, "artifacts")); err != nil {
		f.t.Fatal(err)
	}
	environ := f.environ
	if environ == nil {
		environ = os.Environ()
	}
	var now func() time.Time
	if f.clock != nil {
		now = f.clock.Now
	}
	f.engine, err = engine.New(engine.Config{
		Source:    git.Source{},
		RouteFile: filepath.Join(f.repo, "sluice.yaml"), StateDir: f.state, Store: f.db, Artifacts: f.artifacts,
		Providers: map[string]deploy.Provider{cmp.Or(f.target, "local"): f.provider}, Environ: environ, Now: now, ApprovalPoll: 20 * time.Millisecond, LeasePoll: cmp.Or(f.leasePoll, 50*time.Millisecond),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.engine.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	e, db := f.engine, f.db
	f.t.Cleanup(func() {
		_ = e.Close()
		_ = db.Close()
	})
	return f.engine
}

func (f *fixture) run() *sluice.Execution {
	f.t.Helper()
	ex, err := f.engine.Run(context.Background(), "")
	if err != nil {
		f.t.Fatalf("run: %v", err)
	}
	return ex
}

func (f *fixture) wait(id string) *sluice.Execution {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ex, err := f.engine.Wait(ctx, id)
	if err != nil {
		f.t.Fatalf("wait for %s: %v", id, err)
	}
	return ex
}

func (f *fixture) action(id, stage, name string) sluice.ActionExecution {
	f.t.Helper()
	list, err := f.db.Actions(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range list {
		if a.Stage == stage && a.Action == name {
			return a
		}
	}
	f.t.Fatalf("no action %s/%s in %s", stage, name, id)
	return sluice.ActionExecution{}
}

func (f *fixture) stage(id, name string) sluice.StageExecution {
	f.t.Helper()
	list, err := f.db.Stages(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range list {
		if s.Stage == name {
			return s
		}
	}
	f.t.Fatalf("no stage %s in %s", name, id)
	return sluice.StageExecution{}
}

// eventually polls cond until it holds, failing the test after a generous bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) lines(name string) []string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.out, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// decide decides the approval waiting in env on the change set it waits for, as a person who
// reviewed it does.
func (f *fixture) decide(env string, approve bool, user, comment string) (*sluice.Approval, error) {
	f.t.Helper()
	return f.engine.Decide(context.Background(), engine.Decision{Environment: env, ChangeSet: f.waitingChangeSet(env), Approve: approve, User: user, Comment: comment})
}

// waitingChangeSet is the digest of the change set waiting for approval in env, or "".
func (f *fixture) waitingChangeSet(env string) string {
	f.t.Helper()
	list, err := f.db.ListApprovals(context.Background(), "t@main", env, true)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(list) == 0 {
		return ""
	}
	return list[0].ChangeSetDigest
}

// approveAfterDevMoved records that dev runs something else than when its waiting change set
// was prepared (as if deployed behind the engine's back), then approves that change set.
func (f *fixture) approveAfterDevMoved() {
	f.t.Helper()
	state := &sluice.EnvironmentState{Pipeline: "t@main", Name: "dev", Address: "127.0.0.1:1", UpdatedAt: time.Now().UTC(),
		Live: &sluice.Version{Artifact: "sha256:" + strings.Repeat("ab", 32), Revision: "other"}}
	if err := f.db.SaveEnvironment(context.Background(), state); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		f.t.Fatal(err)
	}
}
