package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// TestOneBrokenEnvironmentDoesNotStopTheEngine: an environment whose live version cannot be
// restored at start is reported, and the engine starts, restores the others and can deploy to
// the broken one again, which clears the report.
func TestOneBrokenEnvironmentDoesNotStopTheEngine(t *testing.T) {
	f := newFixture(t, routeHead+`
environments:
  - name: dev
  - name: staging
`)
	f.start()
	if ex := f.wait(f.run().ID); ex.Status != sluice.StatusSucceeded {
		t.Fatalf("first execution %s (%s)", ex.Status, ex.Error)
	}
	f.engine.Close()
	f.db.Close()

	var restored []string
	f.provider.RestoreFn = func(env string) error {
		if env == "dev" {
			return errors.New("artifact sha256:0123 failed verification")
		}
		restored = append(restored, env)
		return nil
	}
	e := f.start() // fails the test if Start returns an error
	if len(restored) != 1 || restored[0] != "staging" {
		t.Fatalf("restored %v, want staging: one broken environment must not stop the others", restored)
	}
	problem := e.Problem("dev")
	if !strings.Contains(problem, "failed verification") || !strings.Contains(problem, "sluice run") {
		t.Errorf("dev's problem %q does not say what failed and what to do", problem)
	}
	if e.Problem("staging") != "" {
		t.Errorf("staging has a problem: %q", e.Problem("staging"))
	}
	views, err := e.Snapshots().Environments(context.Background(), []string{"dev"})
	if err != nil || len(views) != 1 || views[0].Problem != problem {
		t.Fatalf("status view %+v (%v) does not show dev's problem", views, err)
	}
	events, err := f.db.ListEvents(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || ev.Type == "sluice.environment.restore_failed" && ev.Subject == "env/dev"
	}
	if !found {
		t.Error("no environment.restore_failed event for dev")
	}

	// A new revision deploys to dev again, which fixes it.
	f.git("commit", "-q", "--allow-empty", "-m", "fix")
	if ex := f.wait(f.run().ID); ex.Status != sluice.StatusSucceeded {
		t.Fatalf("execution after the failed restore %s (%s)", ex.Status, ex.Error)
	}
	if p := e.Problem("dev"); p != "" {
		t.Errorf("dev still reports %q after a successful deployment", p)
	}
}
