package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// testOutbox is the notifier's side: it fills the outbox from events with its cursor, claims
// what is due, records each attempt, and lists what happened. The outbox must neither lose a
// notice nor hold one twice, and two senders must never hold one delivery at once.
func testOutbox(t *testing.T, open opener) {
	delivery := func(channel string, ev sluice.Event, due time.Time) sluice.Delivery {
		return sluice.Delivery{Channel: channel, EventID: ev.ID, EventSeq: ev.Seq, EventType: ev.Type, Subject: ev.Subject, NextAttempt: due, CreatedAt: at(0)}
	}

	t.Run("starting skips the history once", func(t *testing.T) {
		s := open(t)
		first, err := s.StartOutbox(t.Context(), "notify")
		must(t, "start empty", err)
		if first != 0 {
			t.Errorf("a new outbox of an empty store starts at %d, want 0", first)
		}
		for i := range 3 {
			must(t, "append", s.AppendEvents(t.Context(), newEvent("sluice.paged", fmt.Sprint(i), i)))
		}
		again, err := s.StartOutbox(t.Context(), "notify")
		must(t, "start again", err)
		if again != 0 {
			t.Errorf("a started outbox moved its cursor to %d on a second start; it must stay at 0 so the events stored since are sent", again)
		}
		all := allEvents(t, s)
		other, err := s.StartOutbox(t.Context(), "notify/other")
		must(t, "start other", err)
		if other != all[len(all)-1].Seq {
			t.Errorf("a new outbox over a history starts at %d, want the newest event's Seq %d", other, all[len(all)-1].Seq)
		}
		_, err = s.StartOutbox(t.Context(), "")
		wantCode(t, "start with no name", err, sluice.EINVALID)
	})

	t.Run("filling is one step with the cursor and adds each notice once", func(t *testing.T) {
		s := open(t)
		for i := range 3 {
			must(t, "append", s.AppendEvents(t.Context(), newEvent("sluice.paged", fmt.Sprint(i), i)))
		}
		evs := allEvents(t, s)
		batch := []sluice.Delivery{delivery("mail", evs[0], at(time.Second)), delivery("hook", evs[0], at(time.Second)), delivery("mail", evs[1], at(2*time.Second))}
		must(t, "fill", s.FillOutbox(t.Context(), "notify", evs[1].Seq, batch))
		for _, d := range batch {
			if d.ID == 0 || d.Status != sluice.DeliveryPending {
				t.Errorf("filled delivery %+v: want an ID and status pending", d)
			}
		}
		cursor, err := s.EventCursor(t.Context(), "notify")
		must(t, "cursor", err)
		if cursor != evs[1].Seq {
			t.Errorf("cursor after filling = %d, want %d", cursor, evs[1].Seq)
		}
		// A notifier killed after filling but believing it had not fills the same events again.
		repeat := []sluice.Delivery{delivery("mail", evs[1], at(5*time.Second)), delivery("mail", evs[2], at(3*time.Second))}
		must(t, "fill again", s.FillOutbox(t.Context(), "notify", evs[2].Seq, repeat))
		if repeat[0].ID != batch[2].ID {
			t.Errorf("the repeated delivery got ID %d, want the stored one's %d", repeat[0].ID, batch[2].ID)
		}
		all, err := s.ListDeliveries(t.Context(), 0)
		must(t, "list", err)
		if len(all) != 4 {
			t.Fatalf("outbox holds %d deliveries, want 4 (one per event and channel): %+v", len(all), all)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Errorf("deliveries not newest first: %d after %d", all[i].ID, all[i-1].ID)
			}
		}
		want := batch[0]
		want.Status, want.Attempts = sluice.DeliveryPending, 0
		check(t, "oldest delivery", all[3], want)
		page, err := s.ListDeliveries(t.Context(), 2)
		must(t, "page", err)
		if len(page) != 2 || page[0].ID != all[0].ID {
			t.Errorf("ListDeliveries(2) = %+v, want the two newest", page)
		}

		wantCode(t, "fill behind the cursor", s.FillOutbox(t.Context(), "notify", evs[0].Seq, []sluice.Delivery{delivery("late", evs[0], at(0))}), sluice.ECONFLICT)
		if after, _ := s.ListDeliveries(t.Context(), 0); len(after) != 4 {
			t.Errorf("a refused fill stored deliveries: %d rows", len(after))
		}
		wantCode(t, "fill with no channel", s.FillOutbox(t.Context(), "notify", evs[2].Seq, []sluice.Delivery{delivery("", evs[0], at(0))}), sluice.EINVALID)
	})

	t.Run("claims are due, exclusive and end with the outcome", func(t *testing.T) {
		s := open(t)
		for i := range 3 {
			must(t, "append", s.AppendEvents(t.Context(), newEvent("sluice.paged", fmt.Sprint(i), i)))
		}
		evs := allEvents(t, s)
		batch := []sluice.Delivery{delivery("mail", evs[0], at(time.Second)), delivery("mail", evs[1], at(time.Minute)), delivery("mail", evs[2], at(2*time.Second))}
		must(t, "fill", s.FillOutbox(t.Context(), "notify", evs[2].Seq, batch))

		now := at(10 * time.Second)
		got, err := s.ClaimDeliveries(t.Context(), "a", now, time.Minute, 10)
		must(t, "claim", err)
		if len(got) != 2 || got[0].ID != batch[0].ID || got[1].ID != batch[2].ID {
			t.Fatalf("claimed %+v, want the two due ones, first due first", got)
		}
		other, err := s.ClaimDeliveries(t.Context(), "b", now, time.Minute, 10)
		must(t, "claim by b", err)
		if len(other) != 0 {
			t.Errorf("b claimed %+v while a's claim stands", other)
		}

		d := got[0]
		d.Status, d.Attempts, d.Error, d.NextAttempt = sluice.DeliveryPending, 1, "connection refused", at(20*time.Second)
		must(t, "save a failure", s.SaveDelivery(t.Context(), &d))
		ok := got[1]
		ok.Status, ok.Attempts, ok.DeliveredAt = sluice.DeliveryDelivered, 1, at(11*time.Second)
		must(t, "save a success", s.SaveDelivery(t.Context(), &ok))
		if !ok.NextAttempt.IsZero() {
			t.Errorf("a delivered delivery keeps a next attempt %v", ok.NextAttempt)
		}

		// The failed one is due again at 20s, for anyone: saving ended a's claim.
		again, err := s.ClaimDeliveries(t.Context(), "b", at(25*time.Second), time.Minute, 10)
		must(t, "claim again", err)
		if len(again) != 1 || again[0].ID != d.ID {
			t.Fatalf("claimed %+v at 25s, want only the retried delivery %d", again, d.ID)
		}
		check(t, "retried delivery", again[0], d)
		// b dies holding it; after the claim expires another sender takes it.
		late, err := s.ClaimDeliveries(t.Context(), "c", at(25*time.Second+2*time.Minute), time.Minute, 1)
		must(t, "claim after expiry", err)
		if len(late) != 1 || late[0].ID != batch[0].ID {
			t.Errorf("claimed %+v after b's claim expired, want delivery %d (limit 1, oldest due first)", late, batch[0].ID)
		}
		gave := late[0]
		gave.Status, gave.Attempts, gave.Error, gave.GaveUpAt = sluice.DeliveryFailed, 9, "gave up after 24h: 503", at(time.Hour)
		must(t, "save giving up", s.SaveDelivery(t.Context(), &gave))
		all, err := s.ListDeliveries(t.Context(), 0)
		must(t, "list", err)
		for _, got := range all {
			if got.ID == gave.ID {
				check(t, "given up delivery", got, gave)
			}
		}
		if rest, _ := s.ClaimDeliveries(t.Context(), "c", at(24*time.Hour), time.Minute, 10); len(rest) != 1 || rest[0].ID != batch[1].ID {
			t.Errorf("claimed %+v at 24h, want only delivery %d: the others are done", rest, batch[1].ID)
		}

		missing := sluice.Delivery{ID: 999, Status: sluice.DeliveryDelivered}
		wantCode(t, "save missing", s.SaveDelivery(t.Context(), &missing), sluice.ENOTFOUND)
		_, err = s.ClaimDeliveries(t.Context(), "", now, time.Minute, 1)
		wantCode(t, "claim with no owner", err, sluice.EINVALID)
	})
}
