package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/logtail"
)

// source is where a followed execution is read, decided and stopped: the engine in this
// process, or a running `sluice up`, through the service both implement.
type source interface {
	service
	// gone reports whether the engine behind the source has stopped serving.
	gone(ctx context.Context) bool
}

type localSource struct{ *engine.Engine }

func inProcess(inst *instance) localSource      { return localSource{inst.engine} }
func (s localSource) gone(context.Context) bool { return false }

type remoteSource struct{ *api.Client }

func (s remoteSource) gone(ctx context.Context) bool { return !s.Ping(ctx) }

type runOptions struct {
	file, dir, rev string
	pipeline       string // run --pipeline: a new execution in that pipeline
	approve, json  bool
	keep           bool
	fresh          bool      // run --new: a new execution even if the revision ran before
	stateGoes      bool      // the state is removed when the command ends (demo): no sluice logs hint
	out            io.Writer // progress; stdout, or stderr with --json
}

func cmdRun(e *env, f *flags, r runFlags) error {
	_, diags, err := load(*f.file)
	if err != nil {
		return err
	}
	printDiagnostics(e.stderr, diags)
	if diags.HasErrors() {
		return exitError(ExitUsage)
	}
	warnUncommitted(e.ctx, e.stderr, *f.file)
	dir, err := stateDir(f)
	if err != nil {
		return err
	}
	snap, err := runRoute(e, runOptions{file: *f.file, dir: dir, rev: r.rev, pipeline: *f.pipeline, approve: r.approve, json: *f.json, keep: r.keep, fresh: r.fresh})
	if err != nil {
		return err
	}
	return exitFor(snap)
}

// runRoute follows the execution of o.rev: a new one, or the one the revision has already
// (interrupted ones resume; one revision runs once unless --new asks for another).
func runRoute(e *env, o runOptions) (*engine.Snapshot, error) {
	return execute(e, o, func(svc service) (*sluice.Execution, string, error) {
		if o.pipeline != "" {
			ex, err := svc.RunIn(e.ctx, o.pipeline, o.rev)
			if err != nil {
				return nil, "", err
			}
			return ex, headline(ex, false), nil
		}
		if o.fresh {
			ex, err := svc.Run(e.ctx, o.rev)
			if err != nil {
				return nil, "", err
			}
			return ex, headline(ex, false), nil
		}
		ex, resumed, err := svc.RunOrResume(e.ctx, o.rev)
		if err != nil {
			return nil, "", err
		}
		return ex, headline(ex, resumed), nil
	})
}

func headline(ex *sluice.Execution, resumed bool) string {
	switch {
	case resumed && ex.Status.Done():
		return fmt.Sprintf("%s at %s already ran as execution %s, which ended %s; sluice run --new runs it again", ex.Pipeline, sluice.ShortRevision(ex.Revision), ex.ID, ex.Status)
	case resumed:
		return fmt.Sprintf("resuming execution %s of %s at %s, which had not ended", ex.ID, ex.Pipeline, sluice.ShortRevision(ex.Revision))
	}
	return fmt.Sprintf("execution %s of %s at %s %s", ex.ID, ex.Pipeline, sluice.ShortRevision(ex.Revision), ex.Subject)
}

// execute begins an execution with begins, on the engine serving o.dir or one started in this
// process, follows it to its end, prints the --json summary when asked, and with --keep leaves
// the environments serving until interrupted. begins returns the execution and the line that
// announces it.
func execute(e *env, o runOptions, begins func(service) (*sluice.Execution, string, error)) (*engine.Snapshot, error) {
	ctx := e.ctx
	o.out = e.stdout
	if o.json {
		o.out = e.stderr
	}
	src, ex, head, closeEngine, err := begin(ctx, e, o, begins)
	if err != nil {
		return nil, err
	}
	defer closeEngine()
	fmt.Fprintln(o.out, head)
	snap, err := follow(ctx, e, src, ex.ID, o)
	for errors.Is(err, errEngineGone) {
		// The engine this command handed the execution to has stopped (its own run ended, or it
		// was stopped): take the execution over here, where it resumes from its stored state.
		fmt.Fprintf(o.out, "the engine serving %s stopped; taking over execution %s here\n", o.dir, ex.ID)
		inst, client, serr := takeOver(ctx, e, o)
		switch {
		case serr != nil:
			return nil, serr
		case client != nil: // another engine took over first
			snap, err = follow(ctx, e, remoteSource{client}, ex.ID, o)
		default:
			defer inst.close()
			snap, err = follow(ctx, e, inProcess(inst), ex.ID, o)
		}
	}
	if err != nil {
		return nil, err
	}
	if o.json {
		writeJSON(e.stdout, summarize(snap))
	}
	if o.keep && ctx.Err() == nil {
		for _, env := range snap.Environments {
			if env.Endpoint != "" {
				fmt.Fprintf(o.out, "%s serves at %s\n", env.Name, env.Endpoint)
			}
		}
		fmt.Fprintln(o.out, "environments keep serving until you press Ctrl-C")
		<-ctx.Done()
	}
	return snap, nil
}

// begin hands the execution to the engine serving o.dir, or begins it with an engine started
// here; the caller calls closeEngine when it is done. An engine that stops while it is being
// handed the execution (it was closing) is no failure: the execution begins with whichever
// engine serves the state next, or here.
func begin(ctx context.Context, e *env, o runOptions, begins func(service) (*sluice.Execution, string, error),
) (src source, ex *sluice.Execution, head string, closeEngine func(), err error) {
	here := func(inst *instance) (source, *sluice.Execution, string, func(), error) {
		ex, head, err := begins(inst.engine)
		if err != nil {
			inst.close()
			return nil, nil, "", nil, err
		}
		return inProcess(inst), ex, head, inst.close, nil
	}
	client := runningEngine(ctx, o.dir)
	if client == nil {
		inst, err := startEngine(ctx, e, o.file, o.dir, serveOptions{}, nil)
		if err != nil {
			return nil, nil, "", nil, err
		}
		return here(inst)
	}
	fmt.Fprintf(o.out, "handing the execution to the engine serving %s (%s)\n", o.dir, client.Base)
	if ex, head, err = begins(client); err == nil {
		return remoteSource{client}, ex, head, func() {}, nil
	}
	if ctx.Err() != nil || !(remoteSource{client}).gone(ctx) {
		return nil, nil, "", nil, err
	}
	fmt.Fprintf(o.out, "the engine serving %s stopped before it took the execution; beginning it here\n", o.dir)
	inst, other, err := takeOver(ctx, e, o)
	switch {
	case err != nil:
		return nil, nil, "", nil, err
	case other != nil:
		ex, head, err = begins(other)
		return remoteSource{other}, ex, head, func() {}, err
	}
	return here(inst)
}

// takeOver starts an engine on o.dir once the one that served it has let go of the state (it
// may still be closing), or returns the client of another engine that started first.
func takeOver(ctx context.Context, e *env, o runOptions) (*instance, *api.Client, error) {
	deadline := time.Now().Add(time.Minute) // an engine closing waits for its actions to stop
	for {
		inst, err := startEngine(ctx, e, o.file, o.dir, serveOptions{}, nil)
		if err == nil {
			return inst, nil, nil
		}
		if client := runningEngine(ctx, o.dir); client != nil {
			return nil, client, nil
		}
		if sluice.ErrorCode(err) != sluice.ECONFLICT || time.Now().After(deadline) {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// exitFor is the exit of a command that followed an execution: 1 unless it succeeded.
func exitFor(snap *engine.Snapshot) error {
	if !snap.Execution.Status.OK() {
		return exitError(ExitFailed)
	}
	return nil
}

// follow prints an execution's progress until it ends, and handles its approvals.
func follow(ctx context.Context, e *env, src source, id string, o runOptions) (*engine.Snapshot, error) {
	var prev *engine.Snapshot
	asked := map[int64]bool{}
	answers := make(chan answer, 1)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		snap, err := src.Execution(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if src.gone(ctx) {
				return nil, errEngineGone
			}
			return nil, err
		}
		render(ctx, o.out, o, src, prev, snap, start)
		prev = snap
		if snap.Execution.Status.Done() {
			renderEnd(o.out, snap, time.Since(start))
			return snap, nil
		}
		for _, env := range snap.Environments {
			a := env.Pending
			if a == nil || a.ExecutionID != id || asked[a.ID] {
				continue
			}
			asked[a.ID] = true
			switch {
			case o.approve:
				fmt.Fprintf(o.out, "  approving %s for %s (--approve)\n", sluice.ShortDigest(a.ChangeSetDigest), env.Name)
				d := engine.Decision{Pipeline: a.Pipeline, Environment: env.Name, ChangeSet: a.ChangeSetDigest, Approve: true, User: identity(), Comment: "approved with --approve"}
				if _, err := src.Decide(ctx, d); err != nil {
					// Refused (not an approver, expired): nobody else was asked to decide, so the
					// execution must not be left waiting for good.
					fmt.Fprintf(o.out, "  could not approve: %v\n", err)
					if _, serr := src.Stop(ctx, id, identity()); serr != nil && sluice.ErrorCode(serr) != sluice.ECONFLICT {
						fmt.Fprintf(o.out, "  could not stop execution %s either: %v\n", id, serr)
					} else {
						fmt.Fprintf(o.out, "  stopped execution %s: --approve could not decide its approval\n", id)
					}
				}
			case isTerminal(e.stdin):
				if cs, err := src.ChangeSet(ctx, a.ChangeSetDigest); err == nil {
					fmt.Fprint(o.out, indent(engine.FormatChangeSet(cs), "    "))
				}
				fmt.Fprintf(o.out, "  approve deploying this change set to %s? [y/N] ", env.Name)
				go ask(e.stdin, env.Name, a.ChangeSetDigest, answers)
			default:
				fmt.Fprintf(o.out, "  waiting for approval of %s in %s: run `sluice approve %s --change-set %s%s` or `sluice reject %s%s` (expires %s)\n",
					sluice.ShortDigest(a.ChangeSetDigest), env.Name, env.Name, sluice.ShortDigest(a.ChangeSetDigest), stateFlag(o.dir), env.Name, stateFlag(o.dir),
					a.ExpiresAt.Local().Format(time.RFC1123))
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(o.out, "interrupted: execution %s is paused and resumes when sluice run or sluice up next starts on this state\n", id)
			return nil, ctx.Err()
		case a := <-answers:
			if a.eof {
				fmt.Fprintf(o.out, "\n  no answer (standard input ended): still waiting; run `sluice approve %s --change-set %s%s` or `sluice reject %s%s`\n",
					a.env, sluice.ShortDigest(a.changeSet), stateFlag(o.dir), a.env, stateFlag(o.dir))
				break
			}
			d := engine.Decision{Pipeline: prev.Execution.Pipeline, Environment: a.env, ChangeSet: a.changeSet, Approve: a.yes, User: identity(), Comment: a.comment}
			if _, err := src.Decide(ctx, d); err != nil {
				fmt.Fprintf(o.out, "  %v\n", err)
			}
		case <-tick.C:
		}
	}
}

// errEngineGone is follow's answer when the engine it followed stopped serving.
var errEngineGone = errors.New("the engine stopped serving")

type answer struct {
	env, changeSet string
	yes            bool
	eof            bool // the input ended before a line: no decision
	comment        string
}

// ask reads one line from a terminal. Only a whole line is a decision; the end of the input is
// none.
func ask(r io.Reader, env, changeSet string, out chan<- answer) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		out <- answer{env: env, changeSet: changeSet, eof: true}
		return
	}
	line = strings.TrimSpace(strings.ToLower(line))
	yes := line == "y" || line == "yes"
	comment := "rejected at the prompt"
	if yes {
		comment = "approved at the prompt"
	}
	out <- answer{env: env, changeSet: changeSet, yes: yes, comment: comment}
}

// render prints what changed between two snapshots, stage by stage, and what the execution
// waits for whenever that changes.
func render(ctx context.Context, w io.Writer, o runOptions, svc service, prev, cur *engine.Snapshot, start time.Time) {
	if why := cur.Execution.Waiting; why != "" && (prev == nil || prev.Execution.Waiting != why) {
		fmt.Fprintf(w, "  %s\n", why)
	}
	for i, st := range cur.Stages {
		if st.Status != sluice.StatusPending && (prev == nil || prev.Stages[i].Status == sluice.StatusPending) {
			fmt.Fprintf(w, "%s (at %.1fs)\n", st.Stage, time.Since(start).Seconds())
		}
		for j, a := range cur.Actions {
			if a.Stage != st.Stage {
				continue
			}
			was := sluice.StatusPending
			if prev != nil {
				was = prev.Actions[j].Status
			}
			if a.Status != was && a.Status != sluice.StatusPending {
				renderAction(w, a)
				if a.Status == sluice.StatusFailed || a.Status == sluice.StatusRolledBack {
					renderFailedOutput(ctx, w, o, svc, a)
				}
			}
		}
	}
	for i, env := range cur.Environments {
		if env.Progress == nil || env.Progress.Phase != "shifting" {
			continue
		}
		if prev != nil && i < len(prev.Environments) && prev.Environments[i].Progress != nil && *prev.Environments[i].Progress == *env.Progress {
			continue
		}
		fmt.Fprintf(w, "    %s traffic %s %3d%% on the new version\n", env.Name, bar(env.Progress.Weight), env.Progress.Weight)
	}
}

func renderAction(w io.Writer, a sluice.ActionExecution) {
	switch {
	case a.Status == sluice.StatusInProgress:
		if a.Kind == sluice.KindExecuteChangeSet || a.Kind == sluice.KindBuild {
			fmt.Fprintf(w, "  … %s\n", a.Action)
		}
	case a.Status == sluice.StatusWaiting:
		fmt.Fprintf(w, "  … %s waiting\n", a.Action)
	case a.Status.OK():
		fmt.Fprintf(w, "  ✓ %-18s %s (%s)\n", a.Action, a.Summary, took(a))
	default:
		why := a.Error
		if why == "" {
			why = a.Summary
		}
		fmt.Fprintf(w, "  ✗ %-18s %s: %s (%s)\n", a.Action, a.Status, why, took(a))
	}
}

// renderFailedOutput shows the last lines an action printed before it failed or rolled back,
// and the command that shows all of it.
func renderFailedOutput(ctx context.Context, w io.Writer, o runOptions, svc service, a sluice.ActionExecution) {
	if a.Kind == sluice.KindApproval || a.Kind == sluice.KindSource {
		return
	}
	page, err := svc.Logs(ctx, engine.LogQuery{Execution: a.ExecutionID, Action: a.Stage + "." + a.Action, Tail: logtail.Window})
	if err != nil || len(page.Chunks) == 0 {
		return // the tail is a courtesy, never the reason the failure is not shown
	}
	tail := logtail.Lines(page.Chunks[len(page.Chunks)-1].Text, 10, "      | ")
	if tail == "" {
		return
	}
	fmt.Fprintf(w, "    it printed last:\n%s\n", tail)
	if !o.stateGoes && !strings.Contains(a.Error, "sluice logs") {
		fmt.Fprintf(w, "    all of it: sluice logs %s %s.%s%s\n", a.ExecutionID, a.Stage, a.Action, stateFlag(o.dir))
	}
}

// stateFlag is " --state DIR" when commands need it to find the state in dir.
func stateFlag(dir string) string {
	if env := os.Getenv("SLUICE_STATE"); env != "" {
		if abs, err := filepath.Abs(env); err == nil && abs == dir {
			return ""
		}
	}
	if cwd, err := os.Getwd(); err == nil && filepath.Join(cwd, ".sluice") == dir {
		return ""
	}
	return " --state " + dir
}

func renderEnd(w io.Writer, snap *engine.Snapshot, elapsed time.Duration) {
	ex := snap.Execution
	for _, env := range snap.Environments {
		d := env.LastDeployment
		if d == nil || d.ExecutionID != ex.ID || d.Rollback == nil {
			continue
		}
		rb := d.Rollback
		switch rb.Cause {
		case "alarm":
			fmt.Fprintf(w, "%s was rolled back: alarm %s saw %s %s (threshold %s); all traffic was back on the old version %s after the breach\n",
				env.Name, rb.Alarm, rb.Metric, formatValue(rb.Value), formatValue(rb.Threshold), rb.Reaction().Round(time.Microsecond))
		default:
			fmt.Fprintf(w, "%s was rolled back (%s): %s\n", env.Name, rb.Cause, rb.Detail)
		}
	}
	fmt.Fprintf(w, "%s %s in %s\n", ex.ID, ex.Status, elapsed.Round(10*time.Millisecond))
	if ex.Error != "" && !ex.Status.OK() {
		fmt.Fprintf(w, "  %s\n", ex.Error)
	}
	for _, env := range snap.Environments {
		if env.Endpoint != "" && env.Live != "" {
			fmt.Fprintf(w, "  %-8s %s  runs %s\n", env.Name, env.Endpoint, sluice.ShortRevision(env.LiveRevision))
		}
	}
}

func formatValue(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
}

func bar(percent int) string {
	const width = 20
	n := percent * width / 100
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", width-n) + "]"
}

func took(a sluice.ActionExecution) time.Duration {
	if a.StartedAt.IsZero() || a.EndedAt.IsZero() {
		return 0
	}
	return a.EndedAt.Sub(a.StartedAt).Round(time.Millisecond)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}
