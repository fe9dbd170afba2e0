package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice"
)

func testEvents(t *testing.T, open opener) {
	t.Run("state changes and appends keep their order", func(t *testing.T) {
		s := open(t)
		ex, stages, actions := pending("ex-1")
		created := []sluice.Event{newEvent("sluice.execution.created", "ex-1", 1), newEvent("sluice.stage.pending", "ex-1/Source", 2)}
		must(t, "create", s.CreateExecution(t.Context(), ex, stages, actions, created...))
		must(t, "append", s.AppendEvents(t.Context(), newEvent("sluice.log", "ex-1", 3)))
		a := actions[0]
		a.Status = sluice.StatusInProgress
		must(t, "save action", s.SaveAction(t.Context(), &a, newEvent("sluice.action.started", "ex-1/Source/Checkout", 4)))
		must(t, "append nothing", s.AppendEvents(t.Context()))
		must(t, "append two", s.AppendEvents(t.Context(), newEvent("sluice.a", "x", 5), newEvent("sluice.b", "x", 6)))
		checkEvents(t, s, 0,
			newEvent("sluice.execution.created", "ex-1", 1), newEvent("sluice.stage.pending", "ex-1/Source", 2),
			newEvent("sluice.log", "ex-1", 3), newEvent("sluice.action.started", "ex-1/Source/Checkout", 4),
			newEvent("sluice.a", "x", 5), newEvent("sluice.b", "x", 6))
	})

	t.Run("empty attributes are filled in", func(t *testing.T) {
		s := open(t)
		bare := sluice.Event{Source: "sluice/hello-api@main", Type: "sluice.bare", Subject: "env/dev"}
		must(t, "append", s.AppendEvents(t.Context(), bare, bare))
		evs := allEvents(t, s)
		if len(evs) != 2 {
			t.Fatalf("got %d events, want 2", len(evs))
		}
		for _, ev := range evs {
			if ev.ID == "" || ev.SpecVersion != "1.0" || ev.DataContentType != "application/json" || ev.Time.IsZero() {
				t.Errorf("event not filled in: %+v", ev)
			}
			if ev.Source != bare.Source || ev.Type != bare.Type || ev.Subject != bare.Subject || len(ev.Data) != 0 {
				t.Errorf("event's given attributes changed: %+v", ev)
			}
		}
		if evs[0].ID == evs[1].ID {
			t.Errorf("two events got the same ID %q", evs[0].ID)
		}
		if _, err := json.Marshal(evs[0]); err != nil {
			t.Errorf("a stored event does not encode as JSON: %v", err)
		}
	})

	t.Run("paging", func(t *testing.T) {
		s := open(t)
		var want []sluice.Event
		for i := range 10 {
			ev := newEvent("sluice.paged", fmt.Sprint(i), i)
			must(t, "append", s.AppendEvents(t.Context(), ev))
			want = append(want, ev)
		}
		all := allEvents(t, s)
		var paged []sluice.Event
		var after int64
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			page, err := s.ListEvents(t.Context(), after, 3)
			must(t, "page", err)
			if len(page) > 3 {
				t.Fatalf("page of %d events with limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].Seq
		}
		check(t, "paged events", paged, all)
		for i := range want {
			want[i].Seq = all[i].Seq
		}
		check(t, "events", all, want)

		rest, err := s.ListEvents(t.Context(), all[6].Seq, 0)
		must(t, "rest", err)
		check(t, "events after the seventh", rest, all[7:])
		none, err := s.ListEvents(t.Context(), all[9].Seq, 0)
		must(t, "none", err)
		if len(none) != 0 {
			t.Errorf("events after the last: %+v", none)
		}
	})
}
