// Package storetest is the contract every store.Store implementation runs: one suite, the same
// for SQLite and for Postgres, so the engine can rely on what it checks and nothing else.
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			db, err := sqlite.Open(filepath.Join(t.TempDir(), "state.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { db.Close() })
//			return db
//		})
//	}
//
// What it holds a store to, beyond store's documentation: every field of every type reads back
// as it was written, with times equal as instants (time.Equal; a store may return them in UTC)
// to the nanosecond, JSON data equal as values, and nil maps and slices the same as empty ones.
package storetest

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store"
)

// Run runs the contract suite: one subtest per interface, each case against a store of its own.
// open returns a new, empty store and closes it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Pipelines", func(t *testing.T) { testPipelines(t, open) })
	t.Run("Executions", func(t *testing.T) { testExecutions(t, open) })
	t.Run("Builds", func(t *testing.T) { testBuilds(t, open) })
	t.Run("Approvals", func(t *testing.T) { testApprovals(t, open) })
	t.Run("ChangeSets", func(t *testing.T) { testChangeSets(t, open) })
	t.Run("Deployments", func(t *testing.T) { testDeployments(t, open) })
	t.Run("Environments", func(t *testing.T) { testEnvironments(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("EventCursors", func(t *testing.T) { testEventCursors(t, open) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, open) })
	t.Run("Ownership", func(t *testing.T) { testOwnership(t, open) })
	t.Run("WebhookDeliveries", func(t *testing.T) { testWebhookDeliveries(t, open) })
}

// check fails the test when got differs from want (see difference).
func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := difference(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := sluice.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q (%v), want %q", what, got, err, code)
		return
	}
	var serr *sluice.Error
	if errors.As(err, &serr) && serr.Message == "" {
		t.Errorf("%s: a %s error needs a sentence for the user", what, code)
	}
}

// must fails the test now if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// allEvents returns every stored event, checking they come oldest first with increasing Seq.
func allEvents(t *testing.T, s store.Store) []sluice.Event {
	t.Helper()
	evs, err := s.ListEvents(t.Context(), 0, 0)
	must(t, "list events", err)
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("events out of order: seq %d after %d", evs[i].Seq, evs[i-1].Seq)
		}
	}
	return evs
}

// checkEvents checks that the events stored after seq after are want, in order. Seq is the
// store's to assign, so it is not compared.
func checkEvents(t *testing.T, s store.Store, after int64, want ...sluice.Event) {
	t.Helper()
	got, err := s.ListEvents(t.Context(), after, 0)
	must(t, "list events", err)
	if len(got) != len(want) {
		t.Errorf("events after %d: got %d, want %d:\n got  %+v\n want %+v", after, len(got), len(want), got, want)
		return
	}
	for i := range got {
		if got[i].Seq <= after || (i > 0 && got[i].Seq <= got[i-1].Seq) {
			t.Errorf("event %d (%s): seq %d does not increase", i, got[i].Type, got[i].Seq)
		}
		w := want[i]
		w.Seq = got[i].Seq
		check(t, "event "+string(w.Type), got[i], w)
	}
}

// lastSeq returns the Seq of the newest event, 0 if there is none.
func lastSeq(t *testing.T, s store.Store) int64 {
	t.Helper()
	evs := allEvents(t, s)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}
