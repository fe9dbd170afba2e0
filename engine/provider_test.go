package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/spec"
)

// zoneTarget is the configuration of the test target "zoned", as its decoder reads it.
type zoneTarget struct{ Zone string }

// A target kind the spec does not know until it is registered, as cmd wiring registers aws.
func init() {
	spec.RegisterTarget(spec.TargetKind{Name: "zoned", Keys: []string{"zone"}, Decode: func(b *spec.TargetBlock) any {
		zone, ok := b.String("zone")
		if !ok {
			b.Missing("zone", "write zone: NAME")
		}
		return zoneTarget{Zone: zone}
	}})
}

// zonedRoute deploys dev to the zoned target, behind an approval.
const zonedRoute = routeHead + `
environments:
  - name: dev
    target:
      zoned: {zone: z1}
    approval: {required: true, timeout: 1h}
`

// newZoned is a fixture whose provider is registered as "zoned" and prepares its own kind of
// change set (a list of resources, as a CloudFormation change set has), not the local diff.
func newZoned(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, zonedRoute)
	f.target = "zoned"
	f.provider.PrepareFn = func(_ context.Context, env deploy.Environment, live *sluice.Version, to sluice.Version) (*sluice.ChangeSet, error) {
		cs := &sluice.ChangeSet{Environment: env.Name, From: live, To: to, Strategy: to.Strategy}
		if live == nil || live.Revision != to.Revision {
			cs.Changes = []sluice.Change{{Field: "resource.Function", From: "", To: "Modify " + to.Revision, Replaces: true}}
		}
		deploy.Seal(cs)
		return cs, nil
	}
	f.start()
	return f
}

func TestProviderPreparesTheChangeSetThatIsApprovedAndApplied(t *testing.T) {
	f := newZoned(t)
	ex := f.run()
	f.waitApproval()
	waiting := f.waitingChangeSet("dev")
	if got := f.provider.calledWith(); !slices.Equal(got, []string{"prepare dev D1"}) {
		t.Fatalf("calls before the approval = %v, want one prepare", got)
	}
	// The change set shown and bound to the approval is the provider's own.
	b, err := os.ReadFile(filepath.Join(f.engine.LogDir(ex.ID), engine.LogName("dev", "CreateChangeSet")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "resource.Function") || !strings.Contains(string(b), waiting) {
		t.Errorf("CreateChangeSet log does not show the provider's change set %s:\n%s", waiting, b)
	}
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if ex = f.wait(ex.ID); ex.Status != sluice.StatusSucceeded {
		t.Fatalf("execution %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	if got := f.provider.calledWith(); !slices.Equal(got, []string{"prepare dev D1", "apply dev D1"}) {
		t.Fatalf("calls = %v, want prepare then apply of the same change set", got)
	}
	f.provider.mu.Lock()
	req, targets := f.provider.deploys[0], slices.Clone(f.provider.targets)
	f.provider.mu.Unlock()
	if req.ChangeSet.Digest != waiting || req.ChangeSet.Changes[0].Field != "resource.Function" {
		t.Errorf("applied %+v, want the approved change set %s", req.ChangeSet, waiting)
	}
	// Every call (address, prepare, apply) names the environment with its decoded target block.
	for _, env := range targets {
		if env.Name != "dev" || env.Config != (zoneTarget{Zone: "z1"}) {
			t.Errorf("a call named %#v, want dev with the decoded target block", env)
		}
	}
	if len(targets) < 3 {
		t.Errorf("%d calls named the environment, want at least address, prepare and apply", len(targets))
	}

	// The same revision again: the provider finds nothing to change, so there is nothing to
	// approve or apply, and the empty change set is let go.
	ex = f.run()
	if ex = f.wait(ex.ID); ex.Status != sluice.StatusSucceeded {
		t.Fatalf("second execution %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	want := []string{"prepare dev D1", "apply dev D1", "prepare dev D2", "discard dev D2"}
	if got := f.provider.calledWith(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if list, _ := f.db.ListApprovals(context.Background(), "t@main", "dev", false); len(list) != 1 {
		t.Errorf("%d approvals asked, want 1: an empty change set needs none", len(list))
	}
}

func TestProviderDiscardsWhatIsNotApplied(t *testing.T) {
	tests := []struct {
		name   string
		act    func(t *testing.T, f *fixture, ex *sluice.Execution)
		status sluice.Status
	}{
		{
			name: "rejected", status: sluice.StatusRejected,
			act: func(t *testing.T, f *fixture, _ *sluice.Execution) {
				if _, err := f.decide("dev", false, "alice", "no"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "stopped", status: sluice.StatusStopped,
			act: func(t *testing.T, f *fixture, ex *sluice.Execution) {
				if _, err := f.engine.Stop(context.Background(), ex.ID, "alice"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "what runs changed", status: sluice.StatusFailed,
			act: func(t *testing.T, f *fixture, _ *sluice.Execution) { f.approveAfterDevMoved() },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newZoned(t)
			ex := f.run()
			f.waitApproval()
			tc.act(t, f, ex)
			if ex = f.wait(ex.ID); ex.Status != tc.status {
				t.Fatalf("execution %s (%s), want %s", ex.Status, ex.Error, tc.status)
			}
			eventually(t, "the change set to be discarded", func() bool { return len(f.provider.calledWith()) >= 2 })
			if got := f.provider.calledWith(); !slices.Equal(got, []string{"prepare dev D1", "discard dev D1"}) {
				t.Fatalf("calls = %v, want the prepared change set discarded and nothing applied", got)
			}
		})
	}
}

func TestRetryPreparesTheDiscardedChangeSetAgain(t *testing.T) {
	f := newZoned(t)
	ex := f.run()
	f.waitApproval()
	if _, err := f.decide("dev", false, "alice", "not now"); err != nil {
		t.Fatal(err)
	}
	if ex = f.wait(ex.ID); ex.Status != sluice.StatusRejected {
		t.Fatalf("execution %s (%s), want Rejected", ex.Status, ex.Error)
	}
	if _, err := f.engine.Retry(context.Background(), ex.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new approval", func() bool {
		list, err := f.db.ListApprovals(context.Background(), "t@main", "dev", true)
		return err == nil && len(list) == 1
	})
	if _, err := f.decide("dev", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if ex = f.wait(ex.ID); ex.Status != sluice.StatusSucceeded {
		t.Fatalf("retried execution %s (%s), want Succeeded", ex.Status, ex.Error)
	}
	// The same content gets the same digest, prepared anew after the discard.
	want := []string{"prepare dev D1", "discard dev D1", "prepare dev D1", "apply dev D1"}
	if got := f.provider.calledWith(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
}
