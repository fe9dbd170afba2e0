package api_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/api"
)

// TestTailEvents stores events through the API (freezing and unfreezing an environment), then
// tails them in pages as a consumer would: every event once, in order, with its Seq, and a
// page after the last one is empty and keeps the consumer's place.
func TestTailEvents(t *testing.T) {
	srv, token := newServer(t, nil)
	c := &api.Client{Base: srv.URL, Token: token}
	ctx := context.Background()
	var want []string
	for i := range 5 {
		op := "freeze"
		if i%2 == 1 {
			op = "unfreeze"
		}
		reason := fmt.Sprintf("step %d", i)
		if err := c.Freeze(ctx, "", "dev", op == "freeze", reason); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		want = append(want, op+" "+reason)
	}
	var got []string
	var seqs []int64
	var after int64
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("tailing does not end")
		}
		page, err := c.Events(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) > 2 {
			t.Fatalf("a page of %d events with limit 2", len(page.Events))
		}
		if len(page.Events) == 0 {
			if page.Next != after {
				t.Errorf("an empty page says next %d, want the asked %d", page.Next, after)
			}
			break
		}
		for _, ev := range page.Events {
			data, err := ev.DecodeData()
			if err != nil {
				t.Fatal(err)
			}
			env, ok := data.(*sluice.EnvironmentEvent)
			if !ok {
				t.Fatalf("event %s carries %T", ev.Type, data)
			}
			op := "freeze"
			if ev.Type == sluice.EventEnvironmentUnfrozen {
				op = "unfreeze"
			}
			got = append(got, op+" "+env.Reason)
			seqs = append(seqs, ev.Seq)
		}
		after = page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("tailed %q, want %q", got, want)
	}
	if !slices.IsSorted(seqs) || slices.Contains(seqs, 0) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Errorf("Seqs %v, want increasing and nonzero", seqs)
	}
}
