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

// testEventCursors is the consumer's side of the events: a consumer tails them in pages,
// saves its cursor after each page it handled, stops (as a restart would), and goes on from its
// cursor, so it handles every event once: none lost, none twice.
func testEventCursors(t *testing.T, open opener) {
	t.Run("a consumer that restarts goes on where it stopped", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			must(t, "append", s.AppendEvents(t.Context(), newEvent("sluice.paged", fmt.Sprint(i), i)))
		}
		handled := map[string]int{}
		var order []string
		// consume reads pages of 2 after the consumer's cursor until it has read max pages or
		// there is nothing more, saving the cursor after each page.
		consume := func(consumer string, maxPages int) {
			t.Helper()
			after, err := s.EventCursor(t.Context(), consumer)
			must(t, "read cursor", err)
			for range maxPages {
				page, err := s.ListEvents(t.Context(), after, 2)
				must(t, "page", err)
				if len(page) == 0 {
					return
				}
				for _, ev := range page {
					handled[ev.ID]++
					order = append(order, ev.Subject)
				}
				after = page[len(page)-1].Seq
				must(t, "save cursor", s.SaveEventCursor(t.Context(), consumer, after))
			}
		}
		if got, err := s.EventCursor(t.Context(), "notify/test"); err != nil || got != 0 {
			t.Fatalf("a new consumer's cursor = %d, %v; want 0 (from the start)", got, err)
		}
		consume("notify/test", 1) // reads 2, then "restarts"
		// Events stored while the consumer is down must reach it when it is back.
		for i := 5; i < 8; i++ {
			must(t, "append while down", s.AppendEvents(t.Context(), newEvent("sluice.paged", fmt.Sprint(i), i)))
		}
		consume("notify/test", 100)
		all := allEvents(t, s)
		if len(handled) != len(all) {
			t.Errorf("handled %d distinct events of %d: %v", len(handled), len(all), order)
		}
		for id, n := range handled {
			if n != 1 {
				t.Errorf("event %s handled %d times, want once", id, n)
			}
		}
		want := []string{"0", "1", "2", "3", "4", "5", "6", "7"}
		check(t, "order handled", order, want)
		last, err := s.EventCursor(t.Context(), "notify/test")
		must(t, "read cursor", err)
		if last != all[len(all)-1].Seq {
			t.Errorf("cursor = %d after reading everything, want the last Seq %d", last, all[len(all)-1].Seq)
		}
	})

	t.Run("cursors are per consumer and never go back", func(t *testing.T) {
		s := open(t)
		must(t, "save a", s.SaveEventCursor(t.Context(), "a", 7))
		must(t, "save a again", s.SaveEventCursor(t.Context(), "a", 7))
		if got, err := s.EventCursor(t.Context(), "b"); err != nil || got != 0 {
			t.Errorf("b's cursor = %d, %v; want 0: a's cursor is a's", got, err)
		}
		wantCode(t, "move a back", s.SaveEventCursor(t.Context(), "a", 3), sluice.ECONFLICT)
		if got, err := s.EventCursor(t.Context(), "a"); err != nil || got != 7 {
			t.Errorf("a's cursor = %d, %v after a refused move back; want 7", got, err)
		}
		wantCode(t, "no name", s.SaveEventCursor(t.Context(), "", 1), sluice.EINVALID)
		wantCode(t, "negative", s.SaveEventCursor(t.Context(), "a", -1), sluice.EINVALID)
		_, err := s.EventCursor(t.Context(), "")
		wantCode(t, "read with no name", err, sluice.EINVALID)
	})
}
