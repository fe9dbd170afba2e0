package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// routeWithCheck is a route whose one check leaves a trace named mark.
func routeWithCheck(mark string) string {
	return routeHead + `
checks:
  - name: mark
    run: "touch @OUT@/` + mark + `"
` + devOnly
}

// The route of an execution is the route file as the revision holds it: edits in the working
// tree that are not committed do not change what runs, and an older revision runs the route it
// was committed with.
func TestRouteIsReadAtTheRevision(t *testing.T) {
	f := newFixture(t, routeWithCheck("first"))
	first := f.git("rev-parse", "HEAD")
	f.writeRoute(routeWithCheck("second"))
	f.commit("second route")
	f.writeRoute(routeWithCheck("working-tree"))
	f.start()

	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	if exists(filepath.Join(f.out, "working-tree")) || !exists(filepath.Join(f.out, "second")) {
		t.Error("the head's run did not run the committed route's check (second) alone; the working tree's copy ran")
	}
	if !strings.Contains(ex.Route, "/second") {
		t.Errorf("the execution recorded the route\n%s\nwant the committed one", ex.Route)
	}

	old, err := f.engine.Run(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if ex := f.wait(old.ID); ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	if !exists(filepath.Join(f.out, "first")) || exists(filepath.Join(f.out, "working-tree")) {
		t.Error("a run of the first commit did not run the route the first commit holds")
	}
}

// A route file the commit does not hold (never committed) runs as it is here.
func TestUncommittedRouteRunsAsItIs(t *testing.T) {
	f := newFixture(t, routeWithCheck("committed"))
	f.git("rm", "-q", "--cached", "sluice.yaml")
	f.git("commit", "-q", "-m", "stop tracking the route")
	f.writeRoute(routeWithCheck("uncommitted"))
	f.start()
	ex := f.wait(f.run().ID)
	if ex.Status != sluice.StatusSucceeded {
		t.Fatalf("status %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	if !exists(filepath.Join(f.out, "uncommitted")) {
		t.Error("the route file as it is here did not run")
	}
}

// A committed route with errors fails the run with diagnostics that name the revision, even
// when the working tree's copy is fixed.
func TestBrokenCommittedRoute(t *testing.T) {
	f := newFixture(t, routeWithCheck("ok"))
	f.writeRoute(strings.Replace(routeWithCheck("ok"), "version: 1", "version: 9", 1))
	f.commit("break the route")
	sha := f.git("rev-parse", "--short=7", "HEAD")
	f.writeRoute(routeWithCheck("fixed-here"))
	f.start()
	_, err := f.engine.Run(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "sluice.yaml@"+sha) || sluice.ErrorCode(err) != sluice.EINVALID {
		t.Fatalf("Run = %v; want an invalid-route error naming sluice.yaml@%s", err, sha)
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t, routeWithCheck("x"))
	f.git("branch", "other")
	f.commit("second")
	f.start()
	head, err := f.engine.Head(context.Background())
	if want := f.git("rev-parse", "main"); err != nil || head != want {
		t.Errorf("Head = %q, %v; want main's head %s", head, err, want)
	}
	f.writeRoute(strings.Replace(routeWithCheck("x"), "branch: main", "branch: other", 1))
	head, err = f.engine.Head(context.Background())
	if want := f.git("rev-parse", "other"); err != nil || head != want {
		t.Errorf("Head = %q, %v; want other's head %s once source.branch names it", head, err, want)
	}
	f.writeRoute(strings.Replace(routeWithCheck("x"), "branch: main", "branch: nope", 1))
	if _, err := f.engine.Head(context.Background()); sluice.ErrorCode(err) != sluice.ENOTFOUND || !strings.Contains(err.Error(), `branch "nope" not found`) {
		t.Errorf("Head of a missing branch: %v, want ENOTFOUND naming it", err)
	}
}
