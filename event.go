package sluice

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"
)

// Event is a state change, as a CloudEvents 1.0 JSON event. docs/events.md lists every type
// with its subject, payload and an example. Build events with the constructors below (one per
// event), never by hand, so the catalogue stays the whole truth.
//
// Consumers that must not miss an event (notifications, a UI) tail the stored events by Seq with
// a cursor of their own (store.Events.ListEvents and store.EventCursors), not the in-process bus.
type Event struct {
	Seq             int64           `json:"-"` // assigned by the store; orders events
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`  // "sluice"
	Type            EventType       `json:"type"`    // sluice.action.succeeded
	Subject         string          `json:"subject"` // "<execution>/<stage>/<action>", "env/<name>" …
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// EventType is the CloudEvents type of an event: "sluice.<thing>.<what>".
type EventType string

// Every event type Sluice emits. docs/events.md documents each; a test checks both against
// real runs.
const (
	EventExecutionCreated    EventType = "sluice.execution.created"
	EventExecutionStarted    EventType = "sluice.execution.started"
	EventExecutionWaiting    EventType = "sluice.execution.waiting"
	EventExecutionRetried    EventType = "sluice.execution.retried"
	EventExecutionStopped    EventType = "sluice.execution.stopped"
	EventExecutionSucceeded  EventType = "sluice.execution.succeeded"
	EventExecutionFailed     EventType = "sluice.execution.failed"
	EventExecutionRejected   EventType = "sluice.execution.rejected"
	EventExecutionRolledBack EventType = "sluice.execution.rolled_back"
	EventExecutionSuperseded EventType = "sluice.execution.superseded"

	EventStageStarted    EventType = "sluice.stage.started"
	EventStageSucceeded  EventType = "sluice.stage.succeeded"
	EventStageFailed     EventType = "sluice.stage.failed"
	EventStageRejected   EventType = "sluice.stage.rejected"
	EventStageRolledBack EventType = "sluice.stage.rolled_back"

	EventActionStarted    EventType = "sluice.action.started"
	EventActionSucceeded  EventType = "sluice.action.succeeded"
	EventActionFailed     EventType = "sluice.action.failed"
	EventActionRejected   EventType = "sluice.action.rejected"
	EventActionRolledBack EventType = "sluice.action.rolled_back"
	EventActionStopped    EventType = "sluice.action.stopped"

	EventArtifactCreated  EventType = "sluice.artifact.created"
	EventChangeSetCreated EventType = "sluice.changeset.created"

	EventApprovalRequested EventType = "sluice.approval.requested"
	EventApprovalApproved  EventType = "sluice.approval.approved"
	EventApprovalRejected  EventType = "sluice.approval.rejected"
	EventApprovalExpired   EventType = "sluice.approval.expired"

	EventDeploymentStarted    EventType = "sluice.deployment.started"
	EventDeploymentSucceeded  EventType = "sluice.deployment.succeeded"
	EventDeploymentRolledBack EventType = "sluice.deployment.rolled_back"
	EventDeploymentFailed     EventType = "sluice.deployment.failed"
	// EventDeploymentProgress is published on the engine's bus only, never stored: it changes
	// many times a second and the deployment's end records the outcome.
	EventDeploymentProgress EventType = "sluice.deployment.progress"

	EventEnvironmentFrozen        EventType = "sluice.environment.frozen"
	EventEnvironmentUnfrozen      EventType = "sluice.environment.unfrozen"
	EventEnvironmentRestoreFailed EventType = "sluice.environment.restore_failed"

	EventPipelineCreated EventType = "sluice.pipeline.created"
	EventPipelineRemoved EventType = "sluice.pipeline.removed"

	EventVersionCrashed       EventType = "sluice.version.crashed"
	EventVersionRestarted     EventType = "sluice.version.restarted"
	EventVersionRestartFailed EventType = "sluice.version.restart_failed"
)

// eventPayloads maps each type to a function returning a new, empty payload of it.
var eventPayloads = map[EventType]func() any{
	EventExecutionCreated:    func() any { return new(ExecutionEvent) },
	EventExecutionStarted:    func() any { return new(ExecutionEvent) },
	EventExecutionWaiting:    func() any { return new(ExecutionEvent) },
	EventExecutionRetried:    func() any { return new(ExecutionEvent) },
	EventExecutionStopped:    func() any { return new(ExecutionEvent) },
	EventExecutionSucceeded:  func() any { return new(ExecutionEvent) },
	EventExecutionFailed:     func() any { return new(ExecutionEvent) },
	EventExecutionRejected:   func() any { return new(ExecutionEvent) },
	EventExecutionRolledBack: func() any { return new(ExecutionEvent) },
	EventExecutionSuperseded: func() any { return new(ExecutionEvent) },

	EventStageStarted:    func() any { return new(StageExecution) },
	EventStageSucceeded:  func() any { return new(StageExecution) },
	EventStageFailed:     func() any { return new(StageExecution) },
	EventStageRejected:   func() any { return new(StageExecution) },
	EventStageRolledBack: func() any { return new(StageExecution) },

	EventActionStarted:    func() any { return new(ActionExecution) },
	EventActionSucceeded:  func() any { return new(ActionExecution) },
	EventActionFailed:     func() any { return new(ActionExecution) },
	EventActionRejected:   func() any { return new(ActionExecution) },
	EventActionRolledBack: func() any { return new(ActionExecution) },
	EventActionStopped:    func() any { return new(ActionExecution) },

	EventArtifactCreated:  func() any { return new(Build) },
	EventChangeSetCreated: func() any { return new(ChangeSetEvent) },

	EventApprovalRequested: func() any { return new(Approval) },
	EventApprovalApproved:  func() any { return new(Approval) },
	EventApprovalRejected:  func() any { return new(Approval) },
	EventApprovalExpired:   func() any { return new(Approval) },

	EventDeploymentStarted:    func() any { return new(Deployment) },
	EventDeploymentSucceeded:  func() any { return new(Deployment) },
	EventDeploymentRolledBack: func() any { return new(Deployment) },
	EventDeploymentFailed:     func() any { return new(Deployment) },
	EventDeploymentProgress:   func() any { return new(DeploymentProgress) },

	EventEnvironmentFrozen:        func() any { return new(EnvironmentEvent) },
	EventEnvironmentUnfrozen:      func() any { return new(EnvironmentEvent) },
	EventEnvironmentRestoreFailed: func() any { return new(EnvironmentEvent) },

	EventPipelineCreated: func() any { return new(Pipeline) },
	EventPipelineRemoved: func() any { return new(Pipeline) },

	EventVersionCrashed:       func() any { return new(VersionEvent) },
	EventVersionRestarted:     func() any { return new(VersionEvent) },
	EventVersionRestartFailed: func() any { return new(VersionEvent) },
}

// EventTypes returns every event type Sluice emits, in no particular order.
func EventTypes() []EventType {
	out := make([]EventType, 0, len(eventPayloads))
	for t := range eventPayloads {
		out = append(out, t)
	}
	return out
}

// Known reports whether t is one of the types Sluice emits.
func (t EventType) Known() bool { _, ok := eventPayloads[t]; return ok }

// Stored reports whether events of type t are kept in the store (and so reach consumers that
// tail it); sluice.deployment.progress is published on the engine's bus only.
func (t EventType) Stored() bool { return t.Known() && t != EventDeploymentProgress }

// Matches reports whether t matches pattern, as notification rules write them: a type with or
// without its "sluice." prefix ("deployment.rolled_back"), with "*" standing for one part
// between dots ("deployment.*", "*.failed"), or "*" alone for every type.
func (t EventType) Matches(pattern string) bool {
	pattern = strings.TrimPrefix(strings.TrimSpace(pattern), "sluice.")
	name := strings.TrimPrefix(string(t), "sluice.")
	if pattern == "*" {
		return true
	}
	// path.Match's "*" stops at '/', so with dots as slashes it stands for one part.
	ok, err := path.Match(strings.ReplaceAll(pattern, ".", "/"), strings.ReplaceAll(name, ".", "/"))
	return err == nil && ok
}

// Payload returns a new, empty value of the payload type that events of type t carry, as a
// pointer; nil if t is not known.
func (t EventType) Payload() any {
	if fn, ok := eventPayloads[t]; ok {
		return fn()
	}
	return nil
}

// DecodeData decodes ev's data into the payload type of its event type (a pointer, such as
// *Deployment). Fields the payload type does not have are refused, so a consumer learns that
// it reads an event of a newer Sluice.
func (ev Event) DecodeData() (any, error) {
	v := ev.Type.Payload()
	if v == nil {
		return nil, Errorf(EINVALID, "event type %q is not one Sluice emits; docs/events.md lists them", ev.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, Errorf(EINVALID, "decode the data of event %s (%s): %v", ev.ID, ev.Type, err)
	}
	return v, nil
}

// ExecutionEvent is the payload of sluice.execution.* events. Fields an event has nothing to
// say about are left out.
type ExecutionEvent struct {
	Execution string `json:"execution"`
	Pipeline  string `json:"pipeline,omitempty"`
	Revision  string `json:"revision,omitempty"`
	Status    Status `json:"status,omitempty"` // the status it ended with (ended and stopped only)
	Error     string `json:"error,omitempty"`  // why it did not succeed
	Waiting   string `json:"waiting,omitempty"`
	By        string `json:"by,omitempty"` // who stopped it
}

// ChangeSetEvent is the payload of sluice.changeset.created: the change set itself is read by
// its digest (GET /api/v1/changesets/{digest}).
type ChangeSetEvent struct {
	Environment string `json:"environment"`
	Digest      string `json:"digest"`
	Changes     int    `json:"changes"` // how many settings it changes; 0: nothing to deploy
}

// DeploymentProgress is the payload of sluice.deployment.progress.
type DeploymentProgress struct {
	Deployment  int64  `json:"deployment"`
	Environment string `json:"environment"`
	Phase       string `json:"phase"`  // starting, healthy, shifting, baking, rolling_back, done
	Weight      int    `json:"weight"` // percent of traffic on the new version
}

// EnvironmentEvent is the payload of sluice.environment.* events.
type EnvironmentEvent struct {
	Pipeline    string `json:"pipeline"` // whose environment, e.g. hello-api@main
	Environment string `json:"environment"`
	Reason      string `json:"reason,omitempty"` // why it was frozen or unfrozen, as given
	Error       string `json:"error,omitempty"`  // why its live version could not be restored
}

// VersionEvent is the payload of sluice.version.* events, which a provider tells of: a live
// version crashed, was restarted, or could not be restarted. Type says which; it is not part of
// the payload.
type VersionEvent struct {
	Type EventType `json:"-"` // EventVersionCrashed, EventVersionRestarted or EventVersionRestartFailed
	// Pipeline is whose environment it is, e.g. hello-api@main. The engine sets it: a provider
	// knows an environment by its instance name only.
	Pipeline string `json:"pipeline"`
	// Environment is the environment's name in its pipeline (the provider tells the name it
	// knows the environment by; the engine turns it back into these two).
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Revision    string `json:"revision"`
	Crashed     string `json:"crashed,omitempty"`   // restarted: the version that crashed
	ExitCode    *int   `json:"exit_code,omitempty"` // crashed: its exit code (-1: killed by a signal)
	Log         string `json:"log,omitempty"`       // crashed: its log file
	Attempt     int    `json:"attempt,omitempty"`   // restarts: which attempt, from 1
	Error       string `json:"error,omitempty"`     // restart_failed: why
}

// The type of each end a thing can have, by the status it ended with.
var (
	executionEnds = map[Status]EventType{
		StatusSucceeded: EventExecutionSucceeded, StatusFailed: EventExecutionFailed, StatusRejected: EventExecutionRejected,
		StatusRolledBack: EventExecutionRolledBack, StatusSuperseded: EventExecutionSuperseded,
	}
	stageEnds = map[Status]EventType{
		StatusSucceeded: EventStageSucceeded, StatusFailed: EventStageFailed, StatusRejected: EventStageRejected,
		StatusRolledBack: EventStageRolledBack,
	}
	actionEnds = map[Status]EventType{
		StatusSucceeded: EventActionSucceeded, StatusFailed: EventActionFailed, StatusRejected: EventActionRejected,
		StatusRolledBack: EventActionRolledBack, StatusStopped: EventActionStopped,
	}
	deploymentEnds = map[Status]EventType{
		StatusSucceeded: EventDeploymentSucceeded, StatusFailed: EventDeploymentFailed, StatusRolledBack: EventDeploymentRolledBack,
	}
)

// endType is the type of the end with status s in ends; a status that is no end there counts
// as failed, so that an end is never left untold.
func endType(ends map[Status]EventType, s Status, failed EventType) EventType {
	if t, ok := ends[s]; ok {
		return t
	}
	return failed
}

// newEvent is the one place an Event is put together.
func newEvent(t EventType, subject string, data any, now time.Time) Event {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // sentences such as "error_rate 1 > 0.05" read as written
	err := enc.Encode(data)
	raw := json.RawMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if err != nil {
		// Payloads are plain structs of this package; this cannot fail. Keep the event rather
		// than lose it, with the reason as its data.
		raw, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("encode event data: %v", err)})
	}
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return Event{
		SpecVersion: "1.0", ID: hex.EncodeToString(id[:]), Source: "sluice", Type: t,
		Subject: subject, Time: now.UTC(), DataContentType: "application/json", Data: raw,
	}
}

func executionEvent(t EventType, ex *Execution, data ExecutionEvent, now time.Time) Event {
	data.Execution = ex.ID
	return newEvent(t, ex.ID, data, now)
}

// ExecutionCreated is sluice.execution.created: ex is stored and will run.
func ExecutionCreated(ex *Execution, now time.Time) Event {
	return executionEvent(EventExecutionCreated, ex, ExecutionEvent{Pipeline: ex.Pipeline, Revision: ex.Revision}, now)
}

// ExecutionStarted is sluice.execution.started: ex began its first stage.
func ExecutionStarted(ex *Execution, now time.Time) Event {
	return executionEvent(EventExecutionStarted, ex, ExecutionEvent{Pipeline: ex.Pipeline, Revision: ex.Revision}, now)
}

// ExecutionWaiting is sluice.execution.waiting: ex cannot go on, for the reason in ex.Waiting.
func ExecutionWaiting(ex *Execution, now time.Time) Event {
	return executionEvent(EventExecutionWaiting, ex, ExecutionEvent{Pipeline: ex.Pipeline, Waiting: ex.Waiting}, now)
}

// ExecutionRetried is sluice.execution.retried: ex runs its failed stage again.
func ExecutionRetried(ex *Execution, now time.Time) Event {
	return executionEvent(EventExecutionRetried, ex, ExecutionEvent{Pipeline: ex.Pipeline, Revision: ex.Revision}, now)
}

// ExecutionStopped is sluice.execution.stopped: who stopped ex, for reason. It is built before
// the stop is stored, from what never changes in an execution (its ID, pipeline and revision).
func ExecutionStopped(ex *Execution, who, reason string, now time.Time) Event {
	return executionEvent(EventExecutionStopped, ex, ExecutionEvent{Pipeline: ex.Pipeline, Revision: ex.Revision, Status: StatusStopped, Error: reason, By: who}, now)
}

// ExecutionEnded is the event of ex's end, by ex.Status: sluice.execution.succeeded, .failed,
// .rejected, .rolled_back or .superseded. A status that is no end counts as failed.
func ExecutionEnded(ex *Execution, now time.Time) Event {
	return executionEvent(endType(executionEnds, ex.Status, EventExecutionFailed), ex, ExecutionEvent{Pipeline: ex.Pipeline, Revision: ex.Revision, Status: ex.Status, Error: ex.Error}, now)
}

// StageStarted is sluice.stage.started, about "<execution>/<stage>".
func StageStarted(st *StageExecution, now time.Time) Event {
	return newEvent(EventStageStarted, st.ExecutionID+"/"+st.Stage, st, now)
}

// StageEnded is the event of a stage's end, by st.Status: sluice.stage.succeeded, .failed,
// .rejected or .rolled_back. A stage that is stopped or superseded has no event of its own (the
// execution's says it); any status that is no end counts as failed.
func StageEnded(st *StageExecution, now time.Time) Event {
	return newEvent(endType(stageEnds, st.Status, EventStageFailed), st.ExecutionID+"/"+st.Stage, st, now)
}

func actionSubject(a *ActionExecution) string { return a.ExecutionID + "/" + a.Stage + "/" + a.Action }

// ActionStarted is sluice.action.started, about "<execution>/<stage>/<action>".
func ActionStarted(a *ActionExecution, now time.Time) Event {
	return newEvent(EventActionStarted, actionSubject(a), a, now)
}

// ActionEnded is the event of an action's end, by a.Status: sluice.action.succeeded, .failed,
// .rejected, .rolled_back or .stopped. Any status that is no end counts as failed.
func ActionEnded(a *ActionExecution, now time.Time) Event {
	return newEvent(endType(actionEnds, a.Status, EventActionFailed), actionSubject(a), a, now)
}

// ArtifactCreated is sluice.artifact.created: execution built b.
func ArtifactCreated(execution string, b *Build, now time.Time) Event {
	return newEvent(EventArtifactCreated, execution, b, now)
}

// ChangeSetCreated is sluice.changeset.created: execution prepared cs in stage.
func ChangeSetCreated(execution, stage string, cs *ChangeSet, now time.Time) Event {
	return newEvent(EventChangeSetCreated, execution+"/"+stage, ChangeSetEvent{Environment: cs.Environment, Digest: cs.Digest, Changes: len(cs.Changes)}, now)
}

func envSubject(env string) string { return "env/" + env }

// ApprovalRequested is sluice.approval.requested: a waits for a person.
func ApprovalRequested(a *Approval, now time.Time) Event {
	return newEvent(EventApprovalRequested, envSubject(a.Environment), a, now)
}

// ApprovalDecided is the event of a decision on a: sluice.approval.approved, .rejected, or
// .expired when nobody decided in time.
func ApprovalDecided(a *Approval, now time.Time) Event {
	t := EventApprovalRejected
	switch {
	case a.Expired:
		t = EventApprovalExpired
	case a.Status == StatusSucceeded:
		t = EventApprovalApproved
	}
	return newEvent(t, envSubject(a.Environment), a, now)
}

// DeploymentStarted is sluice.deployment.started: d is recorded and traffic is about to move.
func DeploymentStarted(d *Deployment, now time.Time) Event {
	return newEvent(EventDeploymentStarted, envSubject(d.Environment), d, now)
}

// DeploymentEnded is the event of d's end, by d.Status: sluice.deployment.succeeded,
// .rolled_back (d.Rollback says why) or .failed. Any other status counts as failed.
func DeploymentEnded(d *Deployment, now time.Time) Event {
	return newEvent(endType(deploymentEnds, d.Status, EventDeploymentFailed), envSubject(d.Environment), d, now)
}

// DeploymentProgressed is sluice.deployment.progress (published, never stored).
func DeploymentProgressed(p DeploymentProgress, now time.Time) Event {
	return newEvent(EventDeploymentProgress, envSubject(p.Environment), p, now)
}

// EnvironmentFrozen is sluice.environment.frozen, or sluice.environment.unfrozen when frozen is
// false, about pipeline's environment env.
func EnvironmentFrozen(pipeline, env string, frozen bool, reason string, now time.Time) Event {
	t := EventEnvironmentFrozen
	if !frozen {
		t = EventEnvironmentUnfrozen
	}
	return newEvent(t, envSubject(env), EnvironmentEvent{Pipeline: pipeline, Environment: env, Reason: reason}, now)
}

// EnvironmentRestoreFailed is sluice.environment.restore_failed: the live version of the
// environment in state could not be restored when the engine started, because of err.
func EnvironmentRestoreFailed(state *EnvironmentState, err error, now time.Time) Event {
	return newEvent(EventEnvironmentRestoreFailed, envSubject(state.Name), EnvironmentEvent{Pipeline: state.Pipeline, Environment: state.Name, Error: err.Error()}, now)
}

// VersionChanged is the event a provider tells of in v: sluice.version.crashed, .restarted or
// .restart_failed. A v.Type that is none of them is reported as restart_failed, with the type
// named in its error, so that the event is kept rather than lost.
func VersionChanged(v VersionEvent, now time.Time) Event {
	switch v.Type {
	case EventVersionCrashed, EventVersionRestarted, EventVersionRestartFailed:
	default:
		v.Error = fmt.Sprintf("a provider told of %q, which is not a version event; %s", v.Type, v.Error)
		v.Type = EventVersionRestartFailed
	}
	return newEvent(v.Type, envSubject(v.Environment), v, now)
}

// PipelineCreatedEvent is sluice.pipeline.created: a branch or pull request got p, its pipeline.
func PipelineCreatedEvent(p *Pipeline, now time.Time) Event {
	return newEvent(EventPipelineCreated, "pipeline/"+p.ID, p, now)
}

// PipelineRemovedEvent is sluice.pipeline.removed: p's branch or pull request is gone (or its time
// to live ran out); its executions were stopped and its environments torn down, its history
// kept.
func PipelineRemovedEvent(p *Pipeline, now time.Time) Event {
	return newEvent(EventPipelineRemoved, "pipeline/"+p.ID, p, now)
}
