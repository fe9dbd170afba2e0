package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// testOwnership checks the writes that must happen in one transaction for executions to have
// one driver and one execution per revision, and for a stop or a deployment to leave no
// half-written state.
func testOwnership(t *testing.T, open opener) {
	t.Run("one execution per revision", func(t *testing.T) {
		s := open(t)
		const n = 6
		firsts := make([]*sluice.Execution, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ex, stages, actions := pending(string(rune('a' + i)))
				existing, err := s.CreateFirstExecution(t.Context(), ex, stages, actions, newEvent("sluice.execution.created", ex.ID, i))
				must(t, "create first", err)
				if existing == nil {
					firsts[i] = ex
				}
			})
		}
		wg.Wait()
		created := 0
		for _, ex := range firsts {
			if ex != nil {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("%d executions created for one revision, want 1", created)
		}
		if evs := allEvents(t, s); len(evs) != 1 {
			t.Errorf("%d events stored, want only the created execution's", len(evs))
		}
		other, stages, actions := pending("other-rev")
		other.Revision = "0000000000000000000000000000000000000001"
		existing, err := s.CreateFirstExecution(t.Context(), other, stages, actions)
		must(t, "another revision", err)
		if existing != nil {
			t.Errorf("another revision found %s", existing.ID)
		}
		again, stages, actions := pending("again")
		existing, err = s.CreateFirstExecution(t.Context(), again, stages, actions)
		must(t, "same revision again", err)
		if existing == nil || existing.Revision != again.Revision {
			t.Fatalf("same revision again: got %+v, want the first execution", existing)
		}
		_, err = s.Execution(t.Context(), "again")
		wantCode(t, "the refused execution", err, sluice.ENOTFOUND)
	})

	t.Run("stop ends everything running in one step", func(t *testing.T) {
		s := open(t)
		ex, stages, actions := pending("ex-1")
		ex.Status = sluice.StatusInProgress
		stages[0].Status, stages[1].Status, stages[2].Status = sluice.StatusSucceeded, sluice.StatusSucceeded, sluice.StatusInProgress
		actions[0].Status, actions[1].Status = sluice.StatusSucceeded, sluice.StatusSucceeded
		actions[2].Status, actions[3].Status = sluice.StatusSucceeded, sluice.StatusWaiting
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		a := newApproval("dev")
		a.ExecutionID = "ex-1"
		must(t, "request approval", s.CreateApproval(t.Context(), a, nil))
		_, err := s.AcquireLease(t.Context(), "stage/hello-api@main/dev", "ex-1", "", t0, time.Minute)
		must(t, "hold the stage", err)
		_, err = s.AcquireLease(t.Context(), "execution/ex-1", "engine-a", "", t0, time.Minute)
		must(t, "drive it", err)

		stopped, err := s.StopExecution(t.Context(), "ex-1", "alice", "stopped by alice", at(time.Hour), newEvent("sluice.execution.stopped", "ex-1", 1))
		must(t, "stop", err)
		if stopped.Status != sluice.StatusStopped || stopped.Error != "stopped by alice" || !stopped.EndedAt.Equal(at(time.Hour)) {
			t.Errorf("stopped execution: %+v", stopped)
		}
		got, err := s.Execution(t.Context(), "ex-1")
		must(t, "read", err)
		check(t, "stored execution", got, stopped)
		sts, err := s.Stages(t.Context(), "ex-1")
		must(t, "stages", err)
		want := []sluice.Status{sluice.StatusSucceeded, sluice.StatusSucceeded, sluice.StatusStopped}
		for i, st := range sts {
			if st.Status != want[i] {
				t.Errorf("stage %s: %s, want %s", st.Stage, st.Status, want[i])
			}
		}
		acts, err := s.Actions(t.Context(), "ex-1")
		must(t, "actions", err)
		wantActions := []sluice.Status{sluice.StatusSucceeded, sluice.StatusSucceeded, sluice.StatusSucceeded, sluice.StatusStopped, sluice.StatusPending}
		for i, act := range acts {
			if act.Status != wantActions[i] {
				t.Errorf("action %s/%s: %s, want %s", act.Stage, act.Action, act.Status, wantActions[i])
			}
		}
		decided, err := s.Approval(t.Context(), a.ID)
		must(t, "approval", err)
		if decided.Status != sluice.StatusRejected || decided.DecidedBy != "alice" {
			t.Errorf("the stopped execution's approval: %s by %q, want Rejected by alice", decided.Status, decided.DecidedBy)
		}
		_, err = s.Lease(t.Context(), "stage/hello-api@main/dev")
		wantCode(t, "the stage it held", err, sluice.ENOTFOUND)
		checkEvents(t, s, 0, newEvent("sluice.execution.stopped", "ex-1", 1))

		// A driver that has not noticed the stop cannot undo it.
		late := acts[4]
		late.Status = sluice.StatusInProgress
		wantCode(t, "start an action after the stop", s.SaveAction(t.Context(), &late), sluice.ECONFLICT)
		lateStage := sts[2]
		lateStage.Status = sluice.StatusInProgress
		wantCode(t, "resume a stage after the stop", s.SaveStage(t.Context(), &lateStage), sluice.ECONFLICT)
		lateEx := *stopped
		lateEx.Status = sluice.StatusInProgress
		wantCode(t, "resume the execution after the stop", s.SaveExecution(t.Context(), &lateEx), sluice.ECONFLICT)
		lateEnd := *stopped
		lateEnd.Status = sluice.StatusFailed
		wantCode(t, "end the execution otherwise after the stop", s.SaveExecution(t.Context(), &lateEnd), sluice.ECONFLICT)
		ended := acts[3]
		ended.Status, ended.Error = sluice.StatusStopped, "killed"
		must(t, "record how a stopped action ended", s.SaveAction(t.Context(), &ended))
		got, err = s.Execution(t.Context(), "ex-1")
		must(t, "read", err)
		check(t, "execution after late writes", got, stopped)

		_, err = s.StopExecution(t.Context(), "ex-1", "alice", "again", at(2*time.Hour))
		wantCode(t, "stop an ended execution", err, sluice.ECONFLICT)
		_, err = s.StopExecution(t.Context(), "nope", "alice", "", at(2*time.Hour))
		wantCode(t, "stop a missing execution", err, sluice.ENOTFOUND)

		// A retry reopens it, in one step.
		lateStage.Status = sluice.StatusPending
		ended.Status = sluice.StatusPending
		lateEx.Error, lateEx.EndedAt = "", time.Time{}
		must(t, "retry", s.RetryExecution(t.Context(), &lateEx, []sluice.StageExecution{lateStage}, []sluice.ActionExecution{ended}, newEvent("sluice.execution.retried", "ex-1", 2)))
		got, err = s.Execution(t.Context(), "ex-1")
		must(t, "read", err)
		check(t, "retried execution", got, &lateEx)
		late.Status = sluice.StatusInProgress
		must(t, "run an action of the retried execution", s.SaveAction(t.Context(), &late))
	})

	t.Run("a deployment starts and ends together with its environment", func(t *testing.T) {
		s := open(t)
		frozen := &sluice.EnvironmentState{Pipeline: mainPipeline, Name: "prod", Address: "127.0.0.1:8081", Live: newVersion(1), UpdatedAt: t0}
		must(t, "save", s.SaveEnvironment(t.Context(), frozen))
		d := newDeployment("prod", 2)
		state := &sluice.EnvironmentState{Pipeline: mainPipeline, Name: "prod", Address: "127.0.0.1:8081", Live: newVersion(1), Deploying: newVersion(2), UpdatedAt: at(time.Second)}
		events, err := s.ListEvents(t.Context(), 0, 0)
		must(t, "events before", err)
		var built []sluice.Event
		must(t, "start", s.StartDeployment(t.Context(), d, state, func(numbered *sluice.Deployment) []sluice.Event {
			built = []sluice.Event{sluice.DeploymentStarted(numbered, at(time.Second))}
			return built
		}))
		if d.ID <= 0 || state.DeploymentID != d.ID {
			t.Fatalf("deployment %d, environment points at %d", d.ID, state.DeploymentID)
		}
		// The start's event is built once the deployment is numbered, and stored with it.
		after := int64(0)
		if len(events) > 0 {
			after = events[len(events)-1].Seq
		}
		stored, err := s.ListEvents(t.Context(), after, 0)
		must(t, "events after", err)
		if len(stored) != 1 || len(built) != 1 || built[0].Seq != stored[0].Seq || stored[0].Seq <= after {
			t.Fatalf("stored %d events, built %+v; want the one built, its Seq set", len(stored), built)
		}
		var data sluice.Deployment
		must(t, "decode the start's event", json.Unmarshal(stored[0].Data, &data))
		if data.ID != d.ID {
			t.Errorf("the start's event tells of deployment %d; it was numbered %d", data.ID, d.ID)
		}
		got, err := s.Environment(t.Context(), mainPipeline, "prod")
		must(t, "read", err)
		check(t, "environment at start", got, state)

		// A freeze while it runs stays: the deployment's end records what runs, not freezes.
		frozenNow := *got
		frozenNow.Frozen, frozenNow.FrozenReason = true, "incident"
		must(t, "freeze", s.SaveEnvironment(t.Context(), &frozenNow))

		d.Status, d.EndedAt = sluice.StatusSucceeded, at(time.Minute)
		state.Previous, state.Live, state.Deploying, state.DeploymentID = state.Live, state.Deploying, nil, 0
		must(t, "end", s.EndDeployment(t.Context(), d, state, newEvent("sluice.deployment.succeeded", "env/prod", 2)))
		got, err = s.Environment(t.Context(), mainPipeline, "prod")
		must(t, "read", err)
		want := *state
		want.Frozen, want.FrozenReason = true, "incident"
		check(t, "environment at end", got, &want)
		list, err := s.ListDeployments(t.Context(), mainPipeline, "prod", 0)
		must(t, "list", err)
		check(t, "deployment at end", list, []sluice.Deployment{*d})

		missing := newDeployment("prod", 3)
		missing.ID = 9999
		before := *got
		other := *state
		other.Live = newVersion(3)
		wantCode(t, "end a missing deployment", s.EndDeployment(t.Context(), missing, &other), sluice.ENOTFOUND)
		got, err = s.Environment(t.Context(), mainPipeline, "prod")
		must(t, "read", err)
		check(t, "environment after a refused end", got, &before)
		wantCode(t, "start with another environment's state", s.StartDeployment(t.Context(), newDeployment("dev", 4), state, nil), sluice.EINVALID)
	})
}
