package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func newDeployment(env string, n int) *sluice.Deployment {
	return &sluice.Deployment{
		Pipeline:        mainPipeline,
		Environment:     env,
		ExecutionID:     fmt.Sprintf("ex-%d", n),
		ChangeSetDigest: fmt.Sprintf("sha256:%04d", n),
		From:            fmt.Sprintf("sha256:%064d", n-1),
		To:              fmt.Sprintf("sha256:%064d", n),
		Revision:        fmt.Sprintf("%040d", n),
		Strategy:        "Linear10PercentEvery1Minute",
		Status:          sluice.StatusInProgress,
		StartedAt:       at(time.Duration(n) * time.Minute),
	}
}

func testDeployments(t *testing.T, open opener) {
	t.Run("create, save and list round trip", func(t *testing.T) {
		s := open(t)
		d := newDeployment("prod", 1)
		d.Reason = "a reason given at start"
		d.Rollback = &sluice.Rollback{Cause: "manual", Detail: "pre-set"}
		must(t, "create", s.CreateDeployment(t.Context(), d, newEvent("sluice.deployment.started", "env/prod", 1)))
		if d.ID <= 0 {
			t.Errorf("ID = %d after create, want > 0", d.ID)
		}
		list, err := s.ListDeployments(t.Context(), mainPipeline, "prod", 0)
		must(t, "list", err)
		check(t, "created deployment", list, []sluice.Deployment{*d})

		d.Status, d.Reason, d.EndedAt = sluice.StatusRolledBack, "alarm api-errors: error_rate 0.25 > 0.01", at(time.Hour)
		d.Rollback = &sluice.Rollback{
			Cause: "alarm", Alarm: "api-errors", Metric: sluice.MetricErrorRate, Value: 0.25, Threshold: 0.01,
			Detail: "25 of 100 requests failed", BreachedAt: at(30 * time.Minute), RestoredAt: at(30*time.Minute + 1234567*time.Nanosecond),
		}
		must(t, "save", s.SaveDeployment(t.Context(), d, newEvent("sluice.deployment.rolled_back", "env/prod", 2)))
		list, err = s.ListDeployments(t.Context(), mainPipeline, "prod", 0)
		must(t, "list after save", err)
		check(t, "saved deployment", list, []sluice.Deployment{*d})
		if got := list[0].Rollback.Reaction(); got != 1234567*time.Nanosecond {
			t.Errorf("rollback reaction = %s, want 1.234567ms", got)
		}

		d.Rollback = nil
		d.Status = sluice.StatusSucceeded
		must(t, "save without rollback", s.SaveDeployment(t.Context(), d))
		list, err = s.ListDeployments(t.Context(), mainPipeline, "prod", 0)
		must(t, "list after clearing rollback", err)
		check(t, "deployment without rollback", list, []sluice.Deployment{*d})

		checkEvents(t, s, 0, newEvent("sluice.deployment.started", "env/prod", 1), newEvent("sluice.deployment.rolled_back", "env/prod", 2))
	})

	t.Run("rollback deployment without execution", func(t *testing.T) {
		s := open(t)
		d := &sluice.Deployment{Pipeline: mainPipeline, Environment: "prod", To: "sha256:0001", Revision: "r", Strategy: "AllAtOnce", Status: sluice.StatusInProgress, StartedAt: t0}
		must(t, "create", s.CreateDeployment(t.Context(), d))
		list, err := s.ListDeployments(t.Context(), mainPipeline, "prod", 0)
		must(t, "list", err)
		check(t, "deployment", list, []sluice.Deployment{*d})
	})

	t.Run("save of a missing deployment is not found", func(t *testing.T) {
		s := open(t)
		d := newDeployment("prod", 1)
		must(t, "create", s.CreateDeployment(t.Context(), d))
		before := lastSeq(t, s)
		missing := *d
		missing.ID += 100
		err := s.SaveDeployment(t.Context(), &missing, newEvent("sluice.should.not.be.stored", "x", 1))
		wantCode(t, "SaveDeployment", err, sluice.ENOTFOUND)
		checkEvents(t, s, before)
	})

	t.Run("list newest first with a limit", func(t *testing.T) {
		s := open(t)
		var prod []int64
		for i, env := range []string{"prod", "dev", "prod", "dev", "prod", "prod"} {
			d := newDeployment(env, i+1)
			must(t, "create", s.CreateDeployment(t.Context(), d))
			if env == "prod" {
				prod = append(prod, d.ID)
			}
		}
		cases := []struct {
			name  string
			env   string
			limit int
			want  []int64
		}{
			{"all", "prod", 0, []int64{prod[3], prod[2], prod[1], prod[0]}},
			{"negative limit is all", "prod", -5, []int64{prod[3], prod[2], prod[1], prod[0]}},
			{"limited", "prod", 2, []int64{prod[3], prod[2]}},
			{"unknown environment", "qa", 0, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				list, err := s.ListDeployments(t.Context(), mainPipeline, c.env, c.limit)
				must(t, "list", err)
				var got []int64
				for _, d := range list {
					got = append(got, d.ID)
					if d.Environment != c.env {
						t.Errorf("deployment %d of %s listed for %s", d.ID, d.Environment, c.env)
					}
				}
				check(t, "IDs", got, c.want)
			})
		}
	})
}

func testEnvironments(t *testing.T, open opener) {
	full := func() *sluice.EnvironmentState {
		return &sluice.EnvironmentState{
			Pipeline: mainPipeline, Name: "prod", Address: "127.0.0.1:8081",
			Live: newVersion(2), Previous: newVersion(1), Deploying: newVersion(3),
			DeploymentID: 7, Frozen: true, FrozenReason: "rollback of deployment 7; fix and run again",
			UpdatedAt: t0,
		}
	}

	t.Run("missing is not found", func(t *testing.T) {
		s := open(t)
		_, err := s.Environment(t.Context(), mainPipeline, "prod")
		wantCode(t, "Environment", err, sluice.ENOTFOUND)
		list, err := s.ListEnvironments(t.Context(), mainPipeline)
		must(t, "list", err)
		if len(list) != 0 {
			t.Errorf("new store lists environments: %+v", list)
		}
	})

	t.Run("save creates then overwrites", func(t *testing.T) {
		s := open(t)
		st := full()
		must(t, "create", s.SaveEnvironment(t.Context(), st, newEvent("sluice.environment.frozen", "env/prod", 1)))
		got, err := s.Environment(t.Context(), mainPipeline, "prod")
		must(t, "read", err)
		check(t, "created state", got, st)

		st = &sluice.EnvironmentState{Pipeline: mainPipeline, Name: "prod", Address: "127.0.0.1:8082", Live: newVersion(3), Previous: newVersion(2), DeploymentID: 8, UpdatedAt: at(time.Hour)}
		must(t, "overwrite", s.SaveEnvironment(t.Context(), st, newEvent("sluice.environment.updated", "env/prod", 2)))
		got, err = s.Environment(t.Context(), mainPipeline, "prod")
		must(t, "read again", err)
		check(t, "overwritten state", got, st)
		if got.Deploying != nil || got.Frozen {
			t.Errorf("overwrite kept old fields: deploying %v, frozen %v", got.Deploying, got.Frozen)
		}
		checkEvents(t, s, 0, newEvent("sluice.environment.frozen", "env/prod", 1), newEvent("sluice.environment.updated", "env/prod", 2))
	})

	t.Run("list by name", func(t *testing.T) {
		s := open(t)
		for _, name := range []string{"staging", "dev", "prod"} {
			st := full()
			st.Name = name
			must(t, "save", s.SaveEnvironment(t.Context(), st))
		}
		list, err := s.ListEnvironments(t.Context(), mainPipeline)
		must(t, "list", err)
		var names []string
		for _, st := range list {
			names = append(names, st.Name)
		}
		check(t, "names", names, []string{"dev", "prod", "staging"})
		want := full()
		want.Name = "prod"
		check(t, "listed state", list[1], *want)
	})
}
