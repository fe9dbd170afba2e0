package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Message is an event told for people: what happened to what, in a subject line, and what they
// need to act on it. Every channel renders the same Message (email as text and HTML, Slack as
// blocks); the webhook sends the event itself.
type Message struct {
	// Subject says what happened to what: "hello-api: prod rolled back — alarm api-errors
	// error_rate 0.31 > 0.05".
	Subject string
	// Lead is a sentence or two more.
	Lead string
	// Tone is how the news is: "bad" (a failure, a rollback), "wait" (someone must act),
	// "good" or "info".
	Tone  string
	Facts []Fact
	// Changes are the lines of a change set, for an approval.
	Changes []string
	// LogTitle and Log are the failing action's last lines of output.
	LogTitle string
	Log      string
	// Act lists the commands (or URLs) to act on it.
	Act []string
	// EventID is the event's ID: the idempotency key of every delivery of it.
	EventID string
}

// Fact is one labelled value of a message, such as Revision: 1a2b3c4 Add health check.
type Fact struct {
	Label, Value string
}

// Tones of a message.
const (
	ToneBad  = "bad"
	ToneWait = "wait"
	ToneGood = "good"
	ToneInfo = "info"
)

// Reader is what messages read besides the event: the execution with its actions, approvals
// and change sets. The sqlite store implements it. Each method is safe to call concurrently.
type Reader interface {
	Execution(ctx context.Context, id string) (*sluice.Execution, error)
	Actions(ctx context.Context, executionID string) ([]sluice.ActionExecution, error)
	ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error)
	ListApprovals(ctx context.Context, pipeline, env string, waiting bool) ([]sluice.Approval, error)
}

// LogTail is how many lines of a failing action's output a message carries.
const LogTail = 20

// Composer turns events into messages, reading what they lack from the store.
type Composer struct {
	Reader Reader
	// Logs returns the output of one action of an execution; nil: messages carry no output.
	Logs func(execution, stage, action string) ([]byte, error)
	// MainBranch is the route's source branch, which names its main pipeline. If empty, "main".
	MainBranch string
	// Environments are the route's environment names, which tell an environment's stage from
	// the others (Source, Build, Checks).
	Environments []string
}

// Compose returns the message of ev and what ev is about. An event it cannot read fully (an
// execution since removed, a payload of a newer Sluice) still gives a message, from what there is.
func (c *Composer) Compose(ctx context.Context, ev sluice.Event) (Message, About) {
	m := Message{EventID: ev.ID, Tone: ToneInfo}
	data, err := ev.DecodeData()
	if err != nil {
		// A payload of a newer Sluice: tell of the event with its raw fields.
		m.Subject = fmt.Sprintf("%s: %s", words(ev.Type), ev.Subject)
		m.Facts = rawFacts(ev.Data)
		return m, About{}
	}
	var about About
	switch d := data.(type) {
	case *sluice.ExecutionEvent:
		about.Pipeline = d.Pipeline
		ex := c.execution(ctx, d.Execution)
		if about.Pipeline == "" && ex != nil {
			about.Pipeline = ex.Pipeline
		}
		c.executionMessage(ctx, &m, ev.Type, d, ex, about.Pipeline)
	case *sluice.StageExecution:
		ex := c.execution(ctx, d.ExecutionID)
		about = c.aboutStage(ex, d.Stage)
		m.Subject = fmt.Sprintf("%s: stage %s %s", c.label(about.Pipeline), d.Stage, endWord(ev.Type))
		m.Tone = toneOf(ev.Type)
		c.revisionFacts(&m, ex)
	case *sluice.ActionExecution:
		ex := c.execution(ctx, d.ExecutionID)
		about = c.aboutStage(ex, d.Stage)
		m.Subject = fmt.Sprintf("%s: %s/%s %s", c.label(about.Pipeline), d.Stage, d.Action, endWord(ev.Type))
		if d.Error != "" {
			m.Subject += " — " + firstLine(d.Error)
		}
		m.Tone = toneOf(ev.Type)
		c.revisionFacts(&m, ex)
		if ev.Type == sluice.EventActionFailed {
			c.attachLog(&m, d.ExecutionID, d.Stage, d.Action)
			m.Act = append(m.Act, fmt.Sprintf("sluice logs %s %s", d.ExecutionID, d.Action))
		}
	case *sluice.Build:
		about.Pipeline = d.Pipeline
		m.Subject = fmt.Sprintf("%s: built %s into %s", c.label(d.Pipeline), sluice.ShortRevision(d.Revision), sluice.ShortDigest(d.Digest))
		m.Facts = append(m.Facts, Fact{"Artifact", d.Digest}, Fact{"Size", strconv.FormatInt(d.Size, 10) + " bytes"})
	case *sluice.ChangeSetEvent:
		execution, _, _ := strings.Cut(ev.Subject, "/")
		ex := c.execution(ctx, execution)
		about.Environment = d.Environment
		if ex != nil {
			about.Pipeline = ex.Pipeline
		}
		m.Subject = fmt.Sprintf("%s: change set for %s — %d changes", c.label(about.Pipeline), d.Environment, d.Changes)
		c.revisionFacts(&m, ex)
		c.changeSetLines(ctx, &m, d.Digest)
	case *sluice.Approval:
		about = About{Pipeline: d.Pipeline, Environment: d.Environment}
		c.approvalMessage(ctx, &m, ev.Type, d)
	case *sluice.Deployment:
		about = About{Pipeline: d.Pipeline, Environment: d.Environment}
		c.deploymentMessage(ctx, &m, ev.Type, d)
	case *sluice.EnvironmentEvent:
		about = About{Pipeline: d.Pipeline, Environment: d.Environment}
		m.Subject = fmt.Sprintf("%s: %s %s", c.label(d.Pipeline), d.Environment, strings.ReplaceAll(lastWord(ev.Type), "_", " "))
		if d.Reason != "" {
			m.Subject += " — " + firstLine(d.Reason)
		}
		if d.Error != "" {
			m.Subject += " — " + firstLine(d.Error)
			m.Tone = ToneBad
		}
	case *sluice.VersionEvent:
		about.Environment = d.Environment
		m.Subject = fmt.Sprintf("%s: version %s %s", d.Environment, d.Version, strings.ReplaceAll(lastWord(ev.Type), "_", " "))
		m.Tone = toneOf(ev.Type)
		if d.ExitCode != nil {
			m.Facts = append(m.Facts, Fact{"Exit code", strconv.Itoa(*d.ExitCode)})
		}
		if d.Error != "" {
			m.Subject += " — " + firstLine(d.Error)
		}
		m.Facts = append(m.Facts, Fact{"Revision", sluice.ShortRevision(d.Revision)})
		if d.Log != "" {
			m.Facts = append(m.Facts, Fact{"Log", d.Log})
		}
	default:
		m.Subject = fmt.Sprintf("%s: %s", words(ev.Type), ev.Subject)
		m.Facts = rawFacts(ev.Data)
	}
	if about.Environment != "" {
		m.Facts = append([]Fact{{"Environment", about.Environment}}, m.Facts...)
	}
	if about.Pipeline != "" {
		m.Facts = append([]Fact{{"Pipeline", about.Pipeline}}, m.Facts...)
	}
	m.Facts = append(m.Facts, Fact{"When", ev.Time.UTC().Format(time.RFC1123)})
	return m, about
}

func (c *Composer) execution(ctx context.Context, id string) *sluice.Execution {
	if id == "" || c.Reader == nil {
		return nil
	}
	ex, err := c.Reader.Execution(ctx, id)
	if err != nil {
		return nil
	}
	return ex
}

// aboutStage is what a stage's event concerns: the execution's pipeline, and the environment
// when the stage is one.
func (c *Composer) aboutStage(ex *sluice.Execution, stage string) About {
	var a About
	if ex != nil {
		a.Pipeline = ex.Pipeline
	}
	if slices.Contains(c.Environments, stage) {
		a.Environment = stage
	}
	return a
}

// label names a pipeline in a subject: the route's name for its main pipeline, the pipeline's
// ID (hello-api@feature-x) for the others.
func (c *Composer) label(pipeline string) string {
	if pipeline == "" {
		return "sluice"
	}
	route, _, _ := strings.Cut(pipeline, "@")
	branch := c.MainBranch
	if branch == "" {
		branch = "main"
	}
	if PipelineKind(pipeline, branch) == sluice.KindMain {
		return route
	}
	return pipeline
}

func (c *Composer) revisionFacts(m *Message, ex *sluice.Execution) {
	if ex == nil {
		return
	}
	rev := sluice.ShortRevision(ex.Revision)
	if ex.Subject != "" {
		rev += " " + ex.Subject
	}
	m.Facts = append(m.Facts, Fact{"Revision", rev}, Fact{"Execution", ex.ID})
}

func (c *Composer) executionMessage(ctx context.Context, m *Message, t sluice.EventType, d *sluice.ExecutionEvent, ex *sluice.Execution, pipeline string) {
	label := c.label(pipeline)
	rev := sluice.ShortRevision(d.Revision)
	if rev == "" && ex != nil {
		rev = sluice.ShortRevision(ex.Revision)
	}
	m.Tone = toneOf(t)
	c.revisionFacts(m, ex)
	if ex == nil {
		m.Facts = append(m.Facts, Fact{"Execution", d.Execution})
	}
	switch t {
	case sluice.EventExecutionFailed, sluice.EventExecutionRolledBack, sluice.EventExecutionRejected:
		where := ""
		if failed := c.failedAction(ctx, d.Execution); failed != nil {
			where = " at " + failed.Stage + "/" + failed.Action
			c.attachLog(m, d.Execution, failed.Stage, failed.Action)
			m.Act = append(m.Act, fmt.Sprintf("sluice logs %s %s", d.Execution, failed.Action))
			if d.Error == "" {
				d.Error = failed.Error
			}
		}
		m.Subject = fmt.Sprintf("%s: %s %s%s", label, rev, endWord(t), where)
		if d.Error != "" {
			m.Subject += " — " + firstLine(d.Error)
			m.Lead = d.Error
		}
		if t == sluice.EventExecutionFailed {
			m.Act = append(m.Act, fmt.Sprintf("sluice run --rev %s (after a fix, or to try again)", rev))
		}
	case sluice.EventExecutionWaiting:
		m.Subject = fmt.Sprintf("%s: execution %s waits", label, d.Execution)
		if d.Waiting != "" {
			m.Subject += " — " + firstLine(d.Waiting)
			m.Lead = d.Waiting
		}
		m.Tone = ToneWait
	case sluice.EventExecutionStopped:
		m.Subject = fmt.Sprintf("%s: execution %s stopped", label, d.Execution)
		if d.By != "" {
			m.Subject += " by " + d.By
		}
		m.Lead = d.Error
	default:
		m.Subject = fmt.Sprintf("%s: %s %s", label, rev, endWord(t))
		if ex != nil && ex.Subject != "" && t != sluice.EventExecutionSucceeded {
			m.Lead = ex.Subject
		}
		m.Lead = strings.TrimSpace(m.Lead + " " + d.Error)
	}
}

// failedAction is the action that made execution fail: the last one that failed, was rejected
// or rolled back.
func (c *Composer) failedAction(ctx context.Context, execution string) *sluice.ActionExecution {
	if c.Reader == nil || execution == "" {
		return nil
	}
	actions, err := c.Reader.Actions(ctx, execution)
	if err != nil {
		return nil
	}
	var found *sluice.ActionExecution
	for i := range actions {
		switch actions[i].Status {
		case sluice.StatusFailed, sluice.StatusRejected, sluice.StatusRolledBack:
			found = &actions[i]
		}
	}
	return found
}

// attachLog puts the last LogTail lines of an action's output in m.
func (c *Composer) attachLog(m *Message, execution, stage, action string) {
	if c.Logs == nil {
		return
	}
	b, err := c.Logs(execution, stage, action)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > LogTail {
		lines = lines[len(lines)-LogTail:]
	}
	m.LogTitle = fmt.Sprintf("last lines of %s/%s", stage, action)
	m.Log = strings.Join(lines, "\n")
}

func (c *Composer) approvalMessage(ctx context.Context, m *Message, t sluice.EventType, a *sluice.Approval) {
	label := c.label(a.Pipeline)
	ex := c.execution(ctx, a.ExecutionID)
	c.revisionFacts(m, ex)
	rev := ""
	if ex != nil {
		rev = sluice.ShortRevision(ex.Revision) + " "
	}
	switch t {
	case sluice.EventApprovalRequested:
		m.Tone = ToneWait
		n := c.changeSetLines(ctx, m, a.ChangeSetDigest)
		m.Subject = fmt.Sprintf("%s: %s waits for approval — %sto %s", label, a.Environment, rev, a.Environment)
		if n >= 0 {
			m.Subject = fmt.Sprintf("%s: %s waits for approval — deploy %s(%d changes)", label, a.Environment, rev, n)
		}
		m.Lead = fmt.Sprintf("Change set %s is ready for %s and waits for a decision until %s.", sluice.ShortDigest(a.ChangeSetDigest), a.Environment, a.ExpiresAt.UTC().Format(time.RFC1123))
		who := "anyone"
		if len(a.Approvers) > 0 {
			who = strings.Join(a.Approvers, ", ")
		}
		m.Facts = append(m.Facts, Fact{"Approvers", who}, Fact{"Change set", a.ChangeSetDigest})
		m.Act = append(m.Act,
			fmt.Sprintf("sluice approve %s --change-set %s", a.Environment, sluice.ShortDigest(a.ChangeSetDigest)),
			fmt.Sprintf("sluice reject %s --comment \"why\"", a.Environment),
			fmt.Sprintf("sluice changeset %s", a.Environment))
	default:
		m.Subject = fmt.Sprintf("%s: %s %s", label, a.Environment, lastWord(t))
		if a.DecidedBy != "" {
			m.Subject += " by " + a.DecidedBy
			m.Facts = append(m.Facts, Fact{"Decided by", a.DecidedBy})
		}
		if a.Comment != "" {
			m.Subject += " — " + firstLine(a.Comment)
			m.Lead = a.Comment
		}
		m.Tone = ToneGood
		if t != sluice.EventApprovalApproved {
			m.Tone = ToneBad
		}
		m.Facts = append(m.Facts, Fact{"Change set", a.ChangeSetDigest})
	}
}

// changeSetLines puts the change set's changes in m and returns how many there are; -1 if it
// cannot be read.
func (c *Composer) changeSetLines(ctx context.Context, m *Message, digest string) int {
	if c.Reader == nil || digest == "" {
		return -1
	}
	cs, err := c.Reader.ChangeSet(ctx, digest)
	if err != nil {
		return -1
	}
	for _, ch := range cs.Changes {
		from := ch.From
		if from == "" {
			from = "(none)"
		}
		m.Changes = append(m.Changes, fmt.Sprintf("%s: %s → %s", ch.Field, from, ch.To))
	}
	return len(cs.Changes)
}

// approvedBy names who approved execution's change set for env, if anyone did.
func (c *Composer) approvedBy(ctx context.Context, pipeline, env, execution string) string {
	if c.Reader == nil || execution == "" {
		return ""
	}
	as, err := c.Reader.ListApprovals(ctx, pipeline, env, false)
	if err != nil {
		return ""
	}
	for _, a := range as {
		if a.ExecutionID == execution && a.Status == sluice.StatusSucceeded {
			return a.DecidedBy
		}
	}
	return ""
}

func (c *Composer) deploymentMessage(ctx context.Context, m *Message, t sluice.EventType, d *sluice.Deployment) {
	label := c.label(d.Pipeline)
	ex := c.execution(ctx, d.ExecutionID)
	c.revisionFacts(m, ex)
	if ex == nil {
		m.Facts = append(m.Facts, Fact{"Revision", sluice.ShortRevision(d.Revision)})
	}
	m.Facts = append(m.Facts, Fact{"Strategy", d.Strategy}, Fact{"Artifact", sluice.ShortDigest(d.To)})
	if d.From != "" {
		m.Facts = append(m.Facts, Fact{"Replacing", sluice.ShortDigest(d.From)})
	}
	if who := c.approvedBy(ctx, d.Pipeline, d.Environment, d.ExecutionID); who != "" {
		m.Facts = append(m.Facts, Fact{"Approved by", who})
	}
	rev := sluice.ShortRevision(d.Revision)
	m.Tone = toneOf(t)
	switch t {
	case sluice.EventDeploymentStarted:
		m.Subject = fmt.Sprintf("%s: deploying %s to %s (%s)", label, rev, d.Environment, d.Strategy)
	case sluice.EventDeploymentSucceeded:
		m.Subject = fmt.Sprintf("%s: %s now runs %s", label, d.Environment, rev)
		if ex != nil && ex.Subject != "" {
			m.Subject += " " + ex.Subject
		}
	case sluice.EventDeploymentRolledBack:
		m.Subject = fmt.Sprintf("%s: %s rolled back — %s", label, d.Environment, rollbackCause(d))
		m.Lead = fmt.Sprintf("%s stayed on %s; %s was taken off.", d.Environment, orNone(sluice.ShortDigest(d.From)), rev)
		if rb := d.Rollback; rb != nil {
			if !rb.BreachedAt.IsZero() {
				m.Facts = append(m.Facts, Fact{"Breached at", rb.BreachedAt.UTC().Format(time.RFC3339)})
			}
			if r := rb.Reaction(); r > 0 {
				m.Facts = append(m.Facts, Fact{"Traffic restored in", roundDuration(r)})
				m.Lead += fmt.Sprintf(" All traffic was back on the old version %s after the breach.", roundDuration(r))
			}
		}
		m.Act = append(m.Act, fmt.Sprintf("sluice history %s", d.Environment))
		if d.ExecutionID != "" {
			m.Act = append(m.Act, fmt.Sprintf("sluice logs %s", d.ExecutionID))
		}
	case sluice.EventDeploymentFailed:
		m.Subject = fmt.Sprintf("%s: deploying %s to %s failed — %s", label, rev, d.Environment, firstLine(orNone(d.Reason)))
		m.Lead = d.Reason
		m.Act = append(m.Act, fmt.Sprintf("sluice history %s", d.Environment))
	}
}

// rollbackCause says why d rolled back in a few words: "alarm api-errors error_rate 0.31 > 0.05".
func rollbackCause(d *sluice.Deployment) string {
	rb := d.Rollback
	if rb == nil {
		return firstLine(orNone(d.Reason))
	}
	switch rb.Cause {
	case sluice.CauseAlarm:
		return fmt.Sprintf("alarm %s %s %s > %s", rb.Alarm, rb.Metric, num(rb.Value), num(rb.Threshold))
	case sluice.CauseManual:
		s := "rolled back by hand"
		if rb.By != "" {
			s = "by " + rb.By
		}
		if rb.Detail != "" {
			s += ": " + firstLine(rb.Detail)
		}
		return s
	}
	detail := rb.Detail
	if detail == "" {
		detail = d.Reason
	}
	if detail == "" {
		return string(rb.Cause)
	}
	return fmt.Sprintf("%s: %s", rb.Cause, firstLine(detail))
}

// roundDuration keeps the digits of d a person reads: milliseconds, or microseconds below one.
func roundDuration(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// firstLine is the first line of s, cut to a length a subject line holds.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 140 {
		s = string(r[:139]) + "…"
	}
	return s
}

// lastWord is the end of an event type: "rolled_back" of sluice.deployment.rolled_back.
func lastWord(t sluice.EventType) string {
	s := string(t)
	return s[strings.LastIndexByte(s, '.')+1:]
}

// endWord is lastWord as a person writes it: "rolled back".
func endWord(t sluice.EventType) string { return strings.ReplaceAll(lastWord(t), "_", " ") }

// words is a type as a phrase: "deployment rolled back".
func words(t sluice.EventType) string {
	return strings.ReplaceAll(strings.ReplaceAll(strings.TrimPrefix(string(t), "sluice."), ".", " "), "_", " ")
}

func toneOf(t sluice.EventType) string {
	switch lastWord(t) {
	case "failed", "rolled_back", "rejected", "expired", "crashed", "restart_failed", "restore_failed":
		return ToneBad
	case "succeeded", "approved", "restarted":
		return ToneGood
	case "waiting", "requested":
		return ToneWait
	}
	return ToneInfo
}

// rawFacts lists the top-level fields of a JSON object, for events this Sluice cannot read.
func rawFacts(data json.RawMessage) []Fact {
	var fields map[string]any
	if json.Unmarshal(data, &fields) != nil {
		return nil
	}
	var out []Fact
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		out = append(out, Fact{k, fmt.Sprint(fields[k])})
	}
	return out
}
