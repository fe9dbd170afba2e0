package sluice_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// TestEndEvents: an end's type follows the status it ended with, and a status that is no end
// is told as a failure rather than lost.
func TestEndEvents(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   sluice.Event
		want sluice.EventType
	}{
		{"execution succeeded", sluice.ExecutionEnded(&sluice.Execution{ID: "x", Status: sluice.StatusSucceeded}, now), sluice.EventExecutionSucceeded},
		{"execution superseded", sluice.ExecutionEnded(&sluice.Execution{ID: "x", Status: sluice.StatusSuperseded}, now), sluice.EventExecutionSuperseded},
		{"execution still running", sluice.ExecutionEnded(&sluice.Execution{ID: "x", Status: sluice.StatusInProgress}, now), sluice.EventExecutionFailed},
		{"stage rolled back", sluice.StageEnded(&sluice.StageExecution{ExecutionID: "x", Stage: "prod", Status: sluice.StatusRolledBack}, now), sluice.EventStageRolledBack},
		{"action stopped", sluice.ActionEnded(&sluice.ActionExecution{ExecutionID: "x", Stage: "prod", Action: "Approval", Status: sluice.StatusStopped}, now), sluice.EventActionStopped},
		{"action rejected", sluice.ActionEnded(&sluice.ActionExecution{Status: sluice.StatusRejected}, now), sluice.EventActionRejected},
		{"deployment rolled back", sluice.DeploymentEnded(&sluice.Deployment{Environment: "prod", Status: sluice.StatusRolledBack}, now), sluice.EventDeploymentRolledBack},
		{"deployment pending", sluice.DeploymentEnded(&sluice.Deployment{Environment: "prod", Status: sluice.StatusPending}, now), sluice.EventDeploymentFailed},
		{"approval approved", sluice.ApprovalDecided(&sluice.Approval{Environment: "prod", Status: sluice.StatusSucceeded}, now), sluice.EventApprovalApproved},
		{"approval expired", sluice.ApprovalDecided(&sluice.Approval{Environment: "prod", Status: sluice.StatusRejected, Expired: true}, now), sluice.EventApprovalExpired},
		{"unfrozen", sluice.EnvironmentFrozen("hello-api@main", "prod", false, "done", now), sluice.EventEnvironmentUnfrozen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ev.Type != tt.want {
				t.Errorf("type %s, want %s", tt.ev.Type, tt.want)
			}
			if !tt.ev.Type.Known() {
				t.Errorf("%s is not in the catalogue", tt.ev.Type)
			}
			if _, err := tt.ev.DecodeData(); err != nil {
				t.Errorf("decode: %v", err)
			}
			if tt.ev.ID == "" || tt.ev.Source != "sluice" || !tt.ev.Time.Equal(now) {
				t.Errorf("attributes %+v", tt.ev)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	now := time.Now()
	for got, want := range map[string]string{
		sluice.ActionStarted(&sluice.ActionExecution{ExecutionID: "ex", Stage: "dev", Action: "Test smoke"}, now).Subject: "ex/dev/Test smoke",
		sluice.StageStarted(&sluice.StageExecution{ExecutionID: "ex", Stage: "dev"}, now).Subject:                         "ex/dev",
		sluice.ChangeSetCreated("ex", "prod", &sluice.ChangeSet{Environment: "prod"}, now).Subject:                        "ex/prod",
		sluice.ExecutionStopped(&sluice.Execution{ID: "ex", Pipeline: "p@main"}, "ann", "stopped by ann", now).Subject:    "ex",
		sluice.VersionChanged(sluice.VersionEvent{Type: sluice.EventVersionCrashed, Environment: "dev"}, now).Subject:     "env/dev",
	} {
		if got != want {
			t.Errorf("subject %q, want %q", got, want)
		}
	}
}

// TestVersionEventOfUnknownType: a provider that tells of a type that is not a version event
// still gets its event stored, as a restart failure that names what it said.
func TestVersionEventOfUnknownType(t *testing.T) {
	ev := sluice.VersionChanged(sluice.VersionEvent{Type: "sluice.version.exploded", Environment: "dev", Version: "v1"}, time.Now())
	if ev.Type != sluice.EventVersionRestartFailed {
		t.Fatalf("type %s, want %s", ev.Type, sluice.EventVersionRestartFailed)
	}
	v, err := ev.DecodeData()
	if err != nil {
		t.Fatal(err)
	}
	if e := v.(*sluice.VersionEvent); !strings.Contains(e.Error, "sluice.version.exploded") || e.Version != "v1" {
		t.Errorf("payload %+v does not name the unknown type", e)
	}
}

func TestDecodeDataRefusesWhatItDoesNotKnow(t *testing.T) {
	unknownType := sluice.Event{Type: "sluice.nothing.happened", Data: json.RawMessage(`{}`)}
	if _, err := unknownType.DecodeData(); sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "docs/events.md") {
		t.Errorf("unknown type: %v, want invalid naming the catalogue", err)
	}
	newerField := sluice.Event{Type: sluice.EventChangeSetCreated, Data: json.RawMessage(`{"environment":"prod","digest":"sha256:1","changes":2,"cost":3}`)}
	if _, err := newerField.DecodeData(); sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "cost") {
		t.Errorf("unknown field: %v, want invalid naming it", err)
	}
	ok := sluice.ChangeSetCreated("ex", "prod", &sluice.ChangeSet{Environment: "prod", Digest: "sha256:1", Changes: []sluice.Change{{Field: "artifact"}}}, time.Now())
	v, err := ok.DecodeData()
	if err != nil {
		t.Fatal(err)
	}
	if cs := v.(*sluice.ChangeSetEvent); cs.Changes != 1 || cs.Digest != "sha256:1" {
		t.Errorf("decoded %+v", cs)
	}
}

func TestEveryTypeHasAPayload(t *testing.T) {
	types := sluice.EventTypes()
	if len(types) != 40 {
		t.Fatalf("%d event types; the catalogue (docs/events.md) has 40: add the new ones there too", len(types))
	}
	for _, typ := range types {
		if typ.Payload() == nil || !strings.HasPrefix(string(typ), "sluice.") {
			t.Errorf("%s: payload %v", typ, typ.Payload())
		}
	}
	if sluice.EventType("sluice.x").Payload() != nil {
		t.Error("an unknown type has a payload")
	}
}

func TestEventTypeMatches(t *testing.T) {
	tests := []struct {
		pattern string
		typ     sluice.EventType
		want    bool
	}{
		{"*", sluice.EventActionFailed, true},
		{"deployment.*", sluice.EventDeploymentRolledBack, true},
		{"sluice.deployment.*", sluice.EventDeploymentRolledBack, true},
		{"deployment.*", sluice.EventExecutionFailed, false},
		{"*.failed", sluice.EventExecutionFailed, true},
		{"*.failed", sluice.EventExecutionRolledBack, false},
		{"execution.failed", sluice.EventExecutionFailed, true},
		{"execution.failed", sluice.EventStageFailed, false},
		{"execution", sluice.EventExecutionFailed, false},
		{"execution.*.x", sluice.EventExecutionFailed, false},
		{"[", sluice.EventExecutionFailed, false},
	}
	for _, tt := range tests {
		if got := tt.typ.Matches(tt.pattern); got != tt.want {
			t.Errorf("%s.Matches(%q) = %v, want %v", tt.typ, tt.pattern, got, tt.want)
		}
	}
}
