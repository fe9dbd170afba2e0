package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

func cmdDecide(e *env, f *flags, approve bool, envName string, o decideFlags) error {
	d := engine.Decision{Pipeline: *f.pipeline, Environment: envName, ChangeSet: o.changeSet, Approve: approve, User: identity(), Comment: o.comment}
	return withService(e, f, reads, func(svc service, _ bool) error {
		a, err := svc.Decide(e.ctx, d)
		if err != nil {
			return err
		}
		if *f.json {
			writeJSON(e.stdout, a)
			return nil
		}
		verb := "rejected"
		if approve {
			verb = "approved"
		}
		fmt.Fprintf(e.stdout, "%s change set %s for %s as %s\n", verb, a.ChangeSetDigest, envName, a.DecidedBy)
		return nil
	})
}

func cmdStatus(e *env, f *flags) error {
	return withService(e, f, reads, func(svc service, serving bool) error {
		st, err := svc.Status(e.ctx, *f.pipeline)
		if err != nil {
			return err
		}
		if st.Executions == nil {
			st.Executions = []sluice.Execution{}
		}
		if *f.json {
			writeJSON(e.stdout, st)
			return nil
		}
		printStatus(e.stdout, st, serving)
		return nil
	})
}

func printStatus(w io.Writer, st *engine.Status, serving bool) {
	if serving {
		fmt.Fprintln(w, "an engine is serving this state")
	}
	envs := table{header: []string{"ENVIRONMENT", "ENDPOINT", "LIVE", "LAST DEPLOYMENT"}}
	for _, env := range st.Environments {
		last := "-"
		if d := env.LastDeployment; d != nil {
			last = fmt.Sprintf("%s %s %s", d.Status, sluice.ShortRevision(d.Revision), d.StartedAt.Local().Format("2006-01-02 15:04:05"))
		}
		endpoint := env.Endpoint
		if !serving && endpoint != "" {
			endpoint += " (stopped)"
		}
		var notes []string
		if env.Pending != nil {
			notes = append(notes, fmt.Sprintf("approval waiting for change set %s (sluice approve %s --change-set %s)", sluice.ShortDigest(env.Pending.ChangeSetDigest), env.Name, sluice.ShortDigest(env.Pending.ChangeSetDigest)))
		}
		if env.Frozen {
			notes = append(notes, "frozen: executions wait before this environment (sluice unfreeze "+env.Name+")")
		}
		if env.Problem != "" {
			notes = append(notes, "problem: "+env.Problem)
		}
		if s := env.Serving; s != nil {
			if s.Problem != "" {
				notes = append(notes, "problem: "+s.Problem)
			}
			if s.Restarts > 0 {
				notes = append(notes, fmt.Sprintf("restarted %d times after a crash, last at %s", s.Restarts, s.LastRestart.Local().Format("2006-01-02 15:04:05")))
			}
			for _, v := range s.Versions {
				notes = append(notes, fmt.Sprintf("version %-12s weight %3d%%  %d requests, %d errors in the last minute", v.ID, v.Weight, v.Requests, v.Errors))
			}
		}
		envs.add(notes, env.Name, orDash(endpoint), orDash(sluice.ShortRevision(env.LiveRevision)), last)
	}
	envs.print(w)
	fmt.Fprintln(w)
	exs := table{header: []string{"EXECUTION", "STATUS", "REVISION", "STARTED", "SUBJECT"}}
	for _, ex := range st.Executions {
		var notes []string
		if ex.Waiting != "" && !ex.Status.Done() {
			notes = append(notes, ex.Waiting)
		}
		exs.add(notes, ex.ID, string(ex.Status), sluice.ShortRevision(ex.Revision), ex.CreatedAt.Local().Format("2006-01-02 15:04:05"), ex.Subject)
	}
	exs.print(w)
}

// table prints rows in aligned columns, each row followed by its notes (indented, outside the
// columns, so a long note does not widen them).
type table struct {
	header []string
	rows   [][]string
	notes  [][]string
}

func (t *table) add(notes []string, cells ...string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "\t", " ")
	}
	t.rows = append(t.rows, cells)
	t.notes = append(t.notes, notes)
}

func (t *table) print(w io.Writer) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, row := range append([][]string{t.header}, t.rows...) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	fmt.Fprintln(w, strings.TrimRight(lines[0], " "))
	for i, line := range lines[1:] {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, note := range t.notes[i] {
			fmt.Fprintln(w, "  "+note)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdHistory(e *env, f *flags, envName string) error {
	return withService(e, f, reads, func(svc service, _ bool) error {
		h, err := svc.History(e.ctx, *f.pipeline, envName)
		if err != nil {
			return err
		}
		if *f.json {
			writeJSON(e.stdout, h)
			return nil
		}
		ds, as := h.Deployments, h.Approvals
		type line struct {
			at   time.Time
			text string
		}
		var lines []line
		for _, d := range ds {
			text := fmt.Sprintf("deployment %d  %-10s %s -> %s  %s", d.ID, d.Status, orDash(sluice.ShortDigest(d.From)), sluice.ShortDigest(d.To), d.Strategy)
			if d.Rollback != nil && d.Rollback.Cause == sluice.CauseManual {
				text += "\n    manual rollback by " + orDash(d.Rollback.By)
				if d.Rollback.Detail != "" {
					text += fmt.Sprintf(": %q", d.Rollback.Detail)
				}
			} else if d.Rollback != nil {
				text += fmt.Sprintf("\n    rolled back (%s): %s", d.Rollback.Cause, d.Rollback.Detail)
				if d.Rollback.Cause == "alarm" {
					text += fmt.Sprintf("; traffic restored %s after the breach", d.Rollback.Reaction().Round(time.Microsecond))
				}
			} else if d.Reason != "" {
				text += "\n    " + d.Reason
			}
			lines = append(lines, line{d.StartedAt, text})
		}
		for _, a := range as {
			text := fmt.Sprintf("approval %d    %-10s change set %s", a.ID, decision(a), sluice.ShortDigest(a.ChangeSetDigest))
			if a.DecidedBy != "" {
				text += fmt.Sprintf(" by %s at %s", a.DecidedBy, a.DecidedAt.Local().Format(time.RFC3339))
			}
			if a.Comment != "" {
				text += fmt.Sprintf(": %q", a.Comment)
			}
			lines = append(lines, line{a.RequestedAt, text})
		}
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.After(lines[j].at) })
		if len(lines) == 0 {
			fmt.Fprintf(e.stdout, "%s has no deployments yet\n", envName)
		}
		for _, l := range lines {
			fmt.Fprintf(e.stdout, "%s  %s\n", l.at.Local().Format("2006-01-02 15:04:05"), l.text)
		}
		return nil
	})
}

func decision(a sluice.Approval) string {
	switch {
	case a.Status == sluice.StatusSucceeded:
		return "approved"
	case a.Expired:
		return "expired"
	case a.Status == sluice.StatusRejected:
		return "rejected"
	}
	return "waiting"
}

func cmdChangeSet(e *env, f *flags, envName string) error {
	return withService(e, f, reads, func(svc service, _ bool) error {
		cs, err := svc.PendingChangeSet(e.ctx, envName)
		if err != nil {
			return err
		}
		if *f.json {
			writeJSON(e.stdout, cs)
			return nil
		}
		fmt.Fprint(e.stdout, engine.FormatChangeSet(cs))
		return nil
	})
}

func cmdLogs(e *env, f *flags, pos *logsArgs) error {
	return withService(e, f, reads, func(svc service, _ bool) error {
		if pos.env != "" {
			return versionLogs(e, svc, pos)
		}
		q := engine.LogQuery{Execution: pos.id, Action: pos.action}
		printed := false
		for {
			page, err := svc.Logs(e.ctx, q)
			if err != nil {
				return err
			}
			for _, c := range page.Chunks {
				if pos.action == "" && c.Offset == 0 {
					fmt.Fprintf(e.stdout, "==> %s / %s <==\n", c.Stage, c.Action)
				}
				io.WriteString(e.stdout, c.Text)
				printed = true
			}
			q.After = page.Cursor
			switch {
			case page.More:
				continue
			case !pos.follow && !printed && pos.action != "":
				return sluice.Errorf(sluice.ENOTFOUND, "no log for action %q in execution %s", pos.action, pos.id)
			case !pos.follow || page.Ended:
				return nil
			}
			if !pause(e.ctx) {
				return nil
			}
		}
	})
}

type logsArgs struct {
	id, action string
	env        string
	follow     bool
}

// versionLogs prints what the newest version of a.env printed, following it with -f.
func versionLogs(e *env, svc service, a *logsArgs) error {
	q := engine.VersionLogQuery{Environment: a.env}
	for {
		page, err := svc.VersionLog(e.ctx, q)
		if err != nil {
			return err
		}
		if q.Version == "" {
			fmt.Fprintf(e.stdout, "==> %s: version %s <==\n", a.env, page.Version)
		}
		io.WriteString(e.stdout, page.Text)
		q.Version, q.Offset = page.Version, page.Next
		switch {
		case page.More:
			continue
		case !a.follow:
			return nil
		}
		if !pause(e.ctx) {
			return nil
		}
	}
}

// pause waits before a followed log is read again; false when the command was interrupted.
func pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(200 * time.Millisecond):
		return true
	}
}

func cmdStop(e *env, f *flags, id string) error {
	return withService(e, f, reads, func(svc service, _ bool) error {
		// What it was doing, read before the stop changes it, so the answer can say. With no
		// engine serving the state, the stop is recorded, and an engine that drives the
		// execution elsewhere notices it.
		doing := activity(e.ctx, svc, id)
		ex, err := svc.Stop(e.ctx, id, identity())
		if err != nil {
			return err
		}
		if *f.json {
			writeJSON(e.stdout, ex)
			return nil
		}
		fmt.Fprintf(e.stdout, "stopped execution %s of %s at %s%s\n", ex.ID, ex.Pipeline, sluice.ShortRevision(ex.Revision), doing)
		return nil
	})
}

// activity says what an execution is doing, for the answer of `sluice stop`: ", which was
// waiting for approval in prod".
func activity(ctx context.Context, svc service, id string) string {
	snap, err := svc.Execution(ctx, id)
	if err != nil {
		return ""
	}
	actions := snap.Actions
	var running []string
	for _, a := range actions {
		switch a.Status {
		case sluice.StatusWaiting:
			return ", which was waiting for approval in " + a.Stage + "; its approval is rejected"
		case sluice.StatusInProgress:
			running = append(running, a.Stage+" "+a.Action)
		}
	}
	if len(running) > 0 {
		return ", which was running " + strings.Join(running, ", ") + "; its running actions are killed"
	}
	if ex := snap.Execution; ex != nil && ex.Waiting != "" {
		return ", which was " + ex.Waiting
	}
	return ""
}

func cmdRetry(e *env, f *flags, id string, approve bool) error {
	dir, err := existingState(f)
	if err != nil {
		return err
	}
	snap, err := execute(e, runOptions{file: *f.file, dir: dir, approve: approve, json: *f.json},
		func(svc service) (*sluice.Execution, string, error) {
			ex, err := svc.Retry(e.ctx, id)
			if err != nil {
				return nil, "", err
			}
			return ex, fmt.Sprintf("retrying execution %s from its failed stage", ex.ID), nil
		})
	if err != nil {
		return err
	}
	return exitFor(snap)
}

func cmdFreeze(e *env, f *flags, frozen bool, envName string, o freezeFlags) error {
	return withService(e, f, records, func(svc service, _ bool) error {
		if err := svc.Freeze(e.ctx, "", envName, frozen, o.comment); err != nil {
			return err
		}
		if frozen {
			fmt.Fprintf(e.stdout, "%s frozen: executions wait before it until sluice unfreeze %s\n", envName, envName)
		} else {
			fmt.Fprintf(e.stdout, "%s unfrozen: executions may enter it again\n", envName)
		}
		return nil
	})
}

func cmdRollback(e *env, f *flags, envName string, o rollbackFlags) error {
	return withService(e, f, drives, func(svc service, _ bool) error {
		d, err := svc.Rollback(e.ctx, "", envName, identity(), o.comment)
		if err != nil {
			return err
		}
		if *f.json {
			writeJSON(e.stdout, d)
			return nil
		}
		fmt.Fprintf(e.stdout, "%s rolled back to %s (%s)\n", envName, sluice.ShortRevision(d.Revision), sluice.ShortDigest(d.To))
		return nil
	})
}
