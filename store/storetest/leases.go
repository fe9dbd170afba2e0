package storetest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testLeases(t *testing.T, open opener) {
	const key, ttl = "execution/ex-1", 30 * time.Second
	t.Run("one owner at a time until it expires", func(t *testing.T) {
		s := open(t)
		l, err := s.AcquireLease(t.Context(), key, "engine-a", "", t0, ttl)
		must(t, "acquire free", err)
		check(t, "acquired", *l, sluice.Lease{Key: key, Owner: "engine-a", AcquiredAt: t0, ExpiresAt: at(ttl)})
		stands, err := s.AcquireLease(t.Context(), key, "engine-b", "", at(ttl-time.Nanosecond), ttl)
		wantCode(t, "acquire held", err, sluice.ECONFLICT)
		if stands == nil || stands.Owner != "engine-a" {
			t.Errorf("a refused acquire returns the lease that stands, got %+v", stands)
		}
		l, err = s.AcquireLease(t.Context(), key, "engine-a", "", at(time.Second), ttl)
		must(t, "acquire again by its owner", err)
		check(t, "re-acquired keeps its start", *l, sluice.Lease{Key: key, Owner: "engine-a", AcquiredAt: t0, ExpiresAt: at(time.Second + ttl)})
		l, err = s.AcquireLease(t.Context(), key, "engine-b", "", at(time.Second+ttl), ttl)
		must(t, "acquire expired", err)
		check(t, "taken over", *l, sluice.Lease{Key: key, Owner: "engine-b", AcquiredAt: at(time.Second + ttl), ExpiresAt: at(time.Second + 2*ttl)})
		got, err := s.Lease(t.Context(), key)
		must(t, "read", err)
		check(t, "read back", *got, *l)
	})
	t.Run("replace takes it from an owner known gone", func(t *testing.T) {
		s := open(t)
		_, err := s.AcquireLease(t.Context(), key, "engine-a", "", t0, ttl)
		must(t, "acquire", err)
		_, err = s.AcquireLease(t.Context(), key, "engine-c", "engine-b", t0, ttl)
		wantCode(t, "replace names someone else", err, sluice.ECONFLICT)
		l, err := s.AcquireLease(t.Context(), key, "engine-c", "engine-a", t0, ttl)
		must(t, "replace", err)
		if l.Owner != "engine-c" {
			t.Errorf("owner = %q, want engine-c", l.Owner)
		}
	})
	t.Run("renew only what one holds", func(t *testing.T) {
		s := open(t)
		_, err := s.AcquireLease(t.Context(), key, "engine-a", "", t0, ttl)
		must(t, "acquire", err)
		must(t, "renew", s.RenewLease(t.Context(), key, "engine-a", at(10*time.Second), ttl))
		got, err := s.Lease(t.Context(), key)
		must(t, "read", err)
		check(t, "renewed until", got.ExpiresAt, at(10*time.Second+ttl))
		wantCode(t, "renew by another", s.RenewLease(t.Context(), key, "engine-b", at(11*time.Second), ttl), sluice.ECONFLICT)
		must(t, "renew after expiry, not taken", s.RenewLease(t.Context(), key, "engine-a", at(time.Hour), ttl))
		_, err = s.AcquireLease(t.Context(), key, "engine-b", "", at(2*time.Hour), ttl)
		must(t, "take expired", err)
		wantCode(t, "renew after it was taken", s.RenewLease(t.Context(), key, "engine-a", at(2*time.Hour), ttl), sluice.ECONFLICT)
	})
	t.Run("release", func(t *testing.T) {
		s := open(t)
		_, err := s.AcquireLease(t.Context(), key, "engine-a", "", t0, ttl)
		must(t, "acquire", err)
		must(t, "release by another does nothing", s.ReleaseLease(t.Context(), key, "engine-b"))
		_, err = s.Lease(t.Context(), key)
		must(t, "still held", err)
		must(t, "release", s.ReleaseLease(t.Context(), key, "engine-a"))
		must(t, "release twice", s.ReleaseLease(t.Context(), key, "engine-a"))
		_, err = s.Lease(t.Context(), key)
		wantCode(t, "read released", err, sluice.ENOTFOUND)
		wantCode(t, "renew released", s.RenewLease(t.Context(), key, "engine-a", t0, ttl), sluice.ECONFLICT)
		_, err = s.AcquireLease(t.Context(), key, "engine-b", "", t0, ttl)
		must(t, "acquire released", err)
	})
	t.Run("bad requests", func(t *testing.T) {
		s := open(t)
		for name, req := range map[string]struct {
			key, owner string
			ttl        time.Duration
		}{"no key": {"", "a", ttl}, "no owner": {key, "", ttl}, "no duration": {key, "a", 0}} {
			_, err := s.AcquireLease(t.Context(), req.key, req.owner, "", t0, req.ttl)
			wantCode(t, name, err, sluice.EINVALID)
		}
	})
	t.Run("concurrent acquirers: exactly one wins", func(t *testing.T) {
		s := open(t)
		const n = 8
		wins := make(chan string, n)
		for i := range n {
			go func() {
				owner := string(rune('a' + i))
				if _, err := s.AcquireLease(t.Context(), key, owner, "", t0, ttl); err == nil {
					wins <- owner
				} else {
					wins <- ""
				}
			}()
		}
		won := 0
		for range n {
			if <-wins != "" {
				won++
			}
		}
		if won != 1 {
			t.Errorf("%d acquirers won the same lease, want 1", won)
		}
	})
}
