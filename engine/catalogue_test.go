package engine_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/artifact"
	"github.com/sluicehq/sluice/cli/demo"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/git"
	"github.com/sluicehq/sluice/local"
	"github.com/sluicehq/sluice/sqlite"
)

var update = flag.Bool("update", false, "rewrite the examples in docs/events.md from this run")

const catalogueFile = "../docs/events.md"

// notProduced are the documented types the runs below cannot bring about without breaking
// Sluice itself, each with why; their examples are written by hand and still checked.
var notProduced = map[sluice.EventType]string{
	sluice.EventDeploymentFailed:     "needs a provider that fails before moving traffic, or an engine killed mid-deployment",
	sluice.EventVersionRestartFailed: "needs a restart of a crashed version to fail (no free port, a vanished artifact) at the right moment",
}

// catalogueRoute is the bundled example's route, made quick: no checks, prod shifts half the
// traffic per second. Its %s are dev's test, prod's approval timeout and a release number in
// the service's configuration (so that every release changes what prod runs).
const catalogueRoute = `version: 1
name: hello-api
source: {repo: ., branch: main}
build:
  commands: [go build -o dist/app .]
  artifact: [dist/]
  env: {CGO_ENABLED: "0"}
service:
  command: [dist/app]
  port_env: PORT
  health: {path: /healthz, interval: 200ms}
  env: {RELEASE: %q}
environments:
  - name: dev
    env: {APP_ENV: dev}
    deploy: {strategy: AllAtOnce}
    tests:
      - name: smoke
        run: %q
  - name: prod
    env: {APP_ENV: prod}
    approval: {required: true, timeout: %s}
    deploy:
      strategy: {type: linear, percent: 50, interval: 1s}
      alarms:
        - {name: api-errors, metric: error_rate, threshold: 0.05, window: 2s, min_requests: 5}
execution_mode: superseded
`

// TestEventCatalogue runs the bundled example through real releases with the local provider —
// one that reaches prod, a failing test, a rejected approval, an alarm rollback under load, a
// frozen prod with a superseded, a stopped and a retried execution, an expired approval, a
// killed live version, an engine that cannot restore an environment — and holds what they
// emit to docs/events.md: every event stored (and every progress event published) is
// documented with the fields it carries, and every documented type was seen. -update
// rewrites the examples from this run.
func TestEventCatalogue(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and deploys the bundled example")
	}
	doc := readCatalogue(t)
	checkCatalogueMatchesCode(t, doc)

	c := newCatalogueRun(t)
	progress := c.collectProgress()

	first := c.release("1", "true", "1h")
	c.approve(first)
	c.wantEnd(first, sluice.StatusSucceeded)

	c.wantEnd(c.release("2", "exit 1", "1h"), sluice.StatusFailed)

	rejected := c.release("3", "true", "1h")
	c.decide(rejected, false)
	c.wantEnd(rejected, sluice.StatusRejected)

	c.setBreak(true)
	broken := c.release("4", "true", "1h")
	stopLoad := c.load("prod")
	c.approve(broken)
	c.wantEnd(broken, sluice.StatusRolledBack)
	stopLoad()
	c.setBreak(false)

	must(t, c.engine.Freeze(c.ctx, "", "prod", true, "release freeze"))
	older := c.release("5", "true", "1h")
	c.waitFor("execution "+older.ID+" waits before the frozen prod", func() bool { return c.execution(older.ID).Waiting != "" })
	newer := c.release("6", "true", "1h")
	c.wantEnd(older, sluice.StatusSuperseded)
	must(t, c.engine.Freeze(c.ctx, "", "prod", false, "freeze over"))
	c.pending(newer)
	if _, err := c.engine.Stop(c.ctx, newer.ID, "ann"); err != nil {
		t.Fatal(err)
	}
	c.wantEnd(newer, sluice.StatusStopped)
	if _, err := c.engine.Retry(c.ctx, newer.ID); err != nil {
		t.Fatal(err)
	}
	c.approve(newer)
	c.wantEnd(newer, sluice.StatusSucceeded)

	c.wantEnd(c.release("7", "true", "1s"), sluice.StatusRejected) // nobody decides in time

	c.git("branch", "feature/catalogue")
	branched, err := c.engine.RunBranch(c.ctx, "feature/catalogue", "")
	must(t, err)
	_, err = c.engine.RemovePipeline(c.ctx, branched.Pipeline, "branch feature/catalogue was deleted")
	must(t, err)
	c.wantEnd(branched, sluice.StatusStopped)

	c.killLive("dev")
	c.restartWithoutArtifacts()

	stored, err := c.db.ListEvents(c.ctx, 0, 0)
	must(t, err)
	seen := append(stored, progress()...)
	checkSeen(t, doc, seen)
	checkRollbackCauses(t, stored)
	if *update {
		writeExamples(t, doc, seen, c.paths())
		doc = readCatalogue(t)
	}
	checkExamples(t, doc)
}

// catalogue is docs/events.md, read.
type catalogue struct {
	text    string
	entries map[sluice.EventType]catalogueEntry
}

// catalogueEntry is what docs/events.md says of one event type.
type catalogueEntry struct {
	fields        []string
	example       string
	exampleOffset [2]int // where the example's text is in the file
}

var (
	headingRE = regexp.MustCompile(`(?m)^### (sluice\.[a-z_.]+)\s*$`)
	fieldsRE  = regexp.MustCompile("(?m)^Fields: (.*)$")
	nameRE    = regexp.MustCompile("`([a-z_]+)`")
	exampleRE = regexp.MustCompile("(?s)```json\n(.*?)\n```")
)

func readCatalogue(t *testing.T) (doc catalogue) {
	t.Helper()
	b, err := os.ReadFile(catalogueFile)
	must(t, err)
	doc.text = string(b)
	doc.entries = map[sluice.EventType]catalogueEntry{}
	heads := headingRE.FindAllStringSubmatchIndex(doc.text, -1)
	for i, h := range heads {
		typ := sluice.EventType(doc.text[h[2]:h[3]])
		end := len(doc.text)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		if next := strings.Index(doc.text[h[1]:end], "\n## "); next >= 0 {
			end = h[1] + next
		}
		section := doc.text[h[1]:end]
		if _, dup := doc.entries[typ]; dup {
			t.Errorf("%s: %s is documented twice", catalogueFile, typ)
		}
		var e catalogueEntry
		if m := fieldsRE.FindStringSubmatch(section); m != nil {
			for _, n := range nameRE.FindAllStringSubmatch(m[1], -1) {
				e.fields = append(e.fields, n[1])
			}
		} else {
			t.Errorf("%s: %s has no Fields: line", catalogueFile, typ)
		}
		if m := exampleRE.FindStringSubmatchIndex(section); m != nil {
			e.example = section[m[2]:m[3]]
			e.exampleOffset = [2]int{h[1] + m[2], h[1] + m[3]}
		} else {
			t.Errorf("%s: %s has no json example", catalogueFile, typ)
		}
		doc.entries[typ] = e
	}
	return doc
}

// checkCatalogueMatchesCode: the documented types are the ones the code has, and each
// documented field is a field of the type's payload.
func checkCatalogueMatchesCode(t *testing.T, doc catalogue) {
	t.Helper()
	for _, typ := range sluice.EventTypes() {
		if _, ok := doc.entries[typ]; !ok {
			t.Errorf("%s is a type in the code but not in %s", typ, catalogueFile)
		}
	}
	for typ, e := range doc.entries {
		if !typ.Known() {
			t.Errorf("%s documents %s, which the code does not emit", catalogueFile, typ)
			continue
		}
		have := jsonFields(reflect.TypeOf(typ.Payload()).Elem())
		for _, f := range e.fields {
			if !slices.Contains(have, f) {
				t.Errorf("%s: %s documents field %q; its payload %T has %v", catalogueFile, typ, f, typ.Payload(), have)
			}
		}
	}
}

func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// checkSeen: every event seen is documented, carries only documented fields, decodes into its
// payload type; every documented type was seen (but those in notProduced).
func checkSeen(t *testing.T, doc catalogue, seen []sluice.Event) {
	t.Helper()
	types := map[sluice.EventType]int{}
	for _, ev := range seen {
		types[ev.Type]++
		e, ok := doc.entries[ev.Type]
		if !ok {
			t.Errorf("a run emitted %s (subject %s), which %s does not list", ev.Type, ev.Subject, catalogueFile)
			continue
		}
		if ev.Source != "sluice" || ev.SpecVersion != "1.0" || ev.ID == "" || ev.Time.IsZero() || ev.DataContentType != "application/json" {
			t.Errorf("%s: CloudEvents attributes %+v", ev.Type, ev)
		}
		if _, err := ev.DecodeData(); err != nil {
			t.Errorf("%s: %v", ev.Type, err)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Errorf("%s: data is not a JSON object: %v", ev.Type, err)
			continue
		}
		for k := range data {
			if !slices.Contains(e.fields, k) {
				t.Errorf("%s carries field %q, which %s does not list for it (it lists %v)", ev.Type, k, catalogueFile, e.fields)
			}
		}
	}
	for typ := range doc.entries {
		_, exempt := notProduced[typ]
		switch {
		case types[typ] == 0 && !exempt:
			t.Errorf("%s documents %s, but no run emitted it", catalogueFile, typ)
		case types[typ] > 0 && exempt:
			t.Errorf("%s was emitted after all: take it out of notProduced", typ)
		}
	}
	var counts []string
	for typ, n := range types {
		counts = append(counts, fmt.Sprintf("%s %d", typ, n))
	}
	sort.Strings(counts)
	t.Logf("events seen: %s", strings.Join(counts, ", "))
}

// checkRollbackCauses: the causes documented are the code's, and the alarm rollback says so.
func checkRollbackCauses(t *testing.T, stored []sluice.Event) {
	t.Helper()
	b, err := os.ReadFile(catalogueFile)
	must(t, err)
	_, table, _ := strings.Cut(string(b), "## Rollback causes")
	var documented []sluice.RollbackCause
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented = append(documented, sluice.RollbackCause(m[1]))
	}
	want := sluice.RollbackCauses()
	slices.Sort(documented)
	slices.Sort(want)
	if !slices.Equal(documented, want) {
		t.Errorf("%s lists rollback causes %v; the code has %v", catalogueFile, documented, want)
	}
	for _, ev := range stored {
		if ev.Type != sluice.EventDeploymentRolledBack {
			continue
		}
		v, err := ev.DecodeData()
		must(t, err)
		if d := v.(*sluice.Deployment); d.Rollback != nil && d.Rollback.Cause == sluice.CauseAlarm && d.Rollback.Alarm == "api-errors" {
			return
		}
	}
	t.Error("no sluice.deployment.rolled_back event says the api-errors alarm caused it")
}

// checkExamples: every example is one CloudEvents event of its section's type whose data
// decodes into the payload and has only documented fields.
func checkExamples(t *testing.T, doc catalogue) {
	t.Helper()
	for typ, e := range doc.entries {
		var ev sluice.Event
		if err := json.Unmarshal([]byte(e.example), &ev); err != nil || ev.Type != typ {
			t.Errorf("%s: the example of %s is not one of its events (type %q, %v); run go test ./engine -run TestEventCatalogue -update", catalogueFile, typ, ev.Type, err)
			continue
		}
		if _, err := ev.DecodeData(); err != nil {
			t.Errorf("%s: the example of %s: %v", catalogueFile, typ, err)
		}
		var data map[string]json.RawMessage
		_ = json.Unmarshal(ev.Data, &data)
		for k := range data {
			if !slices.Contains(e.fields, k) {
				t.Errorf("%s: the example of %s has field %q, not listed for it", catalogueFile, typ, k)
			}
		}
	}
}

// writeExamples puts the first event seen of each type in as its example, with this run's
// temporary folders named as a user's would be.
func writeExamples(t *testing.T, doc catalogue, seen []sluice.Event, paths *strings.Replacer) {
	t.Helper()
	first := map[sluice.EventType]sluice.Event{}
	for _, ev := range seen {
		if _, ok := first[ev.Type]; !ok {
			first[ev.Type] = ev
		}
	}
	type edit struct {
		at   [2]int
		text string
	}
	var edits []edit
	for typ, e := range doc.entries {
		ev, ok := first[typ]
		if !ok {
			continue
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		must(t, enc.Encode(ev))
		edits = append(edits, edit{e.exampleOffset, paths.Replace(strings.TrimSuffix(b.String(), "\n"))})
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].at[0] > edits[j].at[0] })
	text := doc.text
	for _, ed := range edits {
		text = text[:ed.at[0]] + ed.text + text[ed.at[1]:]
	}
	must(t, os.WriteFile(catalogueFile, []byte(text), 0o644))
}

// catalogueRun is the bundled example in a git repository, with an engine deploying it with
// the local provider on real state.
type catalogueRun struct {
	t         *testing.T
	ctx       context.Context
	repo      string
	state     string
	db        *sqlite.DB
	artifacts *artifact.Store
	provider  *local.Provider
	engine    *engine.Engine
}

func newCatalogueRun(t *testing.T) *catalogueRun {
	t.Helper()
	root := t.TempDir()
	c := &catalogueRun{t: t, ctx: context.Background(), repo: filepath.Join(root, "hello-api"), state: filepath.Join(root, "state")}
	must(t, os.MkdirAll(c.repo, 0o755))
	must(t, os.MkdirAll(c.state, 0o755))
	must(t, demo.Extract(c.repo))
	c.git("init", "-q", "-b", "main")
	c.start()
	return c
}

func (c *catalogueRun) start() {
	c.t.Helper()
	var err error
	c.db, err = sqlite.Open(filepath.Join(c.state, "state.db"))
	must(c.t, err)
	c.artifacts, err = artifact.Open(filepath.Join(c.state, "artifacts"))
	must(c.t, err)
	c.provider = local.New(filepath.Join(c.state, "environments"), c.artifacts, nil)
	c.engine, err = engine.New(engine.Config{
		Source:    git.Source{},
		RouteFile: filepath.Join(c.repo, "sluice.yaml"), StateDir: c.state, Store: c.db, Artifacts: c.artifacts,
		Providers: map[string]deploy.Provider{"local": c.provider}, Environ: os.Environ(),
		ApprovalPoll: 20 * time.Millisecond, LeasePoll: 50 * time.Millisecond,
	})
	must(c.t, err)
	must(c.t, c.engine.Start(c.ctx))
	e, db := c.engine, c.db
	c.t.Cleanup(func() { _ = e.Close(); _ = db.Close() })
}

// paths names this run's folders as they would be on a user's machine.
func (c *catalogueRun) paths() *strings.Replacer {
	return strings.NewReplacer(c.state, "/home/ann/hello-api/.sluice", c.repo, "/home/ann/hello-api")
}

func (c *catalogueRun) git(args ...string) {
	c.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ann", "-c", "user.email=ann@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = c.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// release commits the route with these settings and starts an execution of it.
func (c *catalogueRun) release(number, devTest, approvalTimeout string) *sluice.Execution {
	c.t.Helper()
	route := fmt.Sprintf(catalogueRoute, number, devTest, approvalTimeout)
	must(c.t, os.WriteFile(filepath.Join(c.repo, "sluice.yaml"), []byte(route), 0o644))
	c.git("add", "-A")
	c.git("commit", "-q", "-m", "release "+number)
	ex, err := c.engine.Run(c.ctx, "")
	must(c.t, err)
	return ex
}

// setBreak makes the service fail every request in prod, or not.
func (c *catalogueRun) setBreak(broken bool) {
	c.t.Helper()
	from, to := "deliberatelyBreakProd = false", "deliberatelyBreakProd = true"
	if !broken {
		from, to = to, from
	}
	path := filepath.Join(c.repo, "breakprod.go")
	src, err := os.ReadFile(path)
	must(c.t, err)
	if !strings.Contains(string(src), from) {
		c.t.Fatalf("breakprod.go no longer contains %q; update the test", from)
	}
	must(c.t, os.WriteFile(path, []byte(strings.Replace(string(src), from, to, 1)), 0o644))
}

func (c *catalogueRun) execution(id string) *sluice.Execution {
	c.t.Helper()
	ex, err := c.db.Execution(c.ctx, id)
	must(c.t, err)
	return ex
}

func (c *catalogueRun) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pending waits until ex's prod approval waits for a decision and returns it.
func (c *catalogueRun) pending(ex *sluice.Execution) sluice.Approval {
	c.t.Helper()
	var found sluice.Approval
	c.waitFor("prod's approval of "+ex.ID+" waits", func() bool {
		list, err := c.db.ListApprovals(c.ctx, ex.Pipeline, "prod", true)
		must(c.t, err)
		for _, a := range list {
			if a.ExecutionID == ex.ID {
				found = a
				return true
			}
		}
		if now := c.execution(ex.ID); now.Status.Done() {
			c.t.Fatalf("execution %s ended %s (%s) before asking for prod's approval", ex.ID, now.Status, now.Error)
		}
		return false
	})
	return found
}

func (c *catalogueRun) decide(ex *sluice.Execution, approve bool) {
	c.t.Helper()
	a := c.pending(ex)
	_, err := c.engine.Decide(c.ctx, engine.Decision{Environment: "prod", ChangeSet: a.ChangeSetDigest, Approve: approve, User: "ann", Comment: "reviewed"})
	must(c.t, err)
}

func (c *catalogueRun) approve(ex *sluice.Execution) { c.t.Helper(); c.decide(ex, true) }

func (c *catalogueRun) wantEnd(ex *sluice.Execution, want sluice.Status) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Minute)
	defer cancel()
	got, err := c.engine.Wait(ctx, ex.ID)
	must(c.t, err)
	if got.Status != want {
		c.t.Fatalf("execution %s ended %s (%s), want %s", ex.ID, got.Status, got.Error, want)
	}
}

// load sends requests to env's address until the returned function is called, as users would:
// an alarm judges the answers of real traffic.
func (c *catalogueRun) load(env string) func() {
	c.t.Helper()
	state, err := c.db.Environment(c.ctx, "hello-api@main", env)
	must(c.t, err)
	url := state.Address
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if resp, err := client.Get(url + "/"); err == nil {
				resp.Body.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { close(stop); wg.Wait() }
}

// collectProgress gathers the progress events the engine publishes (they are not stored) until
// the returned function is called, which returns them.
func (c *catalogueRun) collectProgress() func() []sluice.Event {
	ch, cancel := c.engine.Bus().Subscribe()
	var got []sluice.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if ev.Type == sluice.EventDeploymentProgress {
				got = append(got, ev)
			}
		}
	}()
	return func() []sluice.Event {
		cancel()
		<-done
		return got
	}
}

// killLive kills env's live version from outside, as kill -9 would, and waits until it was
// restarted.
func (c *catalogueRun) killLive(env string) {
	c.t.Helper()
	st, err := c.provider.Status(context.Background(), deploy.Environment{Name: env})
	must(c.t, err)
	if st == nil || len(st.Versions) == 0 || st.Versions[0].Pid == 0 {
		c.t.Fatalf("%s runs no process to kill: %+v", env, st)
	}
	must(c.t, syscall.Kill(st.Versions[0].Pid, syscall.SIGKILL))
	c.waitFor("the killed version in "+env+" is restarted", func() bool { return c.stored(sluice.EventVersionRestarted) })
}

// restartWithoutArtifacts stops the engine, loses the artifacts its environments run, and
// starts it again: it cannot restore them.
func (c *catalogueRun) restartWithoutArtifacts() {
	c.t.Helper()
	must(c.t, c.engine.Close())
	must(c.t, c.db.Close())
	dir := filepath.Join(c.state, "artifacts")
	must(c.t, os.RemoveAll(dir))
	must(c.t, os.MkdirAll(dir, 0o755))
	c.start()
	c.waitFor("the engine reports environments it could not restore", func() bool { return c.stored(sluice.EventEnvironmentRestoreFailed) })
}

func (c *catalogueRun) stored(typ sluice.EventType) bool {
	c.t.Helper()
	list, err := c.db.ListEvents(c.ctx, 0, 0)
	must(c.t, err)
	return slices.ContainsFunc(list, func(ev sluice.Event) bool { return ev.Type == typ })
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
