package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store"
)

// mainPipeline is the pipeline of the records the suite writes, unless a case says otherwise.
const mainPipeline = "hello-api@main"

// opener returns a new, empty store for one test.
type opener = func(t *testing.T) store.Store

// t0 has nanoseconds and a zone that is not UTC, so a store that drops either is caught.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// newExecution returns an execution with every field set, and its stages and actions in plan
// order: Source, Build, then dev with three actions in run order.
func newExecution(id string) (*sluice.Execution, []sluice.StageExecution, []sluice.ActionExecution) {
	ex := &sluice.Execution{
		ID:        id,
		Pipeline:  mainPipeline,
		Revision:  "4f2a9c0e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
		Subject:   "Fix the “greeting” endpoint's\nsecond line",
		Status:    sluice.StatusInProgress,
		Artifact:  "sha256:0b6d5e4c3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d",
		Error:     "the build's second command exited with status 2",
		Waiting:   "waiting: execution 8eba81b8 holds prod (waiting for approval since 12:03); sluice stop 8eba81b8 to release it",
		Route:     "version: 1\nname: hello-api\n# 'quotes' \"and\" ünïcode\n",
		RouteFile: "/home/dev/hello-api/sluice.yaml",
		CreatedAt: t0,
		StartedAt: at(time.Millisecond),
		EndedAt:   at(time.Minute),
	}
	stage := func(name string, index int) sluice.StageExecution {
		return sluice.StageExecution{
			ExecutionID: id, Stage: name, Index: index, Status: sluice.StatusSucceeded,
			StartedAt: at(time.Duration(index) * time.Second), EndedAt: at(time.Duration(index)*time.Second + time.Nanosecond),
		}
	}
	action := func(stage, name string, kind sluice.ActionKind, order int) sluice.ActionExecution {
		return sluice.ActionExecution{
			ExecutionID: id, Stage: stage, Action: name, Kind: kind, RunOrder: order,
			Status: sluice.StatusFailed, Attempt: 2, StartedAt: at(time.Second), EndedAt: at(2 * time.Second),
			Error: "exit status 1", Summary: "reused artifact sha256:0b6d…",
			Outputs: map[string]string{"URL": "http://127.0.0.1:8081", "EMPTY": "", "MULTI": "a=b=c"},
		}
	}
	stages := []sluice.StageExecution{stage("Source", 0), stage("Build", 1), stage("dev", 2)}
	actions := []sluice.ActionExecution{
		action("Source", "Checkout", sluice.KindSource, 1),
		action("Build", "Build", sluice.KindBuild, 1),
		action("dev", "CreateChangeSet", sluice.KindCreateChangeSet, 1),
		action("dev", "ExecuteChangeSet", sluice.KindExecuteChangeSet, 2),
		action("dev", "integration", sluice.KindTest, 3),
	}
	return ex, stages, actions
}

// pending returns an execution, its stages and actions as the engine creates them: Pending,
// with no times but CreatedAt.
func pending(id string) (*sluice.Execution, []sluice.StageExecution, []sluice.ActionExecution) {
	ex, stages, actions := newExecution(id)
	*ex = sluice.Execution{ID: id, Pipeline: ex.Pipeline, Revision: ex.Revision, Status: sluice.StatusPending, Route: ex.Route, CreatedAt: t0}
	for i := range stages {
		stages[i] = sluice.StageExecution{ExecutionID: id, Stage: stages[i].Stage, Index: stages[i].Index, Status: sluice.StatusPending}
	}
	for i, a := range actions {
		actions[i] = sluice.ActionExecution{ExecutionID: id, Stage: a.Stage, Action: a.Action, Kind: a.Kind, RunOrder: a.RunOrder, Status: sluice.StatusPending}
	}
	return ex, stages, actions
}

// newVersion returns a version with every field set; n makes versions differ.
func newVersion(n int) *sluice.Version {
	return &sluice.Version{
		Artifact:     fmt.Sprintf("sha256:%064d", n),
		Revision:     fmt.Sprintf("%040d", n),
		Command:      []string{"dist/app", "--greeting", "hello world"},
		PortEnv:      "PORT",
		Env:          map[string]string{"LOG_LEVEL": "debug", "N": fmt.Sprint(n)},
		Secrets:      []string{"DB_PASSWORD", "API_TOKEN"},
		HealthPath:   "/healthz",
		HealthEvery:  sluice.Duration(1500 * time.Millisecond),
		HealthLimit:  sluice.Duration(2 * time.Second),
		StartTimeout: sluice.Duration(30 * time.Second),
		Strategy:     sluice.Strategy{Name: "Linear10PercentEvery1Minute", Type: sluice.Linear, Percent: 10, Interval: time.Minute},
	}
}

// newEvent returns an event with every field set.
func newEvent(typ sluice.EventType, subject string, n int) sluice.Event {
	data := json.RawMessage(fmt.Sprintf(`{"n": %d, "subject": %q, "list": [true, null, 1.5]}`, n, subject))
	return sluice.Event{
		SpecVersion:     "1.0",
		ID:              fmt.Sprintf("%s-%d", typ, n),
		Source:          "sluice/hello-api@main",
		Type:            typ,
		Subject:         subject,
		Time:            at(time.Duration(n) * time.Microsecond),
		DataContentType: "application/json",
		Data:            data,
	}
}
