package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

func cmdDemo(e *env, args []string) error {
	f := newFlags(e, "demo")
	approve := f.Bool("approve", false, "approve the prod change set without asking")
	breakIt := f.Bool("break-prod", false, "after a good run, commit a change that breaks prod only, run again and watch the alarm roll it back")
	keep := f.Bool("keep", false, "keep the environments serving (and the demo folder) until interrupted")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	out := e.stdout
	if *f.json {
		out = e.stderr
	}
	dir, err := os.MkdirTemp("", "sluice-demo-")
	if err != nil {
		return fmt.Errorf("create demo folder: %w", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	if err := demo.Extract(dir); err != nil {
		return err
	}
	if err := gitRun(dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	// The state lives in the repository's folder, as it does for users; keep it out of commits.
	if err := os.WriteFile(filepath.Join(dir, ".git", "info", "exclude"), []byte(".sluice/\n"), 0o644); err != nil {
		return fmt.Errorf("write git exclude: %w", err)
	}
	if err := commitAll(dir, "hello-api: first version"); err != nil {
		return err
	}
	file := filepath.Join(dir, "sluice.yaml")
	state := filepath.Join(dir, ".sluice")
	fmt.Fprintf(out, "demo: the bundled route hello-api in %s (a new git repository)\n", dir)
	if !*approve && !isTerminal(e.stdin) {
		fmt.Fprintf(out, "demo: prod needs an approval: run `sluice approve prod --state %s` in another terminal, or use --approve\n", state)
	}
	inst, err := startEngine(e.ctx, e, file, state, "", nil)
	if err != nil {
		return err
	}
	defer inst.close()
	o := runOptions{file: file, dir: state, approve: *approve, json: *f.json, out: out}

	var summaries []Summary
	first, err := demoRun(e, inst, o)
	if err != nil {
		return err
	}
	summaries = append(summaries, summarize(first))
	ok := first.Execution.Status == sluice.StatusSucceeded
	if ok && *breakIt {
		fmt.Fprintf(out, "\ndemo: committing a change that breaks prod only (%s: %s)\n", breakFile, breakTo)
		if err := breakProd(dir); err != nil {
			return err
		}
		second, err := demoRun(e, inst, o)
		if err != nil {
			return err
		}
		summaries = append(summaries, summarize(second))
		ok = explainBreak(out, second)
	}
	if *f.json {
		writeJSON(e.stdout, map[string]any{"format_version": 1, "demo_folder": dir, "as_designed": ok, "runs": summaries})
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
	fmt.Fprintf(o.out, "execution %s of %s at %s %s\n", ex.ID, ex.Pipeline, short(ex.Revision), ex.Subject)
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendLoad(ctx, inst, "prod", &sent, &failed)
	}()
	snap, err := follow(e.ctx, e, localSource{inst}, ex.ID, o)
	cancel()
	wg.Wait()
	if n := sent.Load(); n > 0 {
		fmt.Fprintf(o.out, "  prod traffic during the run: %d requests, %d answered with an error\n", n, failed.Load())
	}
	return snap, err
}

// sendLoad sends about 50 requests a second to env once it has an address.
func sendLoad(ctx context.Context, inst *instance, env string, sent, failed *atomic.Int64) {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := inst.db.Environment(ctx, env)
		if err != nil || st.Address == "" || st.Live == nil {
			continue
		}
		resp, err := client.Get("http://" + st.Address + "/")
		sent.Add(1)
		if err != nil {
			failed.Add(1)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			failed.Add(1)
		}
	}
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
