package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// TestStopSeenFirstAsARejectedApproval: a stop recorded by a process without an engine rejects
// the waiting approval in the same write, and the approval's poll can see that rejection before
// the engine notices the stop (here it looks for stops only once an hour). The action, the
// execution and their events must still say Stopped, not Rejected.
func TestStopSeenFirstAsARejectedApproval(t *testing.T) {
	f := newFixture(t, approvalRoute("1h"))
	f.leasePoll = time.Hour
	f.start()
	ex := f.run()
	f.waitApproval()
	if _, err := engine.Stop(context.Background(), f.db, ex.ID, "dave", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	end := f.wait(ex.ID)
	if end.Status != sluice.StatusStopped || end.Error != "stopped by dave" {
		t.Errorf("execution %s %q, want Stopped by dave", end.Status, end.Error)
	}
	// The store says Stopped at once; the driver ends the waiting action when it sees the stop's
	// effects. Wait for that end to be told.
	approval := ex.ID + "/dev/Approval"
	var events []sluice.Event
	eventually(t, "the approval action's end to be told", func() bool {
		var err error
		events, err = f.db.ListEvents(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if ev.Subject == approval && ev.Type != sluice.EventActionStarted {
				return true
			}
		}
		return false
	})
	if a := f.action(ex.ID, "dev", "Approval"); a.Status != sluice.StatusStopped {
		t.Errorf("the approval action is %s, want Stopped", a.Status)
	}
	var stoppedAction bool
	for _, ev := range events {
		switch ev.Type {
		case sluice.EventActionStopped:
			stoppedAction = stoppedAction || ev.Subject == approval
		case sluice.EventActionRejected, sluice.EventStageRejected, sluice.EventExecutionRejected, sluice.EventExecutionFailed:
			t.Errorf("a stopped execution emitted %s (%s)", ev.Type, ev.Subject)
		}
	}
	if !stoppedAction {
		t.Error("no sluice.action.stopped for the approval")
	}
}

// TestStopAndDeploymentEventsSayWhich: the stop's event names the execution's pipeline and
// revision, and a deployment's start event carries the number its end carries, as an
// approval's request carries the approval's, though each is stored in the write that numbers it.
func TestStopAndDeploymentEventsSayWhich(t *testing.T) {
	f := newFixture(t, routeHead+`
environments:
  - name: dev
  - name: prod
    approval: {required: true, timeout: 1h}
`)
	f.start()
	ex := f.run()
	eventually(t, "an approval waiting in prod, after dev's deployment", func() bool {
		list, err := f.db.ListApprovals(context.Background(), ex.Pipeline, "prod", true)
		return err == nil && len(list) > 0
	})
	if _, err := f.engine.Stop(context.Background(), ex.ID, "dave"); err != nil {
		t.Fatal(err)
	}
	f.wait(ex.ID)
	events, err := f.db.ListEvents(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	started, ended := map[int64]bool{}, map[int64]bool{}
	var stopped *sluice.ExecutionEvent
	var requested []int64
	for _, ev := range events {
		data, err := ev.DecodeData()
		if err != nil {
			t.Fatal(err)
		}
		switch d := data.(type) {
		case *sluice.Deployment:
			if ev.Type == sluice.EventDeploymentStarted {
				started[d.ID] = true
			} else {
				ended[d.ID] = true
			}
		case *sluice.ExecutionEvent:
			if ev.Type == sluice.EventExecutionStopped {
				stopped = d
			}
		case *sluice.Approval:
			if ev.Type == sluice.EventApprovalRequested {
				requested = append(requested, d.ID)
			}
		}
	}
	approvals, err := f.db.ListApprovals(context.Background(), ex.Pipeline, "prod", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(approvals) != 1 || len(requested) != 1 || requested[0] != approvals[0].ID {
		t.Errorf("approval requests told of %v; the store holds %+v", requested, approvals)
	}
	if len(ended) == 0 || started[0] || len(started) != len(ended) {
		t.Errorf("deployments started %v, ended %v; want each start numbered as its end", started, ended)
	}
	for id := range ended {
		if !started[id] {
			t.Errorf("deployment %d ended without a start event of that number", id)
		}
	}
	if stopped == nil || stopped.Pipeline != ex.Pipeline || stopped.Revision != ex.Revision || stopped.By != "dave" {
		t.Errorf("the stop's event %+v; want execution %s of %s at %s, by dave", stopped, ex.ID, ex.Pipeline, ex.Revision)
	}
}
