package engine_test

import (
	"context"
	"errors"
	"fmt"
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

// TestEnvironmentsKeepTheirLiveRevisionsRoute: restore at start, rollback and status use the
// route as the live revision holds it, not the working tree's route file: an edit that no
// execution ran yet (here, where dev listens) does not move what serves, and a route file
// broken in the working tree stops none of them, nor a freeze.
func TestEnvironmentsKeepTheirLiveRevisionsRoute(t *testing.T) {
	committed := routeHead + `
environments:
  - name: dev
    listen: 127.0.0.1:18081
`
	f := newFixture(t, committed)
	f.start()
	for i := range 2 {
		f.git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("release %d", i+1))
		if ex := f.wait(f.run().ID); ex.Status != sluice.StatusSucceeded {
			t.Fatalf("release %d: %s (%s)", i+1, ex.Status, ex.Error)
		}
	}
	f.engine.Close()
	f.db.Close()
	listens := func(from int) []string {
		f.provider.mu.Lock()
		defer f.provider.mu.Unlock()
		var out []string
		for _, target := range f.provider.targets[from:] {
			if target.Listen != "" { // status asks without saying where it listens
				out = append(out, target.Listen)
			}
		}
		return out
	}
	seen := func() int {
		f.provider.mu.Lock()
		defer f.provider.mu.Unlock()
		return len(f.provider.targets)
	}

	for _, tt := range []struct{ name, workingTree string }{
		{"an edit not committed", strings.Replace(committed, "127.0.0.1:18081", "127.0.0.1:18099", 1)},
		{"a broken file", "version: 1\nname: [\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.writeRoute(tt.workingTree)
			from := seen()
			e := f.start() // fails the test if Start returns an error
			if _, err := e.Rollback(context.Background(), "", "dev", "ann", "slow"); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			for _, frozen := range []bool{true, false} {
				if err := e.Freeze(context.Background(), "", "dev", frozen, "incident"); err != nil {
					t.Errorf("freeze %v: %v", frozen, err)
				}
			}
			st, err := e.Status(context.Background(), "")
			if err != nil || len(st.Environments) != 1 || st.Environments[0].Name != "dev" || st.Environments[0].Live == "" {
				t.Errorf("status: %+v, %v; want dev with its live version", st, err)
			}
			got := listens(from)
			if len(got) < 2 {
				t.Fatalf("the provider was asked %d times; want a restore and a rollback", len(got))
			}
			for _, listen := range got {
				if listen != "127.0.0.1:18081" {
					t.Errorf("the provider was told dev listens on %q; the live revision's route says 127.0.0.1:18081 (all: %v)", listen, got)
					break
				}
			}
			e.Close()
			f.db.Close()
		})
	}
}
