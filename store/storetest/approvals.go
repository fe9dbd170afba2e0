package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func newApproval(env string) *sluice.Approval {
	return &sluice.Approval{
		ExecutionID:     "ex-1",
		Pipeline:        mainPipeline,
		Environment:     env,
		ChangeSetDigest: "sha256:2222",
		Approvers:       []string{"alice", "bob@example.com"},
		Status:          sluice.StatusWaiting,
		RequestedAt:     t0,
		ExpiresAt:       at(168 * time.Hour),
	}
}

func testApprovals(t *testing.T, open opener) {
	t.Run("round trip", func(t *testing.T) {
		s := open(t)
		a := newApproval("prod")
		var numbered *sluice.Approval
		must(t, "create", s.CreateApproval(t.Context(), a, func(n *sluice.Approval) []sluice.Event {
			numbered = n
			return []sluice.Event{newEvent("sluice.approval.requested", "env/prod", 1)}
		}))
		if a.ID <= 0 {
			t.Errorf("ID = %d after create, want > 0", a.ID)
		}
		// The request's event is built once the approval is numbered, and stored with it.
		if numbered == nil || numbered.ID != a.ID || numbered.Status != sluice.StatusWaiting {
			t.Errorf("the events were built from %+v; want approval %d, Waiting", numbered, a.ID)
		}
		got, err := s.Approval(t.Context(), a.ID)
		must(t, "read", err)
		check(t, "approval", got, a)
		checkEvents(t, s, 0, newEvent("sluice.approval.requested", "env/prod", 1))

		b := newApproval("prod")
		must(t, "create another", s.CreateApproval(t.Context(), b, nil))
		if b.ID == a.ID {
			t.Errorf("two approvals got the same ID %d", a.ID)
		}
	})

	decisions := []struct {
		name     string
		decision func(a *sluice.Approval)
	}{
		{"approved", func(a *sluice.Approval) {
			a.Status, a.DecidedBy, a.DecidedAt, a.Comment = sluice.StatusSucceeded, "alice", at(time.Hour), "looks good ✓"
		}},
		{"rejected", func(a *sluice.Approval) {
			a.Status, a.DecidedBy, a.DecidedAt, a.Comment = sluice.StatusRejected, "bob@example.com", at(2*time.Hour), "not on a Friday"
		}},
		{"expired", func(a *sluice.Approval) {
			a.Status, a.DecidedAt, a.Expired = sluice.StatusRejected, at(168*time.Hour), true
		}},
	}
	for _, d := range decisions {
		t.Run("decide "+d.name, func(t *testing.T) {
			s := open(t)
			a := newApproval("prod")
			must(t, "create", s.CreateApproval(t.Context(), a, nil))
			before := lastSeq(t, s)
			d.decision(a)
			must(t, "decide", s.DecideApproval(t.Context(), a, newEvent("sluice.approval.decided", "env/prod", 1)))
			got, err := s.Approval(t.Context(), a.ID)
			must(t, "read", err)
			check(t, "decided approval", got, a)

			second := *got
			second.Status, second.DecidedBy, second.DecidedAt, second.Comment, second.Expired = sluice.StatusSucceeded, "mallory", at(3*time.Hour), "me too", false
			err = s.DecideApproval(t.Context(), &second, newEvent("sluice.approval.decided", "env/prod", 2))
			wantCode(t, "second decision", err, sluice.ECONFLICT)
			got, err = s.Approval(t.Context(), a.ID)
			must(t, "read after conflict", err)
			check(t, "approval after the second decision", got, a)
			checkEvents(t, s, before, newEvent("sluice.approval.decided", "env/prod", 1))
		})
	}

	t.Run("concurrent decisions: exactly one wins", func(t *testing.T) {
		s := open(t)
		a := newApproval("prod")
		must(t, "create", s.CreateApproval(t.Context(), a, nil))
		before := lastSeq(t, s)
		const deciders = 8
		results := make([]error, deciders)
		var wg sync.WaitGroup
		for i := range deciders {
			wg.Go(func() {
				d := *a
				d.Status, d.DecidedBy, d.DecidedAt = sluice.StatusSucceeded, fmt.Sprintf("person-%d", i), at(time.Duration(i)*time.Second)
				if i%2 == 1 {
					d.Status = sluice.StatusRejected
				}
				results[i] = s.DecideApproval(t.Context(), &d, newEvent("sluice.approval.decided", d.DecidedBy, i))
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range results {
			switch sluice.ErrorCode(err) {
			case "":
				if winner >= 0 {
					t.Errorf("person-%d and person-%d both won", winner, i)
				}
				winner = i
			case sluice.ECONFLICT:
			default:
				t.Errorf("person-%d: %v, want success or %s", i, err, sluice.ECONFLICT)
			}
		}
		if winner < 0 {
			t.Fatal("nobody won")
		}
		got, err := s.Approval(t.Context(), a.ID)
		must(t, "read", err)
		if want := fmt.Sprintf("person-%d", winner); got.DecidedBy != want {
			t.Errorf("DecidedBy = %q, want the winner %q", got.DecidedBy, want)
		}
		evs, err := s.ListEvents(t.Context(), before, 0)
		must(t, "events", err)
		if len(evs) != 1 || evs[0].Subject != got.DecidedBy {
			t.Errorf("events after the decisions: %+v, want only the winner's", evs)
		}
	})

	t.Run("missing is not found", func(t *testing.T) {
		s := open(t)
		a := newApproval("prod")
		must(t, "create", s.CreateApproval(t.Context(), a, nil))
		_, err := s.Approval(t.Context(), a.ID+100)
		wantCode(t, "Approval", err, sluice.ENOTFOUND)
		missing := *a
		missing.ID, missing.Status, missing.DecidedBy = a.ID+100, sluice.StatusSucceeded, "alice"
		wantCode(t, "DecideApproval", s.DecideApproval(t.Context(), &missing), sluice.ENOTFOUND)
	})

	t.Run("list newest first with filters", func(t *testing.T) {
		s := open(t)
		var created []*sluice.Approval
		for _, env := range []string{"dev", "prod", "prod", "staging", "prod"} {
			a := newApproval(env)
			must(t, "create", s.CreateApproval(t.Context(), a, nil))
			created = append(created, a)
		}
		decided := created[2]
		decided.Status, decided.DecidedBy, decided.DecidedAt = sluice.StatusSucceeded, "alice", at(time.Hour)
		must(t, "decide", s.DecideApproval(t.Context(), decided))
		id := func(i int) int64 { return created[i].ID }
		cases := []struct {
			name    string
			env     string
			waiting bool
			want    []int64
		}{
			{"all", "", false, []int64{id(4), id(3), id(2), id(1), id(0)}},
			{"all waiting", "", true, []int64{id(4), id(3), id(1), id(0)}},
			{"prod", "prod", false, []int64{id(4), id(2), id(1)}},
			{"prod waiting", "prod", true, []int64{id(4), id(1)}},
			{"unknown environment", "qa", false, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				list, err := s.ListApprovals(t.Context(), mainPipeline, c.env, c.waiting)
				must(t, "list", err)
				var got []int64
				for _, a := range list {
					got = append(got, a.ID)
				}
				check(t, "IDs", got, c.want)
			})
		}
		list, err := s.ListApprovals(t.Context(), mainPipeline, "prod", false)
		must(t, "list", err)
		check(t, "listed decided approval", list[1], *decided)
	})
}
