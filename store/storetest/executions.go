package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testExecutions(t *testing.T, open opener) {
	t.Run("round trip", func(t *testing.T) {
		s := open(t)
		ex, stages, actions := newExecution("ex-1")
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions, newEvent("sluice.execution.created", "ex-1", 1)))
		if ex.Seq <= 0 {
			t.Errorf("Seq = %d after create, want > 0", ex.Seq)
		}
		got, err := s.Execution(t.Context(), "ex-1")
		must(t, "read", err)
		check(t, "execution", got, ex)
		gotStages, err := s.Stages(t.Context(), "ex-1")
		must(t, "stages", err)
		check(t, "stages", gotStages, stages)
		gotActions, err := s.Actions(t.Context(), "ex-1")
		must(t, "actions", err)
		check(t, "actions", gotActions, actions)
		checkEvents(t, s, 0, newEvent("sluice.execution.created", "ex-1", 1))
	})

	t.Run("zero values round trip", func(t *testing.T) {
		s := open(t)
		ex := &sluice.Execution{ID: "bare"}
		stages := []sluice.StageExecution{{ExecutionID: "bare", Stage: "only"}}
		actions := []sluice.ActionExecution{{ExecutionID: "bare", Stage: "only", Action: "a"}}
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		got, err := s.Execution(t.Context(), "bare")
		must(t, "read", err)
		check(t, "execution", got, ex)
		gotActions, err := s.Actions(t.Context(), "bare")
		must(t, "actions", err)
		check(t, "actions", gotActions, actions)
		if gotActions[0].Outputs != nil || !gotActions[0].StartedAt.IsZero() {
			t.Errorf("zero outputs and times came back as %v and %v", gotActions[0].Outputs, gotActions[0].StartedAt)
		}
	})

	t.Run("seq increases", func(t *testing.T) {
		s := open(t)
		var last int64
		for i := range 5 {
			ex, stages, actions := pending(fmt.Sprintf("ex-%d", i))
			must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
			if ex.Seq <= last {
				t.Errorf("execution %d: Seq %d after %d", i, ex.Seq, last)
			}
			last = ex.Seq
		}
	})

	t.Run("duplicate ID is a conflict", func(t *testing.T) {
		s := open(t)
		ex, stages, actions := newExecution("ex-1")
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		before := lastSeq(t, s)
		again, stages2, actions2 := pending("ex-1")
		err := s.CreateExecution(t.Context(), again, stages2, actions2, newEvent("sluice.execution.created", "ex-1", 2))
		wantCode(t, "second create", err, sluice.ECONFLICT)
		got, err := s.Execution(t.Context(), "ex-1")
		must(t, "read", err)
		check(t, "execution after conflict", got, ex)
		checkEvents(t, s, before)
	})

	t.Run("saves overwrite mutable fields", func(t *testing.T) {
		s := open(t)
		ex, stages, actions := pending("ex-1")
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		before := lastSeq(t, s)

		ex.Status, ex.Artifact, ex.Error = sluice.StatusFailed, "sha256:abc", "the check unit failed"
		ex.StartedAt, ex.EndedAt = at(time.Second), at(time.Hour)
		must(t, "save execution", s.SaveExecution(t.Context(), ex, newEvent("sluice.execution.failed", "ex-1", 1)))

		st := stages[1]
		st.Status, st.StartedAt, st.EndedAt = sluice.StatusInProgress, at(3*time.Second), time.Time{}
		must(t, "save stage", s.SaveStage(t.Context(), &st, newEvent("sluice.stage.started", "ex-1/Build", 2)))
		stages[1] = st

		a := actions[3]
		a.Status, a.Attempt, a.StartedAt, a.EndedAt = sluice.StatusSucceeded, 3, at(4*time.Second), at(5*time.Second)
		a.Summary, a.Outputs = "deployed", map[string]string{"URL": "http://127.0.0.1:9"}
		must(t, "save action", s.SaveAction(t.Context(), &a, newEvent("sluice.action.succeeded", "ex-1/dev/ExecuteChangeSet", 3)))
		actions[3] = a

		a = actions[3]
		a.Outputs, a.Summary = nil, ""
		must(t, "save action again", s.SaveAction(t.Context(), &a))
		actions[3] = a

		got, err := s.Execution(t.Context(), "ex-1")
		must(t, "read", err)
		check(t, "execution", got, ex)
		gotStages, err := s.Stages(t.Context(), "ex-1")
		must(t, "stages", err)
		check(t, "stages", gotStages, stages)
		gotActions, err := s.Actions(t.Context(), "ex-1")
		must(t, "actions", err)
		check(t, "actions", gotActions, actions)
		checkEvents(t, s, before,
			newEvent("sluice.execution.failed", "ex-1", 1),
			newEvent("sluice.stage.started", "ex-1/Build", 2),
			newEvent("sluice.action.succeeded", "ex-1/dev/ExecuteChangeSet", 3))
	})

	t.Run("missing is not found", func(t *testing.T) {
		s := open(t)
		ex, stages, actions := pending("ex-1")
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		before := lastSeq(t, s)
		ev := newEvent("sluice.should.not.be.stored", "x", 1)
		cases := []struct {
			name string
			call func() error
		}{
			{"Execution", func() error { _, err := s.Execution(t.Context(), "nope"); return err }},
			{"Stages", func() error { _, err := s.Stages(t.Context(), "nope"); return err }},
			{"Actions", func() error { _, err := s.Actions(t.Context(), "nope"); return err }},
			{"SaveExecution", func() error {
				return s.SaveExecution(t.Context(), &sluice.Execution{ID: "nope", Status: sluice.StatusFailed}, ev)
			}},
			{"SaveStage of a missing execution", func() error {
				return s.SaveStage(t.Context(), &sluice.StageExecution{ExecutionID: "nope", Stage: "Build"}, ev)
			}},
			{"SaveStage of a missing stage", func() error {
				return s.SaveStage(t.Context(), &sluice.StageExecution{ExecutionID: "ex-1", Stage: "nope"}, ev)
			}},
			{"SaveAction of a missing execution", func() error {
				return s.SaveAction(t.Context(), &sluice.ActionExecution{ExecutionID: "nope", Stage: "Build", Action: "Build"}, ev)
			}},
			{"SaveAction of a missing action", func() error {
				return s.SaveAction(t.Context(), &sluice.ActionExecution{ExecutionID: "ex-1", Stage: "Build", Action: "nope"}, ev)
			}},
			{"SaveAction in another stage", func() error {
				return s.SaveAction(t.Context(), &sluice.ActionExecution{ExecutionID: "ex-1", Stage: "dev", Action: "Build"}, ev)
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { wantCode(t, c.name, c.call(), sluice.ENOTFOUND) })
		}
		checkEvents(t, s, before) // a change that failed stored none of its events
	})

	t.Run("an execution without stages has none", func(t *testing.T) {
		s := open(t)
		must(t, "create", s.CreateExecution(t.Context(), &sluice.Execution{ID: "empty", Status: sluice.StatusPending}, nil, nil))
		stages, err := s.Stages(t.Context(), "empty")
		must(t, "stages", err)
		actions, err := s.Actions(t.Context(), "empty")
		must(t, "actions", err)
		if len(stages) != 0 || len(actions) != 0 {
			t.Errorf("got %d stages and %d actions, want none", len(stages), len(actions))
		}
	})

	t.Run("plan order", func(t *testing.T) {
		s := open(t)
		ex, _, _ := pending("ex-1")
		st := func(name string, index int) sluice.StageExecution {
			return sluice.StageExecution{ExecutionID: "ex-1", Stage: name, Index: index, Status: sluice.StatusPending}
		}
		act := func(stage, name string, order int) sluice.ActionExecution {
			return sluice.ActionExecution{ExecutionID: "ex-1", Stage: stage, Action: name, Kind: sluice.KindTest, RunOrder: order, Status: sluice.StatusPending}
		}
		// Given out of order; stages come back by index, actions by stage index, run order, then
		// the order they were given in.
		stages := []sluice.StageExecution{st("dev", 2), st("Source", 0), st("Build", 1)}
		actions := []sluice.ActionExecution{
			act("dev", "z-test", 3), act("dev", "create", 1), act("Build", "build", 1),
			act("dev", "m-execute", 2), act("dev", "a-parallel", 2), act("Source", "checkout", 1),
		}
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		gotStages, err := s.Stages(t.Context(), "ex-1")
		must(t, "stages", err)
		check(t, "stages", gotStages, []sluice.StageExecution{stages[1], stages[2], stages[0]})
		gotActions, err := s.Actions(t.Context(), "ex-1")
		must(t, "actions", err)
		check(t, "actions", gotActions, []sluice.ActionExecution{actions[5], actions[2], actions[1], actions[3], actions[4], actions[0]})
	})

	t.Run("list newest first with the active filter", func(t *testing.T) {
		s := open(t)
		statuses := []sluice.Status{
			sluice.StatusSucceeded, sluice.StatusInProgress, sluice.StatusFailed, sluice.StatusWaiting,
			sluice.StatusSuperseded, sluice.StatusPending, sluice.StatusStopped,
		}
		for i, status := range statuses {
			ex, stages, actions := pending(fmt.Sprintf("ex-%d", i))
			ex.Status = status
			must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))
		}
		cases := []struct {
			name   string
			active bool
			limit  int
			want   []string
		}{
			{"all", false, 0, []string{"ex-6", "ex-5", "ex-4", "ex-3", "ex-2", "ex-1", "ex-0"}},
			{"all, negative limit", false, -1, []string{"ex-6", "ex-5", "ex-4", "ex-3", "ex-2", "ex-1", "ex-0"}},
			{"limited", false, 2, []string{"ex-6", "ex-5"}},
			{"active", true, 0, []string{"ex-5", "ex-3", "ex-1"}},
			{"active, limited", true, 1, []string{"ex-5"}},
			{"limit above count", false, 100, []string{"ex-6", "ex-5", "ex-4", "ex-3", "ex-2", "ex-1", "ex-0"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				list, err := s.ListExecutions(t.Context(), "", c.active, c.limit)
				must(t, "list", err)
				check(t, "IDs", ids(list), c.want)
				for _, ex := range list {
					if c.active && ex.Status.Done() {
						t.Errorf("active list holds %s, which is %s", ex.ID, ex.Status)
					}
					if ex.Route == "" || ex.CreatedAt.IsZero() {
						t.Errorf("listed execution %s lacks fields it was created with: %+v", ex.ID, ex)
					}
				}
			})
		}

		done := &sluice.Execution{ID: "ex-3", Status: sluice.StatusSucceeded, EndedAt: at(time.Hour)}
		must(t, "save", s.SaveExecution(t.Context(), done))
		list, err := s.ListExecutions(t.Context(), "", true, 0)
		must(t, "list after save", err)
		check(t, "active IDs after ex-3 ended", ids(list), []string{"ex-5", "ex-1"})
	})

	t.Run("concurrent saves of actions", func(t *testing.T) {
		s := open(t)
		const workers, saves = 8, 20
		ex := &sluice.Execution{ID: "ex-1", Status: sluice.StatusInProgress}
		stages := []sluice.StageExecution{{ExecutionID: "ex-1", Stage: "checks", Status: sluice.StatusInProgress}}
		var actions []sluice.ActionExecution
		for w := range workers {
			actions = append(actions, sluice.ActionExecution{ExecutionID: "ex-1", Stage: "checks", Action: fmt.Sprintf("check-%d", w), Kind: sluice.KindCheck, RunOrder: 1, Status: sluice.StatusPending})
		}
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions))

		var wg sync.WaitGroup
		errs := make(chan error, workers*saves)
		for w := range workers {
			wg.Go(func() {
				a := actions[w]
				for i := 1; i <= saves; i++ {
					a.Status, a.Attempt = sluice.StatusInProgress, i
					a.Outputs = map[string]string{"SAVE": fmt.Sprint(i)}
					if i == saves {
						a.Status = sluice.StatusSucceeded
					}
					errs <- s.SaveAction(t.Context(), &a, newEvent("sluice.action.saved", a.Action, i))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent save: %v", err)
			}
		}

		got, err := s.Actions(t.Context(), "ex-1")
		must(t, "actions", err)
		for i, a := range got {
			if a.Attempt != saves || a.Status != sluice.StatusSucceeded || a.Outputs["SAVE"] != fmt.Sprint(saves) {
				t.Errorf("action %d after concurrent saves: %+v", i, a)
			}
		}
		evs := allEvents(t, s)
		perAction := map[string]int{}
		for _, ev := range evs {
			perAction[ev.Subject]++
		}
		if len(evs) != workers*saves {
			t.Errorf("got %d events, want %d", len(evs), workers*saves)
		}
		for _, a := range actions {
			if perAction[a.Action] != saves {
				t.Errorf("action %s: %d events, want %d", a.Action, perAction[a.Action], saves)
			}
		}
	})
}

func ids(list []sluice.Execution) []string {
	var out []string
	for _, ex := range list {
		out = append(out, ex.ID)
	}
	return out
}
