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
