package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cli/demo"
	"github.com/sluicehq/sluice/engine"
)

// breakProd is the change `sluice demo --break-prod` commits: the service then fails every
// request, but only in prod.
const (
	breakFile = "breakprod.go"
	breakFrom = "deliberatelyBreakProd = false"
	breakTo   = "deliberatelyBreakProd = true"
)

// demoRoute is what sets one bundled route's demo apart from the other.
type demoRoute struct {
	name   string // the example's name
	bundle []byte
	// start readies the route's folder (before its first commit) and the machine for the
	// route, and returns what undoes it; nil when there is nothing to ready.
	start func(dir string, out io.Writer) (stop func(), err error)
	// second says how prod takes the second release.
	second string
	// releaseFile is the file of the artifact the second release appends a line to, starting
	// with releaseComment.
	releaseFile, releaseComment string
	// afterRun, if set, reports on a run once it ended.
	afterRun func(out io.Writer, snap *engine.Snapshot)
	// explain, if set, says more about a rolled back prod.
	explain func(out io.Writer, snap *engine.Snapshot)
	// json, if set, adds to the demo's JSON.
	json func() map[string]any
}

func helloRoute() *demoRoute {
	return &demoRoute{name: "hello-api", bundle: demo.Bundle, second: "which prod takes 20% at a time under load", releaseFile: "README.md"}
}

func cmdDemo(e *env, f *flags, d demoFlags) error {
	approve, breakIt, keep := &d.approve, &d.breakProd, &d.keep
	out := e.stdout
	if *f.json {
		out = e.stderr
	}
	route := helloRoute()
	if d.aws {
		var err error
		if route, err = serverlessRoute(); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "sluice-demo-")
	if err != nil {
		return fmt.Errorf("create demo folder: %w", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	if err := demo.ExtractBundle(dir, route.bundle); err != nil {
		return err
	}
	if err := gitRun(dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	// The state lives in the repository's folder, as it does for users; keep it out of commits.
	if err := os.WriteFile(filepath.Join(dir, ".git", "info", "exclude"), []byte(".sluice/\n.sluice-*\n"), 0o644); err != nil {
		return fmt.Errorf("write git exclude: %w", err)
	}
	fmt.Fprintf(out, "demo: the bundled route %s in %s (a new git repository)\n", route.name, dir)
	if route.start != nil {
		stop, err := route.start(dir, out)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := commitAll(dir, route.name+": first version"); err != nil {
		return err
	}
	file := filepath.Join(dir, "sluice.yaml")
	state := filepath.Join(dir, ".sluice")
	if !*approve && !isTerminal(e.stdin) {
		fmt.Fprintf(out, "demo: no terminal to ask at: prod's approval will wait for `sluice approve prod --change-set DIGEST --state %s` (the run prints the digest), or use --approve\n", state)
	}
	inst, err := startEngine(e.ctx, e, file, state, serveOptions{}, nil)
	if err != nil {
		return err
	}
	defer inst.close()
	o := runOptions{file: file, dir: state, approve: *approve, json: *f.json, out: out, stateGoes: !*keep}

	var summaries []Summary
	run := func() (*engine.Snapshot, error) {
		snap, err := demoRun(e, inst, o)
		if err != nil {
			return nil, err
		}
		if route.afterRun != nil {
			route.afterRun(out, snap)
		}
		summaries = append(summaries, summarize(snap))
		return snap, nil
	}
	first, err := run()
	if err != nil {
		return err
	}
	ok := first.Execution.Status == sluice.StatusSucceeded
	if ok && !*breakIt {
		// The first release goes to an empty prod all at once; a second one shows the shift.
		fmt.Fprintf(out, "\ndemo: committing a second release, %s\n", route.second)
		if err := secondRelease(dir, route); err != nil {
			return err
		}
		second, err := run()
		if err != nil {
			return err
		}
		ok = second.Execution.Status == sluice.StatusSucceeded
	}
	if ok && *breakIt {
		fmt.Fprintf(out, "\ndemo: committing a change that breaks prod only (%s: %s)\n", breakFile, breakTo)
		if err := breakProd(dir); err != nil {
			return err
		}
		second, err := run()
		if err != nil {
			return err
		}
		ok = explainBreak(out, second)
		if ok && route.explain != nil {
			route.explain(out, second)
		}
	}
	if *f.json {
		doc := map[string]any{"format_version": 1, "demo_folder": dir, "as_designed": ok, "runs": summaries}
		if route.json != nil {
			maps.Copy(doc, route.json())
		}
		writeJSON(e.stdout, doc)
	}
	if *keep && e.ctx.Err() == nil {
		fmt.Fprintln(out, "demo: environments keep serving until you press Ctrl-C")
		<-e.ctx.Done()
	}
	if !ok {
		fmt.Fprintln(out, "demo: did not behave as designed; see the output above and sluice logs")
		return exitError(ExitFailed)
	}
	fmt.Fprintln(out, "demo: behaved as designed")
	return nil
}

// demoRun runs one execution of HEAD while a small steady load reaches prod, as real users
// would: the alarm needs traffic to judge.
func demoRun(e *env, inst *instance, o runOptions) (*engine.Snapshot, error) {
	ex, err := inst.engine.Run(e.ctx, "")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.out, "execution %s of %s at %s %s\n", ex.ID, ex.Pipeline, sluice.ShortRevision(ex.Revision), ex.Subject)
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	traffic := &trafficCount{byVersion: map[string]int{}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendLoad(ctx, inst, "prod", traffic)
	}()
	snap, err := follow(e.ctx, e, inProcess(inst), ex.ID, o)
	cancel()
	wg.Wait()
	traffic.report(o.out)
	return snap, err
}

// trafficCount is what the demo's clients saw: answers by version (the example names itself in
// the X-Version header) and failures.
type trafficCount struct {
	mu        sync.Mutex
	sent      int
	failed    int
	byVersion map[string]int
}

func (c *trafficCount) add(version string, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent++
	if failed {
		c.failed++
	}
	if version != "" {
		c.byVersion[version]++
	}
}

func (c *trafficCount) report(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == 0 {
		return
	}
	versions := make([]string, 0, len(c.byVersion))
	for v, n := range c.byVersion {
		versions = append(versions, fmt.Sprintf("%d from %s", n, v))
	}
	sort.Strings(versions)
	fmt.Fprintf(w, "  prod traffic during the run: %d requests (%s), %d answered with an error\n", c.sent, strings.Join(versions, ", "), c.failed)
}

// sendLoad sends about 50 requests a second to env once it serves a version.
func sendLoad(ctx context.Context, inst *instance, env string, count *trafficCount) {
	client := &http.Client{Timeout: 2 * time.Second}
	pipeline := inst.engine.Snapshots().Pipeline
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := inst.db.Environment(ctx, pipeline, env)
		if err != nil || st.Address == "" || st.Live == nil {
			continue
		}
		resp, err := client.Get(strings.TrimSuffix(st.URL(), "/") + "/")
		if err != nil {
			count.add("", true)
			continue
		}
		resp.Body.Close()
		count.add(resp.Header.Get("X-Version"), resp.StatusCode >= 500)
	}
}

// secondRelease commits a harmless change to a file of the artifact: a new artifact is a new
// version to deploy.
func secondRelease(dir string, route *demoRoute) error {
	path := filepath.Join(dir, route.releaseFile)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("edit %s: %w", path, err)
	}
	_, err = fmt.Fprintf(f, "\n%sSecond release, deployed by sluice demo.\n", route.releaseComment)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return commitAll(dir, route.name+": second release")
}

func breakProd(dir string) error {
	path := filepath.Join(dir, breakFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", breakFile, err)
	}
	if !strings.Contains(string(b), breakFrom) {
		return fmt.Errorf("%s does not contain %q; the bundled example changed", breakFile, breakFrom)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), breakFrom, breakTo, 1)), 0o644); err != nil {
		return err
	}
	return commitAll(dir, "Deliberately break prod")
}

// explainBreak says what happened to the broken run and whether it was what the demo expects:
// dev succeeded (the break is prod-only) and prod was rolled back by its alarm or hook.
func explainBreak(w interface{ Write([]byte) (int, error) }, snap *engine.Snapshot) bool {
	devOK, prodRolledBack := false, false
	for _, st := range snap.Stages {
		if st.Stage == "dev" && st.Status == sluice.StatusSucceeded {
			devOK = true
		}
	}
	for _, env := range snap.Environments {
		if env.Name == "prod" && env.LastDeployment != nil && env.LastDeployment.ExecutionID == snap.Execution.ID &&
			env.LastDeployment.Status == sluice.StatusRolledBack {
			prodRolledBack = true
		}
	}
	if devOK && prodRolledBack {
		fmt.Fprintln(w, "demo: dev passed (the break is prod-only) and prod was rolled back: the old version kept serving")
		return true
	}
	return false
}

func commitAll(dir, message string) error {
	if err := gitRun(dir, "add", "-A"); err != nil {
		return err
	}
	return gitRun(dir, "-c", "user.name=Sluice demo", "-c", "user.email=demo@sluice.invalid", "commit", "-q", "-m", message)
}

func gitRun(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
